"""The documentation holds together: README stays a front door, every relative link
reaches a file (and heading) that exists, and the event log page names every event
type kmon writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from locations import ROOT

README_MAX_LINES = 250

#: ``[text](target)`` and ``![alt](target)``; a title after the target is allowed.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def relative_links(page: Path) -> list[str]:
    targets = _LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [target for target in targets if not _SCHEME.match(target)]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for a page's headings: lower case, punctuation
    dropped, spaces as hyphens, ``-1``, ``-2``... for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for heading in _HEADING.findall(prose(page.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken(page: Path, target: str) -> str | None:
    """Why ``target`` (a link on ``page``) leads nowhere, or None."""
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.exists():
        return "no such file"
    if path and ROOT.resolve() not in destination.parents:
        return "outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading #{anchor}"
    return None


def test_readme_stays_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move reference to docs/"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: page.name)
def test_every_relative_link_leads_somewhere(page):
    links = relative_links(page)
    problems = [f"{target}: {why}" for target in links if (why := broken(page, target))]
    assert not problems, f"{page.relative_to(ROOT)}: {problems}"


def test_every_docs_page_is_linked_from_the_readme():
    targets = relative_links(ROOT / "README.md")
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in targets}
    unlinked = [page.name for page in doc_pages()[1:] if page.resolve() not in linked]
    assert not unlinked


def test_the_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title\n[ok](#a-title) [gone](missing.md) `[code](nowhere.md)`\n")
    assert relative_links(page) == ["#a-title", "missing.md"]
    assert broken(page, "#a-title") is None
    assert broken(page, "#another") == "no heading #another"


def test_event_log_page_documents_every_event_type():
    from kmon.engine.events import EVENT_TYPES

    schema = (ROOT / "docs" / "event-log.md").read_text(encoding="utf-8")
    for name in EVENT_TYPES:
        assert f"| `{name}` |" in schema, name
