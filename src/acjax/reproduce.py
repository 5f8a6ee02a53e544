"""`make reproduce TASKSET=warehouse BUDGET=<steps> SEEDS=<n>`: every algorithm on every task of
a task set, then a report folder.

    python -m acjax.reproduce --taskset warehouse --budget 2000000 --seeds 4 --out reports/x
        [key=value ...]            (overrides for every run, e.g. num_envs=32)

Task sets: `warehouse` is the paper's warehouse set on the faithful port (the 8- and 12-agent
tasks first); `smoke` is one small task with MAPPO and ACPO (tests). Each (task, algorithm) is
one run folder `OUT/runs/<task>-<algo>` trained from `experiments/rware/<task>-<algo>.yaml`
(or `experiments/base-warehouse.yaml` where there is none, as for HAPPO) with the budget and
the seeds vmapped. A finished run folder is kept and not trained again, so an interrupted
reproduction continues where it stopped (an interrupted run resumes).

The report folder holds `figures/` (`acjax plot`: curves like the paper's Figure 2 and IQM
intervals), `final.md` (final returns per task and algorithm), `runtime.md` (wall time, steps/s
and compile time per run, like the paper's Figure 5, with the device) and `report.md` tying
them together with the command that made them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TASKSETS = {
    "warehouse": [
        "rware-small-8ag",
        "rware-tiny-12ag-hard",
        "rware-small-12ag-hard",
        "rware-tiny-2ag",
        "rware-tiny-4ag",
        "rware-small-4ag",
    ],
    "smoke": ["rware-tiny-2ag"],
}
ALGOS = {"warehouse": ["mappo", "acpo", "acpo_nochain", "happo"], "smoke": ["mappo", "acpo"]}


def _config(task: str, algo: str, overrides: list[str]):
    from acjax.config import load_config

    path = REPO / "experiments" / "rware" / f"{task.removeprefix('rware-')}-{algo}.yaml"
    if path.is_file():
        return load_config(path, overrides)
    base = REPO / "experiments" / "base-warehouse.yaml"
    return load_config(base, [f"env={task}", f"algo={algo}", *overrides])


def reproduce(taskset: str, budget: int, seeds: int, out: Path, extra: list[str]) -> Path:
    from acjax.plot import plot
    from acjax.run import train

    if taskset not in TASKSETS:
        raise ValueError(f"unknown task set {taskset!r}; expected one of {', '.join(TASKSETS)}")
    out = Path(out)
    summaries = []
    for task in TASKSETS[taskset]:
        for algo in ALGOS[taskset]:
            run = out / "runs" / f"{task}-{algo}"
            done = run / "summary.json"
            if done.is_file() and json.loads(done.read_text()).get("status") == "finished":
                summaries.append(json.loads(done.read_text()))
                continue
            base = [f"total_timesteps={budget}", f"num_seeds={seeds}", "progress=false"]
            resume = [f"resume={run}"] if (run / "checkpoints").is_dir() else [f"run_dir={run}"]
            cfg = _config(task, algo, [*base, *extra, *resume])
            print(f"reproduce: {algo} on {task} ({seeds} seeds, {budget} steps)", file=sys.stderr)
            summaries.append(train(cfg))
    plot([out / "runs" / f"{s['env']}-{s['algo']}" for s in summaries], out / "figures")
    lines = [
        "| task | algorithm | seeds | env steps | wall s | steps/s (all seeds) | compile s | "
        "device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        sps = s["steps_per_second"]
        lines.append(
            f"| {s['env']} | {s['algo']} | {s['num_seeds']} | {s['env_steps']:,} | "
            f"{s['wall_seconds']:.0f} | {sps:,.0f} | {s['compile_seconds']:.1f} | "
            f"{s['device']} |"
            if sps
            else f"| {s['env']} | {s['algo']} | {s['num_seeds']} | {s['env_steps']:,} | - | - "
            f"| - | {s['device']} |"
        )
    (out / "runtime.md").write_text("\n".join(lines) + "\n")
    final = (out / "figures" / "final.md").read_text()
    (out / "final.md").write_text(final)
    command = " ".join(["python -m acjax.reproduce", *sys.argv[1:]]) if sys.argv[1:] else ""
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    (out / "report.md").write_text(
        f"# Reproduction: task set `{taskset}`\n\n"
        f"{budget:,} env steps per seed, {seeds} seeds per run"
        + (f"; `{command}`" if command else "")
        + (f"; overrides `{' '.join(extra)}`" if extra else "")
        + ".\n\n## Final returns (last 10% of updates)\n\n"
        + final
        + "\n## Run times\n\n"
        + "\n".join(lines)
        + "\n\n## Figures\n\n"
        + "\n".join(f"![{f}](figures/{f})" for f in figures)
        + "\n"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--taskset", default="warehouse", choices=sorted(TASKSETS))
    p.add_argument("--budget", type=int, default=2_000_000, help="env steps per seed")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--out", default=None, help="report folder (default reports/<taskset>)")
    p.add_argument("overrides", nargs="*", help="key=value for every run")
    args = p.parse_args(argv)
    from acjax.config import ConfigError

    out = Path(args.out or f"reports/{args.taskset}")
    try:
        reproduce(args.taskset, args.budget, args.seeds, out, args.overrides)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
