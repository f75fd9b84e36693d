#!/usr/bin/env python3
"""Prints every import cycle among kmon's modules and exits 1 if there is one.

Every import counts, those inside functions too: a cycle that only a lazy import
closes is still two modules that cannot be understood apart. Run it through
.ci/import_view.py (``.ci/import_view.py python3 .ci/import_cycles.py``), which lays
out kmon as it is installed so that grimp can see all of it.
"""

from __future__ import annotations

import sys

import grimp


def cycles(graph: grimp.ImportGraph, package: str = "kmon") -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {
        m: sorted(d for d in graph.find_modules_directly_imported_by(m) if d in modules)
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return sorted(found)


def main() -> int:
    graph = grimp.build_graph("kmon")
    found = cycles(graph)
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    modules = sum(1 for m in graph.modules if m.startswith("kmon"))
    print(f"{len(found)} import cycles among {modules} kmon modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
