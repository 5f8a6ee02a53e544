"""Builds the warehouse study's report from its committed data: figures, tables and the
conclusion's numbers, so that nothing in it is typed by hand.

    python experiments/reports/warehouse/report.py        (or: make report-warehouse)

Reads every `data/*.tgz` beside this file (run folders made by `study.py`: metrics.jsonl,
config.yaml, summary.json and the logs; `data/README.md` says which machine made which), and
writes `figures/`, `results.md` (all tables) and the block between the `results:warehouse`
markers in the repository's README.md. The statistics:

- final return per seed: the mean episode return over the last 10% of a run's updates
  (`acjax.plot.final_return`), taken at the same env step for the runs of a task (the fewest
  any of them reached: runs stopped by the time budget are compared where all have data);
- ACPO - MAPPO: the difference of the means over seeds with a 95% percentile bootstrap
  interval (10,000 resamples of the seeds of each algorithm, numpy seed 0);
- diagnostics (metrics of the same updates, averaged over seeds): `adv_var` (each agent's
  variance of the raw advantages, mean over agents), `adv_var_ratio` (last agent's over
  first's), `prefix_sens` (the chained critic's change under a counterfactual prefix, in
  standard deviations of its value) and `pred_match` (share of predicted earlier actions equal
  to the actual ones).
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "src"))

from acjax.plot import LAST_FRACTION, final_return, load_runs, mean_and_se, plot  # noqa: E402

DIAGNOSTICS = ("adv_var", "adv_var_ratio", "prefix_sens", "pred_match", "entropy")
ORDER = ("mappo", "acpo", "acpo_nochain", "happo")


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]


def last_step(run: Path) -> int:
    return max(r["env_steps"] for r in _rows(run))


def diff_ci(a: np.ndarray, b: np.ndarray, reps: int = 10_000, seed: int = 0):
    """mean(a) - mean(b) and its 95% percentile bootstrap interval (seeds resampled within each
    group)."""
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), (reps, len(a)))
    ib = rng.integers(0, len(b), (reps, len(b)))
    boots = a[ia].mean(1) - b[ib].mean(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def _groups(run: Path, at: int) -> dict[str, tuple[np.ndarray, dict]]:
    """{name: (final returns per seed, {swept key: value})} of one run folder up to step `at`;
    a swept run gives one entry per value (`acpo-lmicro acpo.lambda_micro=1`)."""
    out = {}
    for (_, label), seeds in load_runs([run], at).items():
        swept = dict(kv.split("=") for kv in label.split(" ")[1:])
        name = " ".join([run.name, *label.split(" ")[1:]])
        out[name] = (np.array([final_return(c) for c in seeds.values()]), swept)
    return out


def diagnostics(run: Path, at: int, swept: dict, keys: tuple = DIAGNOSTICS) -> dict:
    """{metric: its mean over the last 10% of the run's updates up to step `at` and over seeds,
    None where the run does not log it} for the `keys` (of the rows with these swept values)."""
    rows = [r for r in _rows(run) if r["env_steps"] <= at]
    rows = [r for r in rows if all(f"{r[k]:g}" == v for k, v in swept.items())]
    updates = sorted({r["update"] for r in rows})
    last = set(updates[-max(1, int(len(updates) * LAST_FRACTION)) :])
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if r["update"] in last and r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}g}"


def task_section(task: str, runs: dict[str, Path], figures: Path, machine: str, draw: bool):
    """Tables of one task (and with `draw` its figures); returns (markdown, {group: finals},
    the env step of the comparison)."""
    at = min(last_step(p) for p in runs.values())
    if draw:
        plot(list(runs.values()), figures, max_steps=at)
        plot(list(runs.values()), figures / "full")  # whole curves (stopped runs end early)
    finals, rows = {}, []
    lines = [
        f"### {task} ({machine})",
        "",
        f"Final returns at {at:,} env steps per seed (the last 10% of updates up to there).",
        "",
        "| run | seeds | env steps reached | final return (mean ± s.e.) | "
        + " | ".join(DIAGNOSTICS)
        + " |",
        "|---|---|---|---|" + "---|" * len(DIAGNOSTICS),
    ]
    for p in runs.values():
        for group, (f, swept) in _groups(p, at).items():
            group = group.removeprefix(f"{task}-")
            finals[group] = f
            m, se = mean_and_se(f)
            d = diagnostics(p, at, swept)
            row = f"| {group} | {len(f)} | {last_step(p):,} | {m:.2f} ± {se:.2f} | " + " | ".join(
                fmt(d[k]) for k in DIAGNOSTICS
            )
            lines.append(row + " |")
            rows.append(f"| {task} | {machine} |{row[1:]} |")
    if "mappo" in finals:
        lines += ["", "| vs MAPPO | difference of means [95% bootstrap CI] |", "|---|---|"]
        for name in finals:
            if name != "mappo":
                d, lo, hi = diff_ci(finals[name], finals["mappo"])
                lines.append(f"| {name} - mappo | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] |")
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", f"rware-{task}")
    rel = figures.relative_to(HERE)
    lines += ["", f"![{task}]({rel}/curves-{safe}.png)", ""]
    return "\n".join(lines), finals, at, rows


def block(lines: list[str], name: str = "results", study: str = "warehouse") -> str:
    """A generated block of the READMEs (`results`: the headline table; `diagnostics`), made by
    `experiments/reports/<study>/report.py`."""
    return (
        f"<!-- {name}:{study} (generated by experiments/reports/{study}/report.py) -->\n"
        + "\n".join(lines)
        + f"\n<!-- /{name}:{study} -->"
    )


def fill(text: str, blocks: dict[str, list[str]], study: str = "warehouse") -> str:
    """text with its generated blocks ({marker name: table lines}) replaced by these tables."""
    for name, lines in blocks.items():
        pattern = re.compile(rf"<!-- {name}:{study} .*?<!-- /{name}:{study} -->", re.S)
        text = pattern.sub(lambda _, n=name, x=lines: block(x, n, study), text)
    return text


def unpack(data: Path, into: Path) -> list[tuple[str, Path]]:
    """[(machine, its folder holding `runs/`)] of the study archives `data/*.tgz`, unpacked under
    `into`; the machine is an archive's name (`h200-2026-11-27`)."""
    archives = sorted(data.glob("*.tgz"))
    if not archives:
        raise FileNotFoundError(f"no study data in {data}")
    out = []
    for archive in archives:
        machine = archive.name.removesuffix(".tgz")
        with tarfile.open(archive) as t:
            t.extractall(into / machine, filter="data")
        out.append((machine, into / machine))
    return out


def build(draw: bool = True) -> tuple[list[str], list[str], list[str]]:
    """(the headline table, the diagnostics table, each task's section) from `data/*.tgz`;
    with `draw` the figures are written too."""
    sections, headline = [], []
    diag = [
        "| task | machine | run | seeds | env steps reached | final return (mean ± s.e.) | "
        + " | ".join(DIAGNOSTICS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(DIAGNOSTICS),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for machine, root in unpack(HERE / "data", Path(tmp)):
            tasks: dict[str, dict[str, Path]] = {}
            for run in sorted((root / "runs").iterdir()):
                cfg = (run / "config.yaml").read_text()
                task = re.search(r"^env: rware-(.+)$", cfg, re.M).group(1)
                name = run.name.removeprefix(f"{task}-")
                tasks.setdefault(task, {})[name] = run
            for task in sorted(tasks, key=lambda t: -int(re.search(r"(\d+)ag", t).group(1))):
                runs = dict(
                    sorted(tasks[task].items(), key=lambda kv: (ORDER + (kv[0],)).index(kv[0]))
                )
                figures = HERE / "figures" / machine / task
                text, finals, at, rows = task_section(task, runs, figures, machine, draw)
                sections.append(text)
                diag += rows
                if "acpo" in finals and "mappo" in finals:
                    d, lo, hi = diff_ci(finals["acpo"], finals["mappo"])
                    headline.append((task, machine, at, finals, d, lo, hi))
    head = [
        "| task | machine | env steps per seed | seeds | MAPPO | ACPO | ACPO - MAPPO [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, machine, at, finals, d, lo, hi in headline:
        ma, sa = mean_and_se(finals["mappo"])
        mc, sc = mean_and_se(finals["acpo"])
        verdict = "ACPO higher" if lo > 0 else "MAPPO higher" if hi < 0 else "no clear difference"
        head.append(
            f"| {task} | {machine} | {at / 1e6:.1f}M | {len(finals['acpo'])} | {ma:.1f} ± {sa:.1f} "
            f"| {mc:.1f} ± {sc:.1f} | {d:+.1f} [{lo:+.1f}, {hi:+.1f}]: {verdict} |"
        )
    return head, diag, sections


def main() -> int:
    try:
        head, diag, sections = build()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    (HERE / "results.md").write_text(
        "# Warehouse study: every table (generated by `report.py` from `data/`)\n\n"
        + "\n".join(head)
        + "\n\n"
        + "\n".join(sections)
    )
    for readme in (REPO / "README.md", HERE / "README.md"):
        readme.write_text(fill(readme.read_text(), {"results": head, "diagnostics": diag}))
    print(f"wrote {HERE / 'results.md'}, {HERE / 'figures'}/ and the READMEs' results blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
