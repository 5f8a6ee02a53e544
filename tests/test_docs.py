"""The docs cite code by symbol, and every citation still names what it says it names.

A code reference is written `` `src/acjax/FILE.py::SYMBOL` `TEXT` `` (a space or a line break
between the two spans). SYMBOL is a top-level function or class of FILE, or a dotted path into
one (`Trainer.actor_loss`, `ValueNorm.update`); TEXT must occur verbatim in that symbol's source
as `ast` delimits it (from its `def`/`class` line to its last line). References by line number
(`src/acjax/FILE.py:LINE`) break on every refactor and must not appear in docs/ or README.md.
A paper reference `paper:N` (or `paper:N-M`) must be a non-blank line of the paper's text file;
that check is skipped when the paper is not available (it lives in the shared folder, outside the
repository). Plain Python, no JAX.
"""

from __future__ import annotations

import ast
import os
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EQUATIONS = DOCS / "equations.md"
# the pages whose code and paper references are checked (equations.md links policies.md; the
# world pages mamujoco.md and external.md; runs.md, resuming run folders)
PAGES = [
    EQUATIONS,
    DOCS / "policies.md",
    DOCS / "mamujoco.md",
    DOCS / "external.md",
    DOCS / "runs.md",
]
CODE_REF = re.compile(r"`(src/acjax/[\w/]+\.py)::([\w.]+)`\s+`([^`\n]+)`")
ANY_SYMBOL_REF = re.compile(r"src/acjax/[\w/]+\.py::[\w.]*")
LINE_REF = re.compile(r"src/acjax/[\w/]+\.py:\d+")
PAPER_REF = re.compile(r"\bpaper:(\d+)(?:-(\d+))?")
PAPER_CANDIDATES = [
    Path(os.environ.get("ACJAX_PAPER", "/nonexistent")),
    ROOT / "shared" / "paper" / "acpo-paper.txt",
    ROOT.parent / "shared" / "paper" / "acpo-paper.txt",
]


# ---------------------------------------------------------------------- the checking functions
def symbol_source(source: str, symbol: str) -> str | None:
    """The source of `symbol` (a def/class at module level, dotted for nested ones, e.g.
    `Class.method`) in the module `source`, from its def/class line to its end; None when the
    module has no such symbol."""
    body = ast.parse(source).body
    node = None
    for name in symbol.split("."):
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == name
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1 : node.end_lineno])


def check_reference(root: Path, path: str, symbol: str, text: str) -> str | None:
    """None when `text` occurs in `symbol` of the file root/path, else what is wrong."""
    file = root / path
    if not file.is_file():
        return f"{path}::{symbol}: file does not exist"
    source = file.read_text(encoding="utf-8")
    segment = symbol_source(source, symbol)
    if segment is None:
        return f"{path}::{symbol}: no such def/class in the file"
    if text not in segment:
        tree = ast.parse(source)
        where = sorted(
            {
                n.name
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and text in (ast.get_source_segment(source, n) or "")
            }
        )
        return f"{path}::{symbol}: {text!r} not in it (found in {where or 'no def/class'})"
    return None


def code_refs(text: str) -> list[tuple[str, str, str]]:
    return CODE_REF.findall(text)


def loose_references(text: str) -> list[str]:
    """`path::...` occurrences that are not part of a checked `path::SYMBOL` `TEXT` pair."""
    checked = {m.start(1) for m in CODE_REF.finditer(text)}
    return [m.group(0) for m in ANY_SYMBOL_REF.finditer(text) if m.start() not in checked]


@cache
def _page(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _pages() -> list[Path]:
    return [p for p in PAGES if p.is_file()]


# ---------------------------------------------------------------------- the docs
def test_policies_page_exists_and_is_linked():
    assert (DOCS / "policies.md").is_file()
    assert "policies.md" in _page(EQUATIONS)


def test_doc_has_references():
    assert len(code_refs(_page(EQUATIONS))) >= 50, "docs/equations.md lost its code references"
    assert code_refs(_page(DOCS / "policies.md")), "docs/policies.md has no code references"


def test_every_code_reference_uses_the_checked_format():
    loose = {p.name: loose_references(_page(p)) for p in _pages()}
    loose = {k: v for k, v in loose.items() if v}
    assert not loose, f"references not in the form `path::SYMBOL` `text`: {loose}"


def test_no_line_number_references_remain():
    files = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*") if p.suffix in (".md", ".py"))]
    found = [
        f"{f.relative_to(ROOT)}: {m.group(0)}"
        for f in files
        if f.is_file()
        for m in LINE_REF.finditer(f.read_text(encoding="utf-8"))
    ]
    assert not found, "line-number code references (cite a symbol instead):\n" + "\n".join(found)


def test_code_references_name_their_symbol_and_text():
    stale = [
        f"{page.name}: {err}"
        for page in _pages()
        for path, symbol, text in code_refs(_page(page))
        if (err := check_reference(ROOT, path, symbol, text))
    ]
    assert not stale, "stale code references:\n" + "\n".join(stale)


def test_paper_references_are_lines_of_the_paper():
    paper = next((p for p in PAPER_CANDIDATES if p.is_file()), None)
    if paper is None:
        pytest.skip("paper text not available (set ACJAX_PAPER)")
    lines = paper.read_text(encoding="utf-8").splitlines()
    refs = PAPER_REF.findall(_page(EQUATIONS))
    assert refs
    bad = []
    for page in _pages():
        for first, last in PAPER_REF.findall(_page(page)):
            for n in {int(first), int(last or first)}:
                if not 1 <= n <= len(lines) or not lines[n - 1].strip():
                    bad.append(f"{page.name}: paper:{n}")
    assert not bad, f"paper:N references to blank or missing lines: {bad}"


# ---------------------------------------------------------------------- the checker can fail
SAMPLE = '''\
LIMIT = 3


def helper(x):
    return x + LIMIT


class Box:
    """A box."""

    size = 2

    def grow(self, k):
        total = self.size * k
        return total

    class Inner:
        def deep(self):
            return "deep"
'''


@pytest.fixture
def sample_root(tmp_path):
    (tmp_path / "src" / "acjax").mkdir(parents=True)
    (tmp_path / "src" / "acjax" / "sample.py").write_text(SAMPLE, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "symbol, text",
    [
        ("helper", "def helper(x):"),
        ("helper", "return x + LIMIT"),
        ("Box", "size = 2"),
        ("Box", "total = self.size * k"),  # a class's source holds its methods
        ("Box.grow", "total = self.size * k"),
        ("Box.Inner.deep", 'return "deep"'),
    ],
)
def test_checker_accepts_text_inside_the_symbol(sample_root, symbol, text):
    assert check_reference(sample_root, "src/acjax/sample.py", symbol, text) is None


@pytest.mark.parametrize(
    "path, symbol, text, why",
    [
        ("src/acjax/sample.py", "grow", "total = self.size * k", "no such def/class"),  # not top
        ("src/acjax/sample.py", "Box.shrink", "total", "no such def/class"),
        ("src/acjax/sample.py", "LIMIT", "LIMIT = 3", "no such def/class"),  # not a def/class
        ("src/acjax/sample.py", "Box.grow", "return x + LIMIT", "not in it"),  # in helper
        ("src/acjax/sample.py", "helper", "LIMIT = 3", "not in it"),  # module level only
        ("src/acjax/sample.py", "Box.grow", "size = 2", "not in it"),  # in Box, not in grow
        ("src/acjax/sample.py", "helper", "return x+LIMIT", "not in it"),  # verbatim only
        ("src/acjax/missing.py", "helper", "def helper", "does not exist"),
    ],
)
def test_checker_reports_wrong_symbol_or_text(sample_root, path, symbol, text, why):
    err = check_reference(sample_root, path, symbol, text)
    assert err is not None and why in err


def test_checker_names_where_a_moved_text_now_is(sample_root):
    err = check_reference(sample_root, "src/acjax/sample.py", "helper", "total = self.size * k")
    assert "Box" in err and "grow" in err


def test_reference_parsing_and_loose_references():
    text = (
        "`src/acjax/a.py::f` `x = 1`; `src/acjax/b/c.py::C.m`\n`y(z)` and a loose "
        "`src/acjax/d.py::g` alone, a wrapped `src/acjax/e.py::h` `u\nv`"
    )
    assert code_refs(text) == [
        ("src/acjax/a.py", "f", "x = 1"),
        ("src/acjax/b/c.py", "C.m", "y(z)"),
    ]
    assert loose_references(text) == ["src/acjax/d.py::g", "src/acjax/e.py::h"]
    assert LINE_REF.search("see `src/acjax/train.py:12` `x`")
    assert not LINE_REF.search("see `src/acjax/train.py::Trainer` `x`")


def test_the_docs_checker_fails_on_a_wrong_reference():
    """A real reference of the page checks, and the same with a wrong symbol or text does not."""
    path, symbol, text = code_refs(_page(EQUATIONS))[0]
    assert check_reference(ROOT, path, symbol, text) is None
    assert check_reference(ROOT, path, symbol + "_gone", text) is not None
    assert check_reference(ROOT, path, symbol, text + " and more") is not None
