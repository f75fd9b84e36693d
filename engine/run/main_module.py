"""A script's or a module's code, and the ``__main__`` it runs in, as :mod:`runpy`
gives them, for a caller that runs the code itself.

:func:`runpy.run_path` and :func:`runpy.run_module` run the code three frames down in
their own functions, and those frames stay under every line of the script.
TensorFlow captures the whole Python stack at every eager op it runs from Python (a
Keras fit runs two a step, an eager custom loop one an op), reading each frame's
line by walking its code's line table from the start to where the frame stands:
runpy's three frames cost such an op about 0.7 µs, 10% of a small op
(``benchmarks/stack_capture.py``). So kmon takes what runpy would set up from here,
and its target runs ``exec(code, namespace)`` in its own short frame.

What the script sees is what ``python script.py`` (or ``python -m module``) gives
it (``tests/engine/test_main_module.py`` compares the two, in a real interpreter): a
fresh module as ``sys.modules["__main__"]`` while the code runs, the old one back
after it; ``__name__``, ``__file__``, ``__cached__``, ``__doc__``, ``__loader__``,
``__package__``, ``__spec__`` and ``__builtins__`` (the module, not its dict) as
Python sets them for its main module; ``sys.argv[0]`` as the caller gives it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import io
import sys
import types
from collections.abc import Iterator
from importlib.machinery import ModuleSpec, SourceFileLoader

MAIN = "__main__"


def script_code(path: str) -> types.CodeType:
    """The code of the Python source file ``path``, as runpy compiles it: named by
    ``path`` as given, and without this module's ``from __future__`` flags
    (``dont_inherit``), so the script's annotations are what ``python`` makes them."""
    with io.open_code(path) as handle:
        source = handle.read()
    return compile(source, path, "exec", dont_inherit=True)


def module_code(name: str) -> tuple[types.CodeType, ModuleSpec]:
    """The code and spec of the module ``name`` (a package's ``__main__``), found as
    ``python -m name`` finds it: importing its parent packages first.

    Raises:
        ImportError: no such module, a package without ``__main__``, or a module
            without code (as runpy raises them).
    """
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations is not None:
        spec = importlib.util.find_spec(f"{name}.{MAIN}")
        if spec is None:
            raise ImportError(f"No module named {name}.{MAIN}; '{name}' is a package")
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name}")
    code = spec.loader.get_code(spec.name)  # type: ignore[attr-defined]
    if code is None:
        raise ImportError(f"No code object available for {name}")
    return code, spec


@contextlib.contextmanager
def main_namespace(path: str, spec: ModuleSpec | None = None) -> Iterator[dict]:
    """A fresh ``__main__`` module for the ``with`` body, its namespace yielded: for
    the script at ``path``, or the module ``spec`` found (its file ``path``).
    ``sys.modules["__main__"]`` is restored after it."""
    module = types.ModuleType(MAIN)
    namespace = module.__dict__
    namespace.update(
        __name__=MAIN,
        __file__=path,
        __cached__=spec.cached if spec is not None else None,
        __doc__=None,
        __loader__=spec.loader if spec is not None else SourceFileLoader(MAIN, path),
        __package__=spec.parent if spec is not None else None,
        __spec__=spec,
        __builtins__=builtins,
    )
    modules = sys.modules
    saved_module = modules.get(MAIN)
    modules[MAIN] = module
    try:
        yield namespace
    finally:
        if saved_module is not None:
            modules[MAIN] = saved_module
        else:
            modules.pop(MAIN, None)
