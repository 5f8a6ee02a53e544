"""Builds the second round of the warehouse study's report from its committed data: figures,
tables and the numbers of the conclusion, so that nothing in it is typed by hand.

    python experiments/reports/warehouse2/report.py        (or: make report-warehouse2)

Reads every `data/*.tgz` beside this file (`runs/<name>/` folders of `study.py`'s PLAN entries,
with `study.log` and the logs; the machine is the archive's name), and writes `figures/<machine>/
<task>/` (curves via `acjax.plot`), `results.md` (every table) and the blocks between the
`results:warehouse2`, `ablations:warehouse2` and `diagnostics:warehouse2` markers of README.md.
The statistics are the first round's (`experiments/reports/warehouse/report.py`):

- final return per seed: the mean episode return over the last 10% of a run's updates
  (`acjax.plot.final_return`), for two compared runs of one machine at the fewest env steps
  both reached;
- a difference: of the means over seeds, with a 95% percentile bootstrap interval (10,000
  resamples of the seeds of each run, numpy seed 0: `diff_ci`);
- diagnostics: each run's metrics over the last 10% of its updates, averaged over seeds.

A PLAN entry with no run folder in any archive is listed as "not run".
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


first = _load("warehouse_report", HERE.parent / "warehouse" / "report.py")
study = _load("warehouse2_study", HERE / "study.py")

from acjax.plot import final_return, load_runs, mean_and_se, plot  # noqa: E402

STUDY = "warehouse2"
DIAGNOSTICS = ("adv_var", "prefix_sens", "pred_match", "entropy", "belief_loss", "kl", "kl_coef")
NAMES = [e["name"] for e in study.PLAN]
TASKS = [n.removesuffix("-authors-acpo") for n in NAMES if n.endswith("-authors-acpo")]
# the ablation table: (run, its reference); the differences are run - reference
ABLATIONS = [
    # on the authors' setup: the paper's-text pieces instead of the authors'; the trace control
    ("tiny-4ag-authors-acpo-paper_pieces", "tiny-4ag-authors-acpo"),
    ("tiny-4ag-authors-acpo-paper_pieces", "tiny-4ag-authors-mappo"),
    ("tiny-4ag-authors-mappo-lambdaN", "tiny-4ag-authors-mappo"),
    # on the first round's setup: each ingredient alone, against acjax's ACPO and MAPPO
    ("tiny-4ag-acpo", "tiny-4ag-mappo"),
    ("tiny-4ag-acpo-belief_net", "tiny-4ag-acpo"),
    ("tiny-4ag-acpo-belief_net", "tiny-4ag-mappo"),
    ("tiny-4ag-acpo-lambda", "tiny-4ag-acpo"),
    ("tiny-4ag-acpo-lambda", "tiny-4ag-mappo"),
    ("tiny-4ag-mappo-lambdaN", "tiny-4ag-mappo"),
    ("tiny-4ag-acpo-lambda", "tiny-4ag-mappo-lambdaN"),
    ("tiny-4ag-dense-acpo", "tiny-4ag-acpo"),
    ("tiny-4ag-dense-mappo", "tiny-4ag-mappo"),
    ("tiny-4ag-dense-acpo", "tiny-4ag-dense-mappo"),
    ("tiny-4ag-backbone-acpo", "tiny-4ag-acpo"),
    ("tiny-4ag-backbone-mappo", "tiny-4ag-mappo"),
    ("tiny-4ag-backbone-acpo", "tiny-4ag-backbone-mappo"),
    # the paper's other baselines on the authors' tiny-2ag-easy, against MAPPO (HATRPO: HAPPO)
    *[(f"tiny-2ag-easy-authors-{a}", "tiny-2ag-easy-authors-mappo") for a in study.BASELINES],
    ("tiny-2ag-easy-authors-hatrpo", "tiny-2ag-easy-authors-happo"),
]
NOT_RUN = "not run"


def load(data: Path, into: Path) -> dict[str, dict[str, Path]]:
    """{machine: {PLAN name: run folder}} of the archives in `data`, unpacked under `into`."""
    out = {}
    for machine, root in first.unpack(data, into):
        out[machine] = {p.name: p for p in sorted((root / "runs").iterdir()) if p.is_dir()}
    return out


def _env(run: Path) -> str:
    return re.search(r"^env: (.+)$", (run / "config.yaml").read_text(), re.M).group(1)


def seed_finals(run: Path, at: int, metric: str = "episode_return") -> np.ndarray:
    """The final return (or `metric`) of each seed of a run folder up to env step `at`."""
    runs = load_runs([run], at, metric)
    if len(runs) != 1:
        raise ValueError(f"{run.name}: a swept run ({len(runs)} groups); the plan has none")
    return np.array([final_return(c) for c in next(iter(runs.values())).values()])


def _mean_se(f: np.ndarray | None) -> str:
    if f is None:
        return NOT_RUN
    m, se = mean_and_se(f)
    return f"{m:.2f} ± {se:.2f}"


def compare(run: Path | None, ref: Path | None, names=("run", "reference")) -> list[str]:
    """The table cells of `run` against `ref` (either may be None: not run): env steps compared
    (the fewest both reached), env steps reached, seeds, each one's final return (mean ± s.e.)
    and run - ref [95% bootstrap interval] with which is higher where the interval excludes 0."""
    present = [p for p in (run, ref) if p is not None]
    at = min(first.last_step(p) for p in present)
    finals = [seed_finals(p, at) if p is not None else None for p in (run, ref)]
    cells = [
        f"{at:,}",
        " / ".join(f"{first.last_step(p):,}" if p else NOT_RUN for p in (run, ref)),
        " / ".join(str(len(f)) if f is not None else "-" for f in finals),
        *map(_mean_se, finals),
    ]
    if run is None or ref is None:
        return [*cells, "-"]
    d, lo, hi = first.diff_ci(*finals)
    verdict = f"{names[0]} higher" if lo > 0 else f"{names[1]} higher" if hi < 0 else "no clear"
    return [*cells, f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]: {verdict}"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main_table(runs: dict[str, dict[str, Path]]) -> list[str]:
    """Per task and machine, the authors' ACPO against the authors' MAPPO."""
    lines = [
        "| task | machine | env steps compared | env steps reached (ACPO / MAPPO) | seeds "
        "(ACPO / MAPPO) | ACPO | MAPPO | ACPO - MAPPO [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        acpo, mappo = f"{task}-authors-acpo", f"{task}-authors-mappo"
        rows = [
            _row([task, m, *compare(r.get(acpo), r.get(mappo), ("ACPO", "MAPPO"))])
            for m, r in runs.items()
            if acpo in r or mappo in r
        ]
        lines += rows or [_row([task, "-", NOT_RUN, *["-"] * 5])]
    return lines


def ablation_table(runs: dict[str, dict[str, Path]]) -> list[str]:
    """Each ablation run present in the data against its reference, and the PLAN entries that
    are in no archive."""
    lines = [
        "| run | reference | machine | env steps compared | env steps reached (run / reference) "
        "| seeds (run / reference) | run | reference | run - reference [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ref in ABLATIONS:
        for m, r in runs.items():
            if name in r:
                envs = {_env(p) for p in (r[name], r.get(ref)) if p is not None}
                note = f" ({' vs '.join(sorted(envs))})" if len(envs) > 1 else ""
                lines.append(_row([name, ref + note, m, *compare(r[name], r.get(ref))]))
    absent = [n for n in NAMES if not any(n in r for r in runs.values())]
    if absent:
        lines += ["", f"Not run: {', '.join(f'`{n}`' for n in absent)}."]
    return lines


def diagnostics_table(runs: dict[str, dict[str, Path]]) -> list[str]:
    """Each run's diagnostics over the last 10% of its updates, columns only for those logged."""
    rows = []
    for m, r in runs.items():
        for name, p in r.items():
            at = first.last_step(p)
            d = first.diagnostics(p, at, {}, DIAGNOSTICS)
            rows.append((m, name, at, seed_finals(p, at), d))
    keys = [k for k in DIAGNOSTICS if any(d[k] is not None for *_, d in rows)]
    lines = [
        _row(["run", "machine", "env steps reached", "seeds", "final return", *keys]),
        "|---|---|---|---|---|" + "---|" * len(keys),
    ]
    for m, name, at, f, d in rows:
        cells = [name, m, f"{at:,}", str(len(f)), _mean_se(f), *(first.fmt(d[k]) for k in keys)]
        lines.append(_row(cells))
    return lines


def _task(name: str) -> str:
    return max((t for t in TASKS if name.startswith(f"{t}-")), key=len, default=name)


def figures(runs: dict[str, dict[str, Path]], out: Path) -> list[str]:
    """Draw each machine's and task's curves (whole runs) into `out/<machine>/<task>/`; the
    markdown lines that show them."""
    lines = []
    for m, r in runs.items():
        tasks: dict[str, list[Path]] = {}
        for name, p in r.items():
            tasks.setdefault(_task(name), []).append(p)
        for task, paths in tasks.items():
            folder = plot(paths, out / m / task)
            for png in sorted(folder.glob("curves-*.png")):
                lines.append(f"![{task} ({m})]({png.relative_to(out.parent)})")
    return lines


def build(data: Path = HERE / "data", figures_dir: Path | None = None) -> dict[str, list[str]]:
    """{"results": the main table, "ablations": ..., "diagnostics": ...} from `data/*.tgz`;
    with `figures_dir` the figures drawn there and their markdown under "figures"."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = load(data, Path(tmp))
        out = {
            "results": main_table(runs),
            "ablations": ablation_table(runs),
            "diagnostics": diagnostics_table(runs),
        }
        if figures_dir is not None:
            out["figures"] = figures(runs, figures_dir)
    return out


def write(here: Path, study: str, title: str, sections: list[tuple[str, str]], make) -> int:
    """A report's main: `make(figures_dir=here / "figures")`'s tables ({key: lines}) written to
    `here/results.md` under `title` and each (heading, key) of `sections` ("figures": the
    curves), and the README's `<key>:<study>` blocks filled with the other keys' tables."""
    try:
        tables = make(figures_dir=here / "figures")
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    parts = [title]
    for heading, key in sections:
        parts += [heading, ("\n\n" if key == "figures" else "\n").join(tables[key])]
    (here / "results.md").write_text("\n\n".join(parts) + "\n")
    readme = here / "README.md"
    blocks = {k: tables[k] for _, k in sections if k != "figures"}
    readme.write_text(first.fill(readme.read_text(), blocks, study))
    print(f"wrote {here / 'results.md'}, {here / 'figures'}/ and the README's blocks")
    return 0


def main() -> int:
    title = "# Warehouse study, second round: every table (generated by `report.py` from `data/`)"
    sections = [
        ("## ACPO against MAPPO, both as the authors ran them", "results"),
        ("## Ablations", "ablations"),
        ("## Diagnostics (last 10% of each run's updates, mean over seeds)", "diagnostics"),
        ("## Curves", "figures"),
    ]
    return write(HERE, STUDY, title, sections, build)


if __name__ == "__main__":
    sys.exit(main())
