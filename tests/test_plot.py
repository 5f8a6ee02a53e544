"""`acjax plot`: the aggregation maths against plain numpy, and the files it writes."""

import json

import numpy as np
import pytest
import yaml

from acjax.cli import main
from acjax.plot import aggregate_curve, final_return, iqm_with_ci, load_runs, mean_and_se


def test_mean_standard_error_and_final_return_against_numpy():
    x = np.array([[1.0, 2.0], [3.0, 5.0], [8.0, 4.0]])
    mean, se = mean_and_se(x, axis=0)
    np.testing.assert_allclose(mean, x.mean(0))
    np.testing.assert_allclose(se, x.std(0, ddof=1) / np.sqrt(3))
    assert mean_and_se(np.array([[2.0, 3.0]]), axis=0)[1].tolist() == [0.0, 0.0]
    # the last 10% of the updates that finished episodes (None: no episode ended)
    curve = [(i, float(i)) for i in range(1, 21)] + [(21, None)]
    assert final_return(curve) == pytest.approx(np.mean([19.0, 20.0]))
    assert np.isnan(final_return([(1, None)]))


def test_iqm_and_its_bootstrap_interval_against_numpy():
    rng = np.random.default_rng(0)
    scores = rng.normal(10.0, 3.0, 40)
    iqm, lo, hi = iqm_with_ci(scores[:, None], reps=4000, seed=1)
    s = np.sort(scores)
    assert iqm == pytest.approx(s[10:30].mean())  # 25% trimmed from each side of 40 runs
    # a percentile bootstrap of the IQM in numpy: the same interval up to resampling noise
    boot = [np.sort(rng.choice(scores, 40))[10:30].mean() for _ in range(4000)]
    ref_lo, ref_hi = np.percentile(boot, [2.5, 97.5])
    assert lo == pytest.approx(ref_lo, abs=0.25) and hi == pytest.approx(ref_hi, abs=0.25)
    assert lo < iqm < hi
    assert iqm_with_ci(scores[:, None], reps=500, seed=1) == iqm_with_ci(
        scores[:, None], reps=500, seed=1
    )  # a fixed seed repeats


def _run(path, env, algo, seeds, curves, sweep=None, **settings):
    path.mkdir(parents=True)
    cfg = {"env": env, "algo": algo, "sweep": sweep or {}, "run_dir": str(path), **settings}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for seed, curve in zip(seeds, curves, strict=True):
        for u, y in enumerate(curve, 1):
            rows.append({"seed": seed, "update": u, "env_steps": 100 * u, "episode_return": y}
                        | ({"ppo.lr": sweep["ppo"]["lr"][0]} if sweep else {}))  # fmt: skip
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_plot_writes_curves_table_and_figures(tmp_path, capsys):
    _run(tmp_path / "a", "rware-tiny-2ag", "mappo", [0, 1], [[0, 1, 2, 3], [0, 1, None, 5]])
    _run(tmp_path / "b", "rware-tiny-2ag", "acpo", [0], [[1, 2, 3, 4]])
    sweep = {"ppo": {"lr": [0.001]}}
    _run(tmp_path / "c", "rware-tiny-2ag", "acpo", [0], [[2, 2, 2, 2]], sweep)
    runs = load_runs([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert set(runs) == {("rware-tiny-2ag", g) for g in ("mappo", "acpo", "acpo ppo.lr=0.001")}
    steps, mean, se = aggregate_curve(runs[("rware-tiny-2ag", "mappo")])
    assert steps.tolist() == [100, 200, 300, 400]
    assert mean.tolist() == [0, 1, 1.5, 4]  # seed 1 carries 1 over the update without episodes
    out = tmp_path / "plots"
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c"),
                 "--out", str(out)]) == 0  # fmt: skip
    for f in ("curves-rware-tiny-2ag.png", "iqm-rware-tiny-2ag.png", "curves.csv", "final.md"):
        assert (out / f).stat().st_size > 0, f
    table = (out / "final.md").read_text()
    assert "| rware-tiny-2ag | mappo | 2 | 4.00 ± 1.00 |" in table
    # one seed: no standard error or interval (not "± 0.00" and a zero-width interval)
    assert "| rware-tiny-2ag | acpo ppo.lr=0.001 | 1 | 2.00 (n=1) | 2.00 (n=1) |" in table
    csv_rows = (out / "curves.csv").read_text().splitlines()
    assert csv_rows[0] == "env,group,env_steps,mean,se,seeds" and len(csv_rows) == 1 + 12
    # equal steps: rows after 200 steps left out, so the final returns come from updates 1-2
    assert main(["plot", str(tmp_path / "a"), "--out", str(out / "200"), "--max-steps", "200"]) == 0
    assert "| rware-tiny-2ag | mappo | 2 | 1.00 ± 0.00 |" in (out / "200/final.md").read_text()
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    # another logged metric; one that no row has is a one-line error naming what was logged
    assert main(["plot", str(tmp_path / "b"), "--out", str(out / "u"), "--metric", "update"]) == 0
    assert "| rware-tiny-2ag | acpo | 1 | 4.00 (n=1) |" in (out / "u/final.md").read_text()
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "b"), "--metric", "win_rat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no metric 'win_rat'" in err[0], err
    assert "(it logged: env_steps, episode_return, seed, update)" in err[0], err


def test_plot_tells_ablations_apart_by_folder(tmp_path):
    """Folders of one env and algorithm with different settings (not seeds or run folders) are
    separate groups named by their folders; equal settings pool their seeds."""
    _run(tmp_path / "acpo", "rware-tiny-2ag", "acpo", [0], [[1, 2]], acpo={"belief": "sample"})
    _run(tmp_path / "more", "rware-tiny-2ag", "acpo", [1], [[3, 4]], acpo={"belief": "sample"})
    runs = load_runs([tmp_path / "acpo", tmp_path / "more"])
    assert list(runs) == [("rware-tiny-2ag", "acpo")] and len(runs[("rware-tiny-2ag", "acpo")]) == 2
    _run(tmp_path / "none", "rware-tiny-2ag", "acpo", [0], [[0, 0]], acpo={"belief": "none"})
    runs = load_runs([tmp_path / "acpo", tmp_path / "none"])
    assert set(runs) == {("rware-tiny-2ag", "acpo (acpo)"), ("rware-tiny-2ag", "acpo (none)")}
