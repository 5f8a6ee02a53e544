"""The warehouse study's learning runs (issue: does ACPO beat MAPPO?), in priority order, as many
as a time budget allows, several at once on one machine.

    python experiments/reports/warehouse/study.py --out DIR [--budget-s 540] [--workers 2]
        [--steps 20000000] [--seeds 8] [--envs 256] [--only NAME,...] [--tiny]

Each entry of `PLAN` is one run folder `DIR/runs/<name>` trained with `acjax train` (seeds vmapped,
hyper-parameter sweeps in the same program). Runs start in the plan's order while at least
`--min-start-s` of the budget is left; at the end of the budget the runs still going get SIGTERM,
which stops them after their current compiled call with their metrics and checkpoint written
(`summary.json` says `interrupted` and how many env steps they made): a partial curve is kept and
reported as partial. A finished run folder is skipped, an interrupted one resumed, so a second
call continues the study. `--tiny` shrinks every run to a few updates (checks this script on a
CPU). `study.log` records every start, end and signal with its time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LAMBDA = 0.95  # ppo.gae_lambda of experiments/base-warehouse.yaml


def _entry(task: str, algo: str, *overrides: str, name: str = "") -> dict:
    config = REPO / "experiments" / "rware" / f"{task}-{algo}.yaml"
    if not config.is_file():  # HAPPO has no per-task file: the base with env and algo
        config = REPO / "experiments" / "base-warehouse.yaml"
        overrides = (f"env=rware-{task}", f"algo={algo}", *overrides)
    return {"name": name or f"{task}-{algo}", "config": str(config), "overrides": list(overrides)}


def _lambda_control(task: str, n: int) -> list[dict]:
    """lambda' = lambda^(1/N) is acjax's reading; the sweep adds lambda and 1.0 (lambda^(1/N) is
    the main ACPO run), and MAPPO with gae_lambda = lambda^N has ACPO's trace length per step."""
    return [
        _entry(task, "acpo", f"sweep.acpo.lambda_micro=[{LAMBDA},1.0]", name=f"{task}-acpo-lmicro"),
        _entry(task, "mappo", f"ppo.gae_lambda={LAMBDA**n:.6f}", name=f"{task}-mappo-lambdaN"),
    ]


def _ablations(task: str) -> list[dict]:
    return [
        _entry(task, "acpo", "acpo.belief=none", name=f"{task}-acpo-belief_none"),
        _entry(task, "acpo", "acpo.belief=mode", name=f"{task}-acpo-belief_mode"),
        _entry(task, "acpo", "acpo.critic_prefix=predicted", name=f"{task}-acpo-prefix_pred"),
    ]


SMALL = ("tiny-4ag", "small-4ag", "tiny-2ag")
# the 8- and 12-agent tasks first; then the control and ablations; then the small tasks
PLAN = [
    _entry("tiny-12ag-hard", "acpo"),
    _entry("tiny-12ag-hard", "mappo"),
    _entry("small-8ag", "acpo"),
    _entry("small-8ag", "mappo"),
    _entry("tiny-12ag-hard", "acpo_nochain"),
    _entry("tiny-12ag-hard", "happo"),
    _entry("small-8ag", "acpo_nochain"),
    _entry("small-8ag", "happo"),
    *_lambda_control("small-8ag", 8),
    *_ablations("small-8ag"),
    *[_entry("small-12ag-hard", a) for a in ("acpo", "mappo", "acpo_nochain", "happo")],
    *[_entry(t, a) for t in SMALL for a in ("acpo", "mappo")],
    *[_entry(t, a) for t in SMALL for a in ("acpo_nochain", "happo")],
    *_lambda_control("tiny-4ag", 4),
    *_ablations("tiny-4ag"),
]


def _status(run: Path) -> str:
    s = run / "summary.json"
    return json.loads(s.read_text()).get("status", "") if s.is_file() else ""


def main(argv: list[str] | None = None, plan: list[dict] | None = None) -> int:
    """The study of `plan` (default `PLAN`; warehouse2/study.py passes its own)."""
    all_entries = PLAN if plan is None else plan
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--budget-s", type=float, default=540.0)
    p.add_argument("--min-start-s", type=float, default=90.0, help="start no run with less left")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=20_000_000)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--envs", type=int, default=256, help="0: each config's own num_envs")
    p.add_argument("--only", default="", help="comma-separated names of PLAN entries")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--set", action="append", default=[], help="an override for every run")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    log = open(out / "study.log", "a", buffering=1)

    def say(msg: str) -> None:
        log.write(f"{time.monotonic() - t0:7.1f}s {msg}\n")
        print(f"[study {time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    plan = all_entries
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {e["name"] for e in all_entries})
        if unknown:
            print(f"error: unknown study entries {unknown}", file=sys.stderr)
            return 2
        plan = [e for e in all_entries if e["name"] in names]
    common = [f"total_timesteps={args.steps}", f"num_seeds={args.seeds}"]
    common += [f"num_envs={args.envs}"] if args.envs else []
    common += ["progress=false"]
    if args.tiny:
        common = ["total_timesteps=2048", "num_seeds=2", "num_envs=8", "ppo.rollout_len=32"]
        common += ["updates_per_call=2", "progress=false"]
    common += args.set
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.workers > 1:  # GPU memory: each process takes a share instead of 75%
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / args.workers:.2f}")
    queue = [e for e in plan if _status(out / "runs" / e["name"]) != "finished"]
    running: dict[str, subprocess.Popen] = {}
    stopping = False
    while queue or running:
        left = args.budget_s - (time.monotonic() - t0)
        while queue and len(running) < args.workers and left > args.min_start_s and not stopping:
            e = queue.pop(0)
            run = out / "runs" / e["name"]
            cmd = [sys.executable, "-m", "acjax.cli", "train"]
            if (run / "checkpoints").is_dir():  # a resumed run keeps its own config
                cmd += [f"resume={run}"]
            else:
                cmd += ["--config", e["config"], *e["overrides"], *common, f"run_dir={run}"]
            say(f"start {e['name']}: {' '.join(cmd[3:])}")
            with open(out / f"{e['name']}.log", "a") as f:
                proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
            running[e["name"]] = proc
        if not stopping and left <= 0:
            stopping = True
            for name, proc in running.items():
                say(f"budget spent: SIGTERM to {name}")
                proc.send_signal(signal.SIGTERM)
            say(f"left unstarted: {[e['name'] for e in queue]}")
            queue.clear()
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                s = out / "runs" / name / "summary.json"
                info = json.loads(s.read_text()) if s.is_file() else {}
                say(
                    f"end {name}: exit {proc.returncode}, {info.get('status', '?')}, "
                    f"{info.get('env_steps', 0):,} steps, {info.get('wall_seconds') or 0:.0f} s, "
                    f"final {info.get('final_return_mean')}"
                )
                del running[name]
        time.sleep(1.0)
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
