"""The shape of src/acjax that docs/architecture.md promises, checked with `ast` (no JAX).

- no import cycle among acjax's modules, counting the imports a module runs when it is loaded
  (an import inside a function is a lazy load and may point anywhere);
- the layers: the pieces below the trainers (algos/, envs/, the maths modules, ppo.py,
  runner.py) import no trainer family, harness, run or cli when they load; harness.py imports
  neither run nor cli;
- no module over MAX_MODULE_LINES lines and no function or method over MAX_FUNCTION_LINES.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "acjax"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80

# what the pieces below the trainers must not load (docs/architecture.md, "The layers")
UPPER = ("acjax.harness", "acjax.onpolicy", "acjax.offpolicy", "acjax.run", "acjax.cli")
LOWER = (
    "acjax.algos",
    "acjax.envs",
    "acjax.losses",
    "acjax.nets",
    "acjax.belief",
    "acjax.chain_net",
    "acjax.advantages",
    "acjax.td",
    "acjax.buffer",
    "acjax.ppo",
    "acjax.runner",
)
RULES = [(LOWER, UPPER), (("acjax.harness",), ("acjax.run", "acjax.cli"))]


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements a module runs when it is loaded: everywhere but in the bodies of
    functions (class bodies and `if`/`try` blocks at the top level run at import)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(name: str, is_package: bool, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` loads: `from a import b` counts a.b where it is
    a module, a otherwise."""
    out = set()
    for node in load_time_imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from the package this module is in (or is)
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
            targets = [t if t in known else base for t in targets]
        out.update(t for t in targets if t in known)
    return out


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted((root / "acjax").rglob("*.py"))}
    known = set(files)
    return {
        name: imported_modules(name, p.name == "__init__.py", ast.parse(p.read_text()), known)
        for name, p in files.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return path[path.index(v) :] + [v]
            if v not in state and (cycle := visit(v)):
                return cycle
        path.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (cycle := visit(u)):
            return cycle
    return None


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{u} imports {v}"
        for lower, upper in RULES
        for u, targets in sorted(graph.items())
        if within(u, lower)
        for v in sorted(targets)
        if within(v, upper)
    ]


def long_modules(root: Path = PACKAGE) -> list[str]:
    out = []
    for p in sorted(root.rglob("*.py")):
        n = len(p.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            out.append(f"{p.relative_to(root.parent)}: {n} lines")
    return out


def long_functions(root: Path = PACKAGE) -> list[str]:
    out = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - start + 1
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{p.relative_to(root.parent)}::{node.name}: {n} lines")
    return out


@cache
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_the_imports():
    """The scan finds the package's modules and their imports (so the tests below can fail)."""
    g = graph()
    assert {"acjax.run", "acjax.harness", "acjax.onpolicy", "acjax.envs.core"} <= set(g)
    assert "acjax.harness" in g["acjax.run"] and "acjax.envs.registry" in g["acjax.runner"]


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_import_downward_only():
    assert layering_violations(graph()) == []


def test_no_long_module():
    assert long_modules() == [], f"modules over {MAX_MODULE_LINES} lines"


def test_no_long_function():
    assert long_functions() == [], f"functions over {MAX_FUNCTION_LINES} lines"


# -------------------------------------------------------- the checks catch what they look for
def write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "acjax" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checks_catch_violations(tmp_path):
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "harness.py": "import acjax.run\n",
            "run.py": "from acjax import harness\n",
            "ppo.py": "def lazy():\n    from acjax import onpolicy\n",
            "runner.py": "class A:\n    from acjax.onpolicy import PPOTrainer\n",
            "onpolicy.py": "from . import ppo\n",
            "envs/__init__.py": "",
            "envs/core.py": "from ..harness import Harness\n",
            "long.py": "def f():\n" + "    x = 1\n" * 80 + "\n" * 450,
        },
    )
    g = import_graph(root)
    assert g["acjax.onpolicy"] == {"acjax.ppo"}
    assert g["acjax.ppo"] == set()  # a lazy import is no load-time edge
    assert find_cycle(g) == ["acjax.harness", "acjax.run", "acjax.harness"]
    assert layering_violations(g) == [
        "acjax.envs.core imports acjax.harness",
        "acjax.runner imports acjax.onpolicy",
        "acjax.harness imports acjax.run",
    ]
    assert long_modules(root / "acjax") == ["acjax/long.py: 531 lines"]
    assert long_functions(root / "acjax") == ["acjax/long.py::f: 81 lines"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
