"""The warehouse study's plan and report statistics (experiments/reports/warehouse/)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from acjax.config import load_config, sweep_grid

HERE = Path(__file__).resolve().parents[1] / "experiments" / "reports" / "warehouse"


def _module(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_study_run_is_a_valid_config():
    study = _module("study")
    names = [e["name"] for e in study.PLAN]
    assert len(names) == len(set(names))
    assert names[:4] == [  # the 8- and 12-agent tasks first, ACPO beside MAPPO
        "tiny-12ag-hard-acpo", "tiny-12ag-hard-mappo", "small-8ag-acpo", "small-8ag-mappo",
    ]  # fmt: skip
    by = {}
    for e in study.PLAN:
        cfg = load_config(e["config"], e["overrides"])
        by[e["name"]] = cfg
        assert e["name"].startswith(cfg.env.removeprefix("rware-") + "-" + cfg.algo)
    # the lambda' control: ACPO swept over lambda and 1.0; MAPPO with lambda^N per env step
    assert sweep_grid(by["small-8ag-acpo-lmicro"])[1] == [(0.95,), (1.0,)]
    assert by["small-8ag-mappo-lambdaN"].ppo.gae_lambda == pytest.approx(0.95**8, abs=1e-6)
    assert by["tiny-4ag-acpo-belief_none"].acpo.belief == "none"
    assert by["tiny-4ag-acpo-prefix_pred"].acpo.critic_prefix == "predicted"


def test_difference_interval():
    diff_ci = _module("report").diff_ci
    rng = np.random.default_rng(1)
    b = rng.normal(10.0, 1.0, 8)
    d, lo, hi = diff_ci(b + 3.0, b)
    assert d == pytest.approx(3.0) and lo < 3.0 < hi and lo > 0  # a clear shift excludes 0
    d, lo, hi = diff_ci(rng.normal(10.0, 1.0, 8), rng.normal(10.0, 1.0, 8))
    assert lo < 0 < hi  # two samples of one distribution: the interval holds 0
    assert diff_ci(np.full(5, 2.0), np.full(3, 1.0)) == (1.0, 1.0, 1.0)  # no spread, no width


def test_readmes_show_the_committed_study_data():
    """The results and diagnostics blocks of README.md and the report's README, and the report's
    results.md, are what report.py makes from the committed run data (no typed figures)."""
    report = _module("report")
    head, diag, sections = report.build(draw=False)
    assert len(head) > 2 and len(diag) > 2
    for readme in (HERE.parents[2] / "README.md", HERE / "README.md"):
        text = readme.read_text()
        assert report.fill(text, head, diag) == text, f"{readme}: run make report-warehouse"
    results = (HERE / "results.md").read_text()
    assert all(line in results for line in head + sections)
