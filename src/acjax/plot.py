"""`acjax plot RUN [RUN ...]`: learning curves and final-return statistics over seeds.

Runs are grouped by (env, algo, swept values); the seeds of a group (the seeds of one run
folder, or of several folders with the same settings) are its samples. Written to `--out`:

- `curves-<env>.png`: mean episode return against env steps, one line per group, with a band of
  one standard error of the mean over seeds (the paper's figures);
- `iqm-<env>.png`: each group's interquartile mean (IQM) of final returns with its 95% stratified
  bootstrap confidence interval (rliable's practice, Agarwal et al. 2021, computed by `rliable`);
- `curves.csv`: the aggregated curves (env, group, env_steps, mean, standard error, seeds);
- `final.md`: a table of final returns per task and group: mean, standard error, IQM [95% CI].

A run's final return per seed is the mean episode return over the last 10% of its updates that
finished episodes (as in `summary.json`).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from acjax.config_io import did_you_mean

LAST_FRACTION = 0.1


# config keys that do not change what a run learns (where and how long it ran, its seeds)
_NOT_SETTINGS = {"run_dir", "resume", "seed", "num_seeds", "total_timesteps", "progress", "sweep"}
_NOT_SETTINGS |= {"updates_per_call", "checkpoint_interval_s", "keep_checkpoints"}
_NOT_SETTINGS |= {"devices", "split"}


def load_runs(
    paths: list[str | Path], max_steps: int | None = None, metric: str = "episode_return"
) -> dict[tuple[str, str], dict[int, list[tuple]]]:
    """{(env, group): {seed: [(env_steps, episode_return), ...]}} from run folders (with
    `metric`, that logged metric instead of the return: `win_rate` of SMAX). A group is
    the algorithm and the run's values of swept keys (`acpo ppo.lr=0.001`); folders of one env
    and algorithm whose settings differ otherwise (an ablation, a control) are told apart by
    their folder names (`acpo (tiny-4ag-acpo-belief_none)`). With `max_steps`, rows after that
    many env steps are left out (runs compared at equal steps)."""
    out: dict = defaultdict(dict)
    loaded = []
    for p in paths:
        p = Path(p)
        if not (p / "metrics.jsonl").is_file() or not (p / "config.yaml").is_file():
            raise FileNotFoundError(f"plot: {p} is not a run folder (no metrics.jsonl/config.yaml)")
        cfg = yaml.safe_load((p / "config.yaml").read_text())
        settings = {k: v for k, v in cfg.items() if k not in _NOT_SETTINGS}
        loaded.append((p, cfg, json.dumps(settings, sort_keys=True, default=str)))
    kinds = defaultdict(set)
    for _, cfg, settings in loaded:
        kinds[(cfg["env"], cfg["algo"])].add(settings)
    for p, cfg, _ in loaded:
        rows = [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines() if x]
        if rows and not any(metric in r for r in rows):  # None where logged: no episode ended
            names = sorted(rows[0])
            raise ValueError(
                f"plot: {p} has no metric '{metric}'{did_you_mean(metric, names)} "
                f"(it logged: {', '.join(names)})"
            )
        swept = sorted(_flat(cfg.get("sweep") or {}))
        name = cfg["algo"] + (f" ({p.name})" if len(kinds[(cfg["env"], cfg["algo"])]) > 1 else "")
        for r in rows:
            if max_steps is not None and r["env_steps"] > max_steps:
                continue
            label = " ".join([name, *(f"{k}={r[k]:g}" for k in swept)])
            curve = out[(cfg["env"], label)].setdefault(r["seed"], [])
            curve.append((r["env_steps"], r.get(metric)))
    return dict(out)


def _flat(d: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in d.items():
        keys += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return keys


def final_return(curve: list[tuple]) -> float:
    """The mean episode return over the last 10% of the updates that finished episodes."""
    vals = [y for _, y in sorted(curve) if y is not None and math.isfinite(y)]
    if not vals:
        return math.nan
    return float(np.mean(vals[-max(1, int(len(vals) * LAST_FRACTION)) :]))


def mean_and_se(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n); 0 for n = 1)."""
    x = np.asarray(x, float)
    n = x.shape[axis]
    se = np.std(x, axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(np.mean(x, axis))
    return np.mean(x, axis=axis), se


def iqm_with_ci(scores: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """IQM of one group's final returns (seeds x tasks) and its 95% stratified bootstrap
    interval (`rliable.library.get_interval_estimates`, percentile method)."""
    from rliable import library, metrics

    scores = np.asarray(scores, float).reshape(len(scores), -1)
    # rliable's `random_state` does not reach arch 7's bootstrap, which draws from numpy's
    # global generator: seed that (and put it back) so that the interval repeats
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        point, ci = library.get_interval_estimates(
            {"g": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps
        )
    finally:
        np.random.set_state(saved)
    return float(point["g"][0]), float(ci["g"][0, 0]), float(ci["g"][1, 0])


def aggregate_curve(seeds: dict[int, list[tuple]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env_steps, mean, standard error) over seeds at the steps every seed has; updates that
    finished no episode are carried from the last that did."""
    common = sorted(set.intersection(*(set(s for s, _ in c) for c in seeds.values())))
    ys = []
    for curve in seeds.values():
        by = dict(curve)
        last, col = math.nan, []
        for s in common:
            y = by[s]
            last = y if y is not None and math.isfinite(y) else last
            col.append(last)
        ys.append(col)
    mean, se = mean_and_se(np.asarray(ys), axis=0)
    return np.asarray(common), mean, se


def plot(
    paths: list[str | Path],
    out: str | Path,
    max_steps: int | None = None,
    metric: str = "episode_return",
) -> Path:
    """Write the figures, curves.csv and final.md for these run folders into `out` (with
    `max_steps`, of their rows up to that many env steps; with `metric`, of that logged metric
    instead of the episode return)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load_runs(paths, max_steps, metric)
    label = metric.replace("_", " ")
    final = "final return" if metric == "episode_return" else f"final {label}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    envs = sorted({env for env, _ in runs})
    table = [f"| task | algorithm | seeds | {final} (mean ± s.e.) | IQM [95% CI] |",
             "|---|---|---|---|---|"]  # fmt: skip
    with (out / "curves.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env", "group", "env_steps", "mean", "se", "seeds"])
        for env in envs:
            groups = sorted(g for e, g in runs if e == env)
            fig, ax = plt.subplots(figsize=(6, 4))
            stats = []
            for g in groups:
                seeds = runs[(env, g)]
                steps, mean, se = aggregate_curve(seeds)
                for row in zip(steps, mean, se, strict=True):
                    w.writerow([env, g, int(row[0]), float(row[1]), float(row[2]), len(seeds)])
                ax.plot(steps, mean, label=g)
                ax.fill_between(steps, mean - se, mean + se, alpha=0.25)
                finals = np.array([final_return(c) for c in seeds.values()])
                finals = finals[np.isfinite(finals)]
                if len(finals):
                    m, s = mean_and_se(finals)
                    iqm, lo, hi = iqm_with_ci(finals[:, None])
                    stats.append((g, iqm, lo, hi))
                    table.append(
                        f"| {env} | {g} | {len(finals)} | {m:.2f} ± {s:.2f} | "
                        f"{iqm:.2f} [{lo:.2f}, {hi:.2f}] |"
                        if len(finals) > 1  # one seed: no spread, no interval to give
                        else f"| {env} | {g} | 1 | {m:.2f} (n=1) | {iqm:.2f} (n=1) |"
                    )
            ax.set(xlabel="env steps", ylabel=label, title=env)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(out / f"curves-{_safe(env)}.png", dpi=120)
            plt.close(fig)
            if stats:
                fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(stats)))
                for y, (_, iqm, lo, hi) in enumerate(stats):
                    ax.errorbar(iqm, y, xerr=[[iqm - lo], [hi - iqm]], fmt="o", capsize=4)
                ax.set_yticks(range(len(stats)), [g for g, *_ in stats])
                ax.set(xlabel=f"IQM of {final} (95% stratified bootstrap CI)", title=env)
                fig.tight_layout()
                fig.savefig(out / f"iqm-{_safe(env)}.png", dpi=120)
                plt.close(fig)
    (out / "final.md").write_text("\n".join(table) + "\n")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
