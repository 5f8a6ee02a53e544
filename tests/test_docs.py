"""docs/equations.md: every code reference points at a line that still holds what it names.

A code reference is written `` `src/acjax/FILE.py:LINE` `TEXT` `` (a space or a line break
between the two spans): TEXT must occur verbatim in line LINE (1-based) of that file, and every
`src/acjax/FILE.py:LINE` in the page must be part of such a reference. A paper reference
`paper:N` (or `paper:N-M`) must be a non-blank line of the paper's text file; that check is
skipped when the paper is not available (it lives in the shared folder, outside the
repository). Plain Python, no JAX.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "equations.md"
CODE_REF = re.compile(r"`(src/acjax/[\w/]+\.py):(\d+)`\s+`([^`]+)`")
ANY_CODE_LOC = re.compile(r"src/acjax/[\w/]+\.py:\d+")
PAPER_REF = re.compile(r"\bpaper:(\d+)(?:-(\d+))?")
PAPER_CANDIDATES = [
    Path(os.environ.get("ACJAX_PAPER", "/nonexistent")),
    ROOT / "shared" / "paper" / "acpo-paper.txt",
    ROOT.parent / "shared" / "paper" / "acpo-paper.txt",
]


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _code_refs() -> list[tuple[str, int, str]]:
    return [(f, int(n), text) for f, n, text in CODE_REF.findall(_doc())]


def test_doc_has_references():
    assert len(_code_refs()) >= 50, "docs/equations.md lost most of its code references"


def test_every_code_location_uses_the_checked_format():
    text = _doc()
    checked = {m.start(1) for m in CODE_REF.finditer(text)}
    loose = [m.group(0) for m in ANY_CODE_LOC.finditer(text) if m.start() not in checked]
    assert not loose, f"references not in the form `path:line` `text`: {loose}"


def test_code_references_point_at_their_text():
    stale = []
    for path, line, text in _code_refs():
        file = ROOT / path
        if not file.is_file():
            stale.append(f"{path}:{line}: file does not exist")
            continue
        lines = file.read_text(encoding="utf-8").splitlines()
        if not 1 <= line <= len(lines) or text not in lines[line - 1]:
            hits = [i + 1 for i, s in enumerate(lines) if text in s]
            stale.append(f"{path}:{line}: {text!r} not there (found at lines {hits})")
    assert not stale, "stale references in docs/equations.md:\n" + "\n".join(stale)


def test_paper_references_are_lines_of_the_paper():
    paper = next((p for p in PAPER_CANDIDATES if p.is_file()), None)
    if paper is None:
        pytest.skip("paper text not available (set ACJAX_PAPER)")
    lines = paper.read_text(encoding="utf-8").splitlines()
    refs = PAPER_REF.findall(_doc())
    assert refs
    bad = []
    for first, last in refs:
        for n in {int(first), int(last or first)}:
            if not 1 <= n <= len(lines) or not lines[n - 1].strip():
                bad.append(n)
    assert not bad, f"paper:N references to blank or missing lines: {bad}"
