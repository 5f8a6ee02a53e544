"""The README's figures come from committed result files (benchmarks/readme.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_module():
    spec = importlib.util.spec_from_file_location("readme", ROOT / "benchmarks" / "readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_figures_match_the_result_files():
    mod = _readme_module()
    text = (ROOT / "README.md").read_text()
    names = [m[1] for m in mod._BLOCK.findall(text)]
    assert sorted(names) == sorted(mod.BLOCKS), "every generated block appears once in README.md"
    assert mod.fill(text) == text, "README.md is stale: run `make readme`"


def test_a_changed_result_changes_the_readme(monkeypatch):
    mod = _readme_module()
    text = (ROOT / "README.md").read_text()
    real = mod._load

    def doctored(rel):
        data = real(rel)
        if rel == "default-run/summary.json":
            data = dict(data, final_return_mean=data["final_return_mean"] + 1.0)
        return data

    monkeypatch.setattr(mod, "_load", doctored)
    assert mod.fill(text) != text
