"""Renumber the `path:line` code references of docs/equations.md after code moved.

    python docs/update_refs.py

A reference whose text now sits on exactly one line of its file gets that line; ambiguous or
missing texts are printed for a person to fix. `tests/test_docs.py` checks the result.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = re.compile(r"`(src/acjax/[\w/]+\.py):(\d+)` `([^`]+)`")


def fix(m: re.Match) -> str:
    path, line, text = m.group(1), int(m.group(2)), m.group(3)
    lines = (ROOT / path).read_text().splitlines()
    if 1 <= line <= len(lines) and text in lines[line - 1]:
        return m.group(0)
    hits = [i + 1 for i, s in enumerate(lines) if text in s]
    if len(hits) == 1:
        return f"`{path}:{hits[0]}` `{text}`"
    print(f"{path}:{line}: {text!r} found at lines {hits}: fix by hand")
    return m.group(0)


if __name__ == "__main__":
    page = ROOT / "docs" / "equations.md"
    page.write_text(REF.sub(fix, page.read_text()))
