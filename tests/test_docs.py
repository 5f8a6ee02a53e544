"""The docs cite code by symbol, and every citation still names what it says it names.

A code reference is written `` `src/acjax/FILE.py::SYMBOL` `TEXT` `` (a space or a line break
between the two spans). SYMBOL is a top-level function or class of FILE, or a dotted path into
one (`PPOContext.actor_loss`, `ValueNorm.update`); TEXT must occur verbatim in that symbol's source
as `ast` delimits it (from its `def`/`class` line to its last line). References by line number
(`src/acjax/FILE.py:LINE`) break on every refactor and must not appear in docs/ or README.md.

The repository is self-contained: no tracked text file cites a document kept outside it (the
design notes, the paper's text file, or a line of it), every `docs/<page>.md` it cites exists, and
so do the sections it cites of docs/references.md (by title) and docs/acpo.md (by number). The
paper (*Agent-Chained Policy Optimization*) is cited by its own numbering (§, App., Eq., Alg. and
line, Table, Figure, numbered statements); PAPER below lists what it holds, and every such
citation must be in it. PAPER itself is checked against the paper's text when that is available
(it is not part of the repository; set ACJAX_PAPER), skipped otherwise. Plain Python, no JAX.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EQUATIONS = DOCS / "equations.md"
# the pages whose code references are checked (equations.md links policies.md; the world pages
# mamujoco.md and external.md; runs.md, resuming run folders; acpo.md, how acjax reads the paper;
# references.md, the outside facts)
PAGES = [
    EQUATIONS,
    DOCS / "policies.md",
    DOCS / "mamujoco.md",
    DOCS / "external.md",
    DOCS / "runs.md",
    DOCS / "acpo.md",
    DOCS / "references.md",
]
CODE_REF = re.compile(r"`(src/acjax/[\w/]+\.py)::([\w.]+)`\s+`([^`\n]+)`")
ANY_SYMBOL_REF = re.compile(r"src/acjax/[\w/]+\.py::[\w.]*")
LINE_REF = re.compile(r"src/acjax/[\w/]+\.py:\d+")
# the paper's text file, outside the repository (its name in two parts, so that the scan of this
# file for outside citations does not flag it)
PAPER_FILE = "acpo-paper" + ".txt"
PAPER_CANDIDATES = [
    Path(os.environ.get("ACJAX_PAPER", "/nonexistent")),
    ROOT / "shared" / "paper" / PAPER_FILE,
    ROOT.parent / "shared" / "paper" / PAPER_FILE,
]

# ---------------------------------------------------------------------- the paper's numbering
PAPER_TITLE = "Agent-Chained Policy Optimization"
# what the paper holds, by its own numbering
PAPER = {
    "section": {"1", "2", "2.1", "2.2", "2.3", "3", "4", "5", "6", "7", "8"},
    "appendix": set("ABCDEFGHIJKLMNO") | {"C.1", "C.2", "C.3", "C.4"},
    "equation": {"1", "2", "3", "4", "5"},
    "algorithm": {"1", "2", "3"},
    "table": {"1", "2", "3"},
    "figure": {str(i) for i in range(1, 10)},
    "statement": {
        "Theorem 3.1",
        "Definition 5.1",
        "Lemma 5.2",
        "Lemma 5.3",
        "Theorem 5.4",
        "Theorem C.1",
        "Corollary C.2",
    },
}
# lines of each algorithm listing that may be cited as "Alg. N l.M" (Algorithm 1's listing is
# garbled in the text file: cite it as a whole)
PAPER_ALGORITHM_LINES = {"1": 0, "2": 10, "3": 7}
STATEMENT_NAMES = {"Def.": "Definition", "Thm": "Theorem"}
PAPER_CITES = [
    ("section", re.compile(r"\bpaper(?:'s)?,?\s+§(\d+(?:\.\d+)?)(?:-(\d+))?")),
    ("appendix", re.compile(r"\b(?:App\.|Appendix)\s([A-Z](?:\.\d+)?)(?![\w-])")),
    ("equation", re.compile(r"\bEqs?\.\s?(\d+)(?:-(\d+))?")),
    ("algorithm", re.compile(r"\b(?:Alg\.|Algorithm)\s(\d+)")),
    ("table", re.compile(r"\bTable\s(\d+)")),
    ("figure", re.compile(r"\b(?:Fig\.|Figure)\s(\d+)")),
    (
        "statement",
        re.compile(r"\b(Def\.|Definition|Lemma|Thm|Theorem|Corollary)\s([A-Z]?\d*\.?\d+)"),
    ),
]
ALG_LINE = re.compile(r"\bAlg(?:\.|orithm)\s(\d+),?\s(?:l\.\s?|line\s)(\d+)")

# ---------------------------------------------------------------------- citations of the repository
# what a tracked file must not cite: documents kept outside the repository (the patterns do not
# match their own source text)
OUTSIDE = [
    (re.compile(r"\bREFERENCES(?:\.md\b|:)"), "the outside facts file: cite docs/references.md"),
    (re.compile(r"\bACPO\.md\b"), "the outside design note: cite docs/acpo.md"),
    (re.compile(r"\bacpo-paper\.txt\b"), "the paper's text file: cite the paper by its numbering"),
    (re.compile(r"\bpaper:\s?\d"), "a line of the paper's text file: cite § / App. / Eq. / Alg."),
]
SCANNED = ["src", "tests", "docs", "experiments", "benchmarks", "README.md", "Makefile"]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".json", ".txt", ".toml", ".cfg", ".csv"}
DOCS_PAGE = re.compile(r"\bdocs/([\w./-]+?\.md)\b")
MD_LINK = re.compile(r"\]\(([\w./-]+\.md)(?:#[^)]*)?\)")
REFERENCES_SECTION = re.compile(r'docs/references\.md,?[\s#]+"([^"]+)"')
ACPO_SECTION = re.compile(r"docs/acpo\.md\s+§(\d+)")


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


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def outside_citations(text: str) -> list[str]:
    """Citations of documents kept outside the repository, as 'line N: match (why)'."""
    return [
        f"line {_line(text, m.start())}: {m.group(0)!r} ({why})"
        for pattern, why in OUTSIDE
        for m in pattern.finditer(text)
    ]


def missing_pages(root: Path, rel: str, text: str) -> list[str]:
    """The `docs/<page>.md` a file cites (and, in a page under docs/, its relative `](<page>.md)`
    links) that do not exist."""
    missing = [f"docs/{p}" for p in DOCS_PAGE.findall(text) if not (root / "docs" / p).is_file()]
    if rel.startswith("docs/"):
        here = (root / rel).parent
        missing += [p for p in MD_LINK.findall(text) if not (here / p).is_file()]
    return missing


def _flat(title: str) -> str:
    """A quoted title as one line: line breaks and comment markers (`#`) collapse to a space."""
    return " ".join(re.sub(r"\n\s*#?", " ", title).split())


def page_sections(text: str) -> list[str]:
    """The `## ` headings of a page, without the hashes."""
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


def missing_sections(text: str, references: str, acpo: str) -> list[str]:
    """Cited sections that docs/references.md (a title: the start of a heading) or
    docs/acpo.md (a number: a heading `## N.`) does not have."""
    titles = page_sections(references)
    numbers = {h.split(".")[0] for h in page_sections(acpo)}
    bad = [
        f"docs/references.md: no section {t!r}"
        for t in map(_flat, REFERENCES_SECTION.findall(text))
        if not any(h.startswith(t) for h in titles)
    ]
    bad += [f"docs/acpo.md: no section {n}" for n in ACPO_SECTION.findall(text) if n not in numbers]
    return bad


def paper_citations(text: str) -> list[tuple[str, str]]:
    """The paper's parts a text cites: (kind, number), e.g. ("equation", "3"),
    ("statement", "Lemma 5.2"), ("algorithm line", "3 l.4")."""
    out = []
    for kind, pattern in PAPER_CITES:
        for m in pattern.finditer(text):
            if kind == "statement":
                name = STATEMENT_NAMES.get(m.group(1), m.group(1))
                out.append((kind, f"{name} {m.group(2)}"))
            elif kind in ("section", "equation"):
                out += [(kind, n) for n in m.groups() if n]
            else:
                out.append((kind, m.group(1)))
    out += [("algorithm line", f"{a} l.{n}") for a, n in ALG_LINE.findall(text)]
    return out


def unknown_paper_parts(text: str) -> list[str]:
    """Paper citations of a text that are not in PAPER."""
    bad = []
    for kind, what in paper_citations(text):
        if kind == "algorithm line":
            alg, line = what.split(" l.")
            ok = 1 <= int(line) <= PAPER_ALGORITHM_LINES.get(alg, 0)
        else:
            ok = what in PAPER[kind]
        if not ok:
            bad.append(f"{kind} {what}")
    return bad


def tracked_text_files(root: Path = ROOT) -> list[str]:
    """The repository's text files under SCANNED, as paths relative to root: git's tracked
    files when git can list them, else every file there."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *SCANNED],
            cwd=root,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:
        files = [
            str(p.relative_to(root))
            for name in SCANNED
            for p in ([root / name] if (root / name).is_file() else (root / name).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    return sorted(f for f in files if Path(f).suffix in TEXT_SUFFIXES or Path(f).name == "Makefile")


@cache
def _text(rel: str) -> str:
    path = ROOT / rel
    return path.read_text(encoding="utf-8") if path.is_file() else ""


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


def test_no_file_cites_documents_outside_the_repository():
    found = [f"{rel}: {c}" for rel in tracked_text_files() for c in outside_citations(_text(rel))]
    assert not found, "citations of documents outside the repository:\n" + "\n".join(found)


def test_cited_docs_pages_exist():
    files = tracked_text_files()
    assert "docs/acpo.md" in files and "docs/references.md" in files
    found = [f"{rel}: {p}" for rel in files for p in missing_pages(ROOT, rel, _text(rel))]
    assert not found, "citations of docs pages that do not exist:\n" + "\n".join(found)


def test_cited_sections_of_references_and_acpo_exist():
    references, acpo = _page(DOCS / "references.md"), _page(DOCS / "acpo.md")
    found = [
        f"{rel}: {b}"
        for rel in tracked_text_files()
        for b in missing_sections(_text(rel), references, acpo)
    ]
    assert not found, "cited sections that do not exist:\n" + "\n".join(found)


def test_paper_citations_name_parts_of_the_paper():
    assert paper_citations(_page(EQUATIONS)), "docs/equations.md no longer cites the paper"
    found = [f"{rel}: {b}" for rel in tracked_text_files() for b in unknown_paper_parts(_text(rel))]
    assert not found, "citations of parts the paper does not have (PAPER):\n" + "\n".join(found)


def _paper_text() -> str:
    paper = next((p for p in PAPER_CANDIDATES if p.is_file()), None)
    if paper is None:
        pytest.skip(
            "the paper's text is not in the repository: set ACJAX_PAPER to its file to check "
            "PAPER (the list of its sections, equations, algorithms, ...) against it"
        )
    return paper.read_text(encoding="utf-8")


def test_paper_list_matches_the_paper_text():
    text = _paper_text()
    assert PAPER_TITLE.upper() in text.upper()
    numbered = lambda pattern: set(re.findall(pattern, text))  # noqa: E731
    assert numbered(r"Table (\d+):") == PAPER["table"]
    assert numbered(r"Figure (\d+):") == PAPER["figure"]
    assert numbered(r"\*\*Algorithm (\d+)\*\*") == PAPER["algorithm"]
    assert numbered(r"(?m)\((\d+)\)\s*\$*\s*$") == PAPER["equation"]
    for part in PAPER["section"] | PAPER["appendix"]:
        assert re.search(rf"(?m)^(?:\d+\s+)*\**{re.escape(part)} [A-Z]{{3}}", text), part
    for statement in PAPER["statement"]:
        assert statement in text, statement
    for alg, lines in PAPER_ALGORITHM_LINES.items():
        if lines:
            listing = text.split(f"**Algorithm {alg}**")[1].split("**Algorithm")[0]
            listing = re.split(r"(?m)^\d+ [A-Z] [A-Z]{3}", listing)[0]  # up to the next appendix
            assert max(int(n) for n in re.findall(r"(?m)^\d+ (\d+):", listing)) == lines, alg


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


# ---------------------------------------------------------------------- the citation checks fail
# (samples built in parts, so that the scan of this file does not flag them)
def test_outside_citations_are_found():
    samples = [
        "see " + "REFERENCES" + ".md",
        "(" + "REFERENCES" + ": algos_cfgs/hatd3.yaml)",
        "design doc " + "ACPO" + ".md section 2",
        "shared/paper/" + PAPER_FILE,
        "the ratio, " + "paper" + ":325",
        "Table 1, " + "paper" + ":146-172",
    ]
    for text in samples:
        assert outside_citations(text), text
    fine = "docs/references.md, docs/acpo.md §2, the paper (§6, Eq. 3), a paper: its title"
    assert outside_citations(fine) == []


def test_missing_pages_are_found(tmp_path):
    d = "docs/"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("# here\n", encoding="utf-8")
    text = f"see {d}here.md and {d}gone.md; [here](here.md), [gone](gone.md#x)"
    assert missing_pages(tmp_path, "src/acjax/a.py", text) == [f"{d}gone.md"]
    assert missing_pages(tmp_path, f"{d}page.md", text) == [f"{d}gone.md", "gone.md"]


def test_missing_sections_are_found():
    ref, acpo_page = "docs/references" + ".md", "docs/acpo" + ".md"
    references = "# Facts\n\n## HARL MaMuJoCo settings (`tuned_configs`)\n\n## HAPPO (HARL)\n"
    acpo = "# ACPO\n\n## 1. Serialization\n\n## 4. Chained advantages\n"
    good = f'{ref}, "HARL MaMuJoCo\n# settings"; {ref} "HAPPO"; {acpo_page} §4'
    assert missing_sections(good, references, acpo) == []
    bad = f'{ref}, "HARL settings"; {acpo_page} §7'
    assert missing_sections(bad, references, acpo) == [
        f"{ref}: no section 'HARL settings'",
        f"{acpo_page}: no section 7",
    ]


def test_paper_citations_outside_the_paper_are_found():
    good = (
        "paper §4-6, the paper's §2.3, App. C.4, Appendix N, Eq. 1-5, Alg. 3 l.4, Algorithm 2 "
        "line 9, Table 3, Fig. 4, Figure 9, Def. 5.1, Lemma 5.3, Thm 5.4, Corollary C.2"
    )
    assert unknown_paper_parts(good) == []
    assert ("algorithm line", "3 l.4") in paper_citations(good)
    assert ("statement", "Theorem 5.4") in paper_citations(good)
    bad = [
        ("paper " + "§9", "section"),
        ("paper §4-" + "10", "section"),
        ("App" + ". P", "appendix"),
        ("Eq" + ". 6", "equation"),
        ("Alg" + ". 4", "algorithm"),
        ("Alg. 3" + " l.8", "algorithm line"),
        ("Alg. 1" + " l.2", "algorithm line"),
        ("Table" + " 4", "table"),
        ("Figure" + " 10", "figure"),
        ("Lemma" + " 5.9", "statement"),
        ("Thm" + " 6.1", "statement"),
    ]
    for text, kind in bad:
        found = unknown_paper_parts(text)
        assert len(found) == 1 and found[0].startswith(kind), (text, found)
