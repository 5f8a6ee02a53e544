"""Builds the SMAX study's report from its committed data: figures, tables and the orderings set
beside the paper's Table 2, so that nothing in it is typed by hand (the paper's numbers excepted:
`PAPER_TABLE2`, copied from the paper).

    python experiments/reports/smax/report.py        (or: make report-smax)

Reads every `data/*.tgz` beside this file (`runs/<name>/` folders of `study.py`'s PLAN entries,
with `study.log`; the machine is the archive's name), and writes `figures/<machine>/<task>/`
(return curves via `acjax.plot`, win-rate curves in `win_rate/`), `results.md` (every table) and
the blocks between the `results:smax`, `versus:smax` and `orderings:smax` markers of README.md.
The statistics are the warehouse study's (`experiments/reports/warehouse/report.py`):

- final win rate and final return per seed: the mean of the metric over the last 10% of a run's
  updates (`acjax.plot.final_return`), taken for the runs of a task and machine at the same env
  step, the fewest any of them reached (a run that reached less than half of the median of its
  task's runs is listed, at its own steps, and left out of that step and the orderings; a run
  folder with no metrics yet is "no data");
- per algorithm: the mean ± standard error over seeds and the IQM with its 95% stratified
  bootstrap interval (`acjax.plot.iqm_with_ci`, rliable);
- against MAPPO: the difference of the means over seeds with a 95% percentile bootstrap interval
  (10,000 resamples of the seeds of each run, numpy seed 0: `diff_ci`);
- orderings: the algorithms by mean over seeds, with the paper's Table 2 (returns on the real
  SMACv2, 10 seeds, 10M steps) beside them.

A PLAN entry with no run folder in any archive is listed as "not run".
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


# the second round's report: its loader of archives, table cells and writer (and the first's)
_spec = importlib.util.spec_from_file_location(
    "warehouse2_report", HERE.parent / "warehouse2" / "report.py"
)
second = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(second)
first = second.first
study = second._load("smax_study", HERE / "study.py")

from acjax.plot import iqm_with_ci, mean_and_se, plot  # noqa: E402

STUDY = "smax"
METRICS = (("win_rate", "win rate"), ("episode_return", "return"))
NAMES = [e["name"] for e in study.PLAN]
NOT_RUN = second.NOT_RUN
NO_DATA = "no data"  # a run folder without metrics (stopped before its first update was logged)
# the paper's Table 2: mean return over 10 seeds on SMACv2 (10M steps), per map; SMAX's
# smacv2_5_units is set beside the 5_vs_5 maps, smacv2_10_units beside the 10_vs_11 maps
PAPER_COLUMNS = ("vdn", "qmix", "happo", "mappo", "acpo")
PAPER_TABLE2 = {
    m: dict(zip(PAPER_COLUMNS, row, strict=True))
    for m, row in {
        "protoss_5_vs_5": (16.20, 16.53, 15.93, 17.03, 18.21),
        "zerg_5_vs_5": (11.77, 14.33, 11.81, 11.84, 15.16),
        "protoss_10_vs_11": (14.74, 14.53, 13.39, 14.57, 15.06),
        "terran_10_vs_11": (12.19, 13.50, 10.57, 12.03, 13.35),
        "zerg_10_vs_11": (13.38, 14.61, 10.77, 12.48, 13.20),
    }.items()
}
PAPER_MAPS = {"smacv2_5_units": "_5_vs_5", "smacv2_10_units": "_10_vs_11"}


def _algo(task: str, name: str) -> str:
    return name.removeprefix(f"{task}-")


def _ordering(means: dict[str, float]) -> str:
    """`a > b = c` by mean, highest first; equal means (to 1e-9) joined by `=` in name order."""
    ranked = sorted(means.items(), key=lambda kv: (-kv[1], kv[0]))
    out = ranked[0][0]
    for (_, prev), (name, m) in zip(ranked, ranked[1:], strict=False):
        out += f" {'=' if abs(prev - m) <= 1e-9 else '>'} {name}"
    return out


def _logged(run: Path) -> bool:
    m = run / "metrics.jsonl"
    return m.is_file() and bool(m.read_text().strip())


def task_stats(runs: dict[str, Path], task: str) -> dict:
    """One task of one machine: the compared env step `at`, each run's steps reached and
    {metric: finals per seed} (at `at`, or at its own end for a run left out: `partial`)."""
    present = {_algo(task, n): p for n, p in runs.items() if n.startswith(f"{task}-")}
    present = {a: p for a, p in present.items() if _logged(p)}
    reached = {a: first.last_step(p) for a, p in present.items()}
    half = np.median(list(reached.values())) / 2
    partial = {a for a, s in reached.items() if s < half}
    at = min(s for a, s in reached.items() if a not in partial)
    finals = {
        a: {
            m: second.seed_finals(p, reached[a] if a in partial else at, metric=m)
            for m, _ in METRICS
        }
        for a, p in present.items()
    }
    return {"at": at, "reached": reached, "partial": partial, "finals": finals}


def _stat_cells(f: np.ndarray) -> list[str]:
    f = f[np.isfinite(f)]
    if not len(f):
        return ["-", "-"]
    m, se = mean_and_se(f)
    if len(f) == 1:
        return [f"{m:.2f} (n=1)", "-"]
    iqm, lo, hi = iqm_with_ci(f[:, None])
    return [f"{m:.2f} ± {se:.2f}", f"{iqm:.2f} [{lo:.2f}, {hi:.2f}]"]


def _tasks() -> list[str]:
    return list(dict.fromkeys(n.split("-")[0] for n in NAMES))


def results_table(runs: dict[str, dict[str, Path]]) -> tuple[list[str], dict]:
    """Per task, machine and algorithm: win rate and return (mean ± s.e., IQM [95% CI]); and
    {(task, machine): task_stats}."""
    head = ["task", "machine", "algorithm", "env steps compared", "env steps reached", "seeds"]
    for _, label in METRICS:
        head += [f"{label} (mean ± s.e.)", f"{label} IQM [95% CI]"]
    lines = [second._row(head), "|" + "---|" * len(head)]
    stats = {}
    for task in _tasks():
        algos = [_algo(task, n) for n in NAMES if n.startswith(f"{task}-")]
        rows = []
        for m, r in runs.items():
            if not any(f"{task}-{a}" in r for a in algos):
                continue
            s = stats[(task, m)] = task_stats(r, task)
            for a in algos:
                if a not in s["finals"]:
                    absent = NO_DATA if f"{task}-{a}" in r else NOT_RUN
                    rows.append(second._row([task, m, a, absent, *["-"] * (len(head) - 4)]))
                    continue
                f = s["finals"][a]
                step = s["reached"][a] if a in s["partial"] else s["at"]
                note = " (partial: left out)" if a in s["partial"] else ""
                cells = [task, m, a, f"{step:,}{note}", f"{s['reached'][a]:,}"]
                cells.append(str(len(f["episode_return"])))
                for metric, _ in METRICS:
                    cells += _stat_cells(f[metric])
                rows.append(second._row(cells))
        lines += rows or [second._row([task, "-", "-", NOT_RUN, *["-"] * (len(head) - 4)])]
    return lines, stats


def versus_table(stats: dict) -> list[str]:
    """Each algorithm against MAPPO of its task and machine: the differences of the mean win
    rate and return over seeds with their 95% bootstrap intervals."""
    head = ["task", "machine", "algorithm", *(f"{label} - MAPPO [95% CI]" for _, label in METRICS)]
    lines = [second._row(head), "|" + "---|" * len(head)]
    for (task, m), s in stats.items():
        ref = s["finals"].get("mappo")
        if ref is None or "mappo" in s["partial"]:
            continue
        for a, f in s["finals"].items():
            if a == "mappo" or a in s["partial"]:
                continue
            cells = [task, m, a]
            for metric, _ in METRICS:
                x, y = f[metric][np.isfinite(f[metric])], ref[metric][np.isfinite(ref[metric])]
                d, lo, hi = first.diff_ci(x, y)
                verdict = f"{a} higher" if lo > 0 else "MAPPO higher" if hi < 0 else "no clear"
                cells.append(f"{d:+.3g} [{lo:+.3g}, {hi:+.3g}]: {verdict}")
            lines.append(second._row(cells))
    return lines


def orderings_table(stats: dict) -> list[str]:
    """Per task and machine, the algorithms ordered by mean win rate and by mean return; below
    each task, the paper's Table 2 rows set beside it (return only: the table has no win rate)."""
    lines = [
        "| task | source | ordering by mean win rate | ordering by mean return |",
        "|---|---|---|---|",
    ]
    for task in _tasks():
        for (t, m), s in stats.items():
            if t != task:
                continue
            kept = {a: f for a, f in s["finals"].items() if a not in s["partial"]}
            means = {k: {a: float(np.nanmean(f[k])) for a, f in kept.items()} for k, _ in METRICS}
            row = [task, f"{m}, {s['at']:,} steps", *(_ordering(means[k]) for k, _ in METRICS)]
            lines.append(second._row(row))
        for paper_map, means in PAPER_TABLE2.items():
            if paper_map.endswith(PAPER_MAPS.get(task, "?")):
                row = [task, f"paper, {paper_map} (SMACv2, 10M)", "-", _ordering(means)]
                lines.append(second._row(row))
    return lines


def figures(runs: dict[str, dict[str, Path]], out: Path) -> list[str]:
    """Each machine's and task's curves (whole runs) of return and win rate drawn into
    `out/<machine>/<task>/` (win rate: `win_rate/`); the markdown lines that show them."""
    lines = []
    for m, r in runs.items():
        for task in _tasks():
            paths = [p for n, p in r.items() if n.startswith(f"{task}-")]
            if not paths:
                continue
            for metric, label in METRICS:
                folder = out / m / task / ("win_rate" if metric == "win_rate" else "")
                plot(paths, folder, metric=metric)
                for png in sorted(folder.glob("curves-*.png")):
                    lines.append(f"![{task}, {label} ({m})]({png.relative_to(out.parent)})")
    return lines


def build(data: Path = HERE / "data", figures_dir: Path | None = None) -> dict[str, list[str]]:
    """{"results": ..., "versus": ..., "orderings": ...} from `data/*.tgz`; with `figures_dir`
    the figures drawn there and their markdown under "figures"."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = second.load(data, Path(tmp))
        results, stats = results_table(runs)
        out = {"results": results, "versus": versus_table(stats)}
        out["orderings"] = orderings_table(stats)
        if figures_dir is not None:
            out["figures"] = figures(runs, figures_dir)
    return out


def main() -> int:
    """The warehouse study's second round's report writer on these tables."""
    title = "# SMAX study: every table (generated by `report.py` from `data/`)"
    sections = [
        ("## Win rate and return per task and algorithm", "results"),
        ("## Against MAPPO", "versus"),
        ("## Orderings, beside the paper's Table 2", "orderings"),
        ("## Curves", "figures"),
    ]
    return second.write(HERE, STUDY, title, sections, build)


if __name__ == "__main__":
    sys.exit(main())
