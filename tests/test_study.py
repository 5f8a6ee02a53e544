"""The warehouse study's plans and reports (experiments/reports/warehouse/ and warehouse2/)."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from acjax.config import load_config, sweep_grid

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "experiments" / "reports" / "warehouse"
HERE2 = ROOT / "experiments" / "reports" / "warehouse2"


def _module(name, folder=HERE):
    spec = importlib.util.spec_from_file_location(f"{folder.name}_{name}", folder / f"{name}.py")
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
        blocks = {"results": head, "diagnostics": diag}
        assert report.fill(text, blocks) == text, f"{readme}: run make report-warehouse"
    results = (HERE / "results.md").read_text()
    assert all(line in results for line in head + sections)


# ---------------------------------------------------------------- the second round (warehouse2/)
AUTHORS4 = ("tiny-4ag-authors-acpo", "tiny-4ag-authors-mappo")


def test_second_round_plan(monkeypatch):
    """Valid configs with unique names; the GPU tasks last (the CPU order), first with --gpu; the
    report's comparisons name plan entries."""
    study = _module("study", HERE2)
    names = [e["name"] for e in study.PLAN]
    assert len(names) == len(set(names))
    for e in study.PLAN:
        load_config(e["config"], e["overrides"])
    gpu = [
        f"{t}-authors-{a}" for t in ("tiny-12ag-hard", "small-8ag-hard") for a in ("mappo", "acpo")
    ]
    assert names[:2] == ["tiny-4ag-authors-mappo", "tiny-4ag-authors-acpo"] and names[-4:] == gpu
    seen = {}
    monkeypatch.setattr(study.first, "main", lambda argv, plan: seen.update(argv=argv, plan=plan))
    study.main(["--out", "x", "--gpu", "--seeds", "3"])
    assert [e["name"] for e in seen["plan"]] == gpu + names[:-4] and seen["argv"] == [
        "--out",
        "x",
        "--seeds",
        "3",
    ]
    report = _module("report", HERE2)
    assert report.TASKS == ["tiny-4ag", "tiny-2ag-easy", "tiny-12ag-hard", "small-8ag-hard"]
    assert {n for pair in report.ABLATIONS for n in pair} <= set(names)


def _run(root, name, env, algo, returns, steps, **diag):
    """A run folder `root/runs/name`: returns[seed][k] is the episode return at env step steps[k]
    (None: no episode ended), with constant diagnostics."""
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"env: {env}\nalgo: {algo}\n")
    rows = [
        {"seed": s, "update": k + 1, "env_steps": st, "episode_return": r, **diag}
        for s, rs in enumerate(returns)
        for k, (st, r) in enumerate(zip(steps, rs, strict=True))
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _pack(folder, archive):
    archive.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["tar", "czf", str(archive), "--exclude=checkpoints", "--exclude=metrics.csv", "-C"]
    subprocess.run([*cmd, str(folder), "runs"], check=True)


def _table(lines, *lead):
    """The cells after `lead` of the markdown rows whose first cells are `lead`."""
    rows = [[c.strip() for c in x.strip("|").split("|")] for x in lines if x.startswith("| ")]
    return [r[len(lead) :] for r in rows if tuple(r[: len(lead)]) == lead]


def test_second_round_report_tables(tmp_path):
    """Two machines of made-up runs: the compared step is the fewest both reached, the difference
    is of the seed means there, an absent side says "not run", and so does an absent entry."""
    report = _module("report", HERE2)
    steps = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    acpo = [[1.0 + s + k for k in range(10)] for s in range(3)]  # 3 seeds to step 1000
    mappo = [[2.0 * s + 0.5 * k for k in range(5)] for s in range(2)]  # 2 seeds to step 500
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    c1 = "rware-tiny-4ag-c1-v1-mean"
    _run(m1, "tiny-4ag-authors-acpo", c1, "acpo", acpo, steps, belief_loss=1.5, adv_var=0.25)
    _run(m1, "tiny-4ag-authors-mappo", c1, "mappo", mappo, steps[:5], adv_var=0.5)
    _run(m1, "tiny-4ag-mappo", "rware-tiny-4ag", "mappo", [[None, 3.0], [None, 5.0]], [10, 20])
    _run(m1, "tiny-4ag-acpo-lambda", "rware-tiny-4ag", "acpo", [[None, 7.0]], [10, 20])
    _run(m1, "tiny-4ag-dense-mappo", c1, "mappo", [[1.0, 2.0]], [10, 20])
    _run(m2, "tiny-2ag-easy-authors-mappo", "rware-tiny-2ag-easy-c1-v1-mean", "mappo", [[1.0]], [9])
    for m in (m1, m2):
        _pack(m, tmp_path / "data" / f"{m.name}.tgz")
    t = report.build(tmp_path / "data")

    # at step 500, one update of the 5 in its last 10%: each seed's return at 500
    want = np.mean([r[4] for r in acpo]) - np.mean([r[4] for r in mappo])
    (row,) = _table(t["results"], "tiny-4ag", "m1")
    assert row[:3] == ["500", "1,000 / 500", "3 / 2"]
    assert float(row[4].split(" ± ")[0]) == pytest.approx(np.mean([r[4] for r in mappo]), abs=5e-3)
    assert float(row[-1].split(" ")[0]) == pytest.approx(want, abs=5e-3) and want > 0
    assert row[-1].endswith("ACPO higher")
    assert _table(t["results"], "tiny-2ag-easy", "m2") == [
        ["9", "not run / 9", "- / 1", "not run", "1.00 ± 0.00", "-"]
    ]
    assert _table(t["results"], "tiny-12ag-hard", "-")[0][0] == "not run"
    assert not _table(t["results"], "tiny-4ag", "m2")  # neither side there: no row

    abl = t["ablations"]
    (r,) = _table(abl, "tiny-4ag-acpo-lambda", "tiny-4ag-acpo", "m1")
    assert r[:2] == ["20", "20 / not run"] and r[-1] == "-" and r[-2] == "not run"
    (r,) = _table(abl, "tiny-4ag-acpo-lambda", "tiny-4ag-mappo", "m1")
    assert r[-3:-1] == ["7.00 ± 0.00", "4.00 ± 1.00"] and r[-1].startswith("+3.00 [")
    (r,) = _table(
        abl,
        "tiny-4ag-dense-mappo",
        "tiny-4ag-mappo (rware-tiny-4ag vs rware-tiny-4ag-c1-v1-mean)",
        "m1",
    )
    assert not _table(abl, "tiny-4ag-backbone-acpo")  # rows only for runs in the data
    (absent,) = [x for x in abl if x.startswith("Not run:")]
    assert "`tiny-4ag-backbone-acpo`" in absent and "`tiny-4ag-mappo`" not in absent

    diag = t["diagnostics"]
    assert (
        diag[0]
        == "| run | machine | env steps reached | seeds | final return | adv_var | belief_loss |"
    )
    assert _table(diag, "tiny-4ag-authors-acpo", "m1") == [
        ["1,000", "3", f"{np.mean([r[-1] for r in acpo]):.2f} ± 0.58", "0.25", "1.5"]
    ]
    assert _table(diag, "tiny-4ag-authors-mappo", "m1")[0][-2:] == ["0.5", "-"]
    with pytest.raises(FileNotFoundError, match="no study data"):
        report.build(tmp_path / "nothing")


def test_second_round_readme_shows_its_data():
    """The README's generated blocks are what report.py makes from the committed data: empty
    while there is none."""
    report = _module("report", HERE2)
    text = (HERE2 / "README.md").read_text()
    if not list((HERE2 / "data").glob("*.tgz")):
        for name in ("results", "ablations", "diagnostics"):
            assert f"<!-- {name}:warehouse2 " in text
            assert re.search(rf"-->\n<!-- /{name}:warehouse2 -->", text), name
        return
    tables = report.build()
    blocks = {k: tables[k] for k in ("results", "ablations", "diagnostics")}
    assert report.first.fill(text, blocks, "warehouse2") == text, "run make report-warehouse2"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """The second round's two authors' tiny-4ag runs at --tiny size (two environments, so that
    500-step episodes end), packed as the README says: data/cpu-tiny.tgz."""
    root = tmp_path_factory.mktemp("study2")
    cmd = [sys.executable, str(HERE2 / "study.py"), "--out", str(root / "dir"), "--tiny"]
    cmd += ["--set", "ppo.complete_episodes=false", "--set", "num_envs=2"]
    cmd += ["--only", ",".join(AUTHORS4), "--budget-s", "300"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    subprocess.run(cmd, check=True, env=env)
    _pack(root / "dir", root / "data" / "cpu-tiny.tgz")
    return root


@pytest.mark.slow
def test_second_round_report_on_a_tiny_study(tiny_study):
    """The report on real run folders: the main table's difference is the difference of the seed
    means of the final returns computed here from metrics.jsonl; everything else is "not run"."""
    report = _module("report", HERE2)
    t = report.build(tiny_study / "data", tiny_study / "figures")
    final = {}
    for name in AUTHORS4:
        lines = (tiny_study / "dir" / "runs" / name / "metrics.jsonl").read_text().splitlines()
        rows = [json.loads(x) for x in lines]
        per_seed = {}
        for r in sorted(rows, key=lambda r: r["env_steps"]):
            if r["episode_return"] is not None:
                per_seed.setdefault(r["seed"], []).append(r["episode_return"])
        final[name] = [np.mean(v[-max(1, len(v) // 10) :]) for v in per_seed.values()]
        assert len(final[name]) == 2
    want = np.mean(final[AUTHORS4[0]]) - np.mean(final[AUTHORS4[1]])
    (row,) = _table(t["results"], "tiny-4ag", "cpu-tiny")
    assert row[:3] == ["2,048", "2,048 / 2,048", "2 / 2"]
    assert float(row[-1].split(" ")[0]) == pytest.approx(want, abs=5e-3)
    for task in ("tiny-2ag-easy", "tiny-12ag-hard", "small-8ag-hard"):
        assert _table(t["results"], task, "-")[0][0] == "not run"
    assert not [x for x in t["ablations"] if x.startswith("| tiny")]
    assert t["ablations"][-1].count("`") == 2 * (len(report.NAMES) - 2)
    acpo, mappo = (_table(t["diagnostics"], n, "cpu-tiny")[0] for n in AUTHORS4)
    keys = t["diagnostics"][0].strip("|").split("|")[5:]
    assert [k.strip() for k in keys] == list(report.DIAGNOSTICS)
    assert "-" not in acpo[3:] and mappo[3:][keys.index(" belief_loss ")] == "-"
    assert [x for x in t["figures"] if "tiny-4ag (cpu-tiny)" in x]
    assert list((tiny_study / "figures" / "cpu-tiny" / "tiny-4ag").glob("curves-*.png"))


# ---------------------------------------------------------------- the SMAX study (smax/)
HERE_SMAX = ROOT / "experiments" / "reports" / "smax"


def test_smax_plan(monkeypatch):
    """Valid configs with unique names, smacv2_5_units first in the issue's order, the authors'
    ACPO with its three pieces and lambda' = the preset's lambda; the runner gets the plan."""
    study = _module("study", HERE_SMAX)
    names = [e["name"] for e in study.PLAN]
    algos = ["mappo", "acpo", "acpo-authors", "happo", "ippo", "qmix", "vdn"]
    assert names == [f"smacv2_{n}_units-{a}" for n in (5, 10) for a in algos]
    by = {e["name"]: load_config(e["config"], e["overrides"]) for e in study.PLAN}
    for name, cfg in by.items():
        task, algo = name.split("-", 1)
        assert cfg.env == f"smax-{task}" and cfg.algo == algo.removesuffix("-authors")
    authors, text = by["smacv2_5_units-acpo-authors"], by["smacv2_5_units-acpo"]
    assert (authors.acpo.belief, authors.acpo.critic_prefix) == ("net", "predicted")
    assert authors.acpo.lambda_micro == authors.ppo.gae_lambda == 0.995
    assert (text.acpo.belief, text.acpo.lambda_micro) == ("sample", 0.0)
    seen = {}
    monkeypatch.setattr(study.first, "main", lambda argv, plan: seen.update(argv=argv, plan=plan))
    study.main(["--out", "x", "--seeds", "3"])
    assert seen == {"argv": ["--out", "x", "--seeds", "3"], "plan": study.PLAN}


def _smax_run(root, name, algo, returns, wins, steps):
    """A SMAX run folder: returns[seed][k] and wins[seed][k] at env step steps[k]."""
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"env: smax-{name.split('-')[0]}\nalgo: {algo}\n")
    rows = [
        {"seed": s, "update": k + 1, "env_steps": st, "episode_return": r, "win_rate": w}
        for s, (rs, ws) in enumerate(zip(returns, wins, strict=True))
        for k, (st, r, w) in enumerate(zip(steps, rs, ws, strict=True))
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_smax_report_tables(tmp_path):
    """Made-up runs: the task's runs compared at the fewest steps all reached, a run below half
    of the median left out at its own steps, "no data" for a folder without metrics, win rate
    and return against MAPPO with intervals, orderings by mean beside the paper's Table 2 rows,
    "not run" for the rest."""
    report = _module("report", HERE_SMAX)
    steps = list(range(100, 1100, 100))
    m = tmp_path / "cpu"
    ret = lambda base: [[base + s + 0.1 * k for k in range(10)] for s in range(3)]  # noqa: E731
    win = lambda base: [[min(1.0, base + 0.1 * s) for _ in range(10)] for s in range(3)]  # noqa: E731
    _smax_run(m, "smacv2_5_units-mappo", "mappo", ret(1.0), win(0.2), steps)
    _smax_run(m, "smacv2_5_units-acpo", "acpo", ret(5.0), win(0.6), steps)
    cut = [r[:8] for r in ret(2.0)]  # to step 800: the compared step
    _smax_run(m, "smacv2_5_units-qmix", "qmix", cut, [w[:8] for w in win(0.0)], steps[:8])
    _smax_run(m, "smacv2_5_units-vdn", "vdn", [[9.0]] * 3, [[1.0]] * 3, steps[:1])  # partial
    (m / "runs" / "smacv2_5_units-ippo").mkdir()  # stopped before its first update
    (m / "runs" / "smacv2_5_units-ippo" / "config.yaml").write_text("algo: ippo\n")
    _pack(m, tmp_path / "data" / "cpu.tgz")
    t = report.build(tmp_path / "data")

    rows = {r[0]: r[1:] for r in _table(t["results"], "smacv2_5_units", "cpu")}
    assert rows["mappo"][:3] == ["800", "1,000", "3"]
    assert rows["vdn"][:2] == ["100 (partial: left out)", "100"]
    assert rows["happo"][0] == "not run" and rows["acpo-authors"][0] == "not run"
    assert rows["ippo"][0] == "no data"
    # at step 800 the last 10% of 8 updates is the 8th: each seed's value there
    assert rows["acpo"][3].startswith(f"{np.mean([0.6, 0.7, 0.8]):.2f} ± ")
    assert rows["acpo"][5].startswith(f"{np.mean([r[7] for r in ret(5.0)]):.2f} ± ")
    assert _table(t["results"], "smacv2_10_units", "-", "-")[0][0] == "not run"
    versus = {r[0]: r[1:] for r in _table(t["versus"], "smacv2_5_units", "cpu")}
    assert set(versus) == {"acpo", "qmix"}  # the partial run is left out
    assert versus["acpo"][0].startswith("+0.4 [") and versus["acpo"][0].endswith("acpo higher")
    assert versus["acpo"][1].startswith("+4 [") and versus["qmix"][0].endswith("MAPPO higher")
    order = _table(t["orderings"], "smacv2_5_units")
    assert order[0] == ["cpu, 800 steps", "acpo > mappo > qmix", "acpo > qmix > mappo"]
    paper = [r for r in order if r[0].startswith("paper, ")]
    assert [r[0] for r in paper] == [
        "paper, protoss_5_vs_5 (SMACv2, 10M)", "paper, zerg_5_vs_5 (SMACv2, 10M)",
    ]  # fmt: skip
    assert paper[0][2] == "acpo > mappo > qmix > vdn > happo"
    assert report._ordering({"b": 0.0, "a": 0.0, "c": 0.5}) == "c > a = b"
    assert len([r for r in _table(t["orderings"], "smacv2_10_units") if "paper" in r[0]]) == 3


def test_smax_readme_shows_its_data():
    """The README's generated blocks are what report.py makes from the committed data."""
    report = _module("report", HERE_SMAX)
    text = (HERE_SMAX / "README.md").read_text()
    if not list((HERE_SMAX / "data").glob("*.tgz")):
        return
    tables = report.build()
    blocks = {k: tables[k] for k in ("results", "versus", "orderings")}
    assert report.first.fill(text, blocks, "smax") == text, "run make report-smax"
