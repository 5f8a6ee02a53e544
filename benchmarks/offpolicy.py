"""Throughput of the off-policy algorithms against each other and against PPO-based ACPO.

    python benchmarks/offpolicy.py [--env halfcheetah-2x3] [--calls 5] [--out DIR]
    (make bench-offpolicy)

Each algorithm's config is its file `experiments/mamujoco/<env>-<algo>.yaml` (HARL's settings:
10 environments, 50 vector steps then 50 gradient steps per update; ACPO: 20 environments x 200
steps, 15 epochs), with the warm-up off so that every timed update learns, and a replay of
100,000 transitions (sampling costs the same at any size). The programs are compiled, called
once, then timed in alternation, `--calls` rounds of `updates_per_call` updates each; the
medians give env steps per second and, for the off-policy algorithms, gradient steps per
second (critic steps; a cycle adds one actor step per `policy_freq`). `time / ACPO env step`
compares the cost of one env step of training, measured in this run.
Writes `<machine>-offpolicy.{json,md}` into `--out` (default benchmarks/results/offpolicy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax

REPO = Path(__file__).resolve().parents[1]
ALGOS = ("ac_td3", "hatd3", "maddpg", "acpo")


def program(env: str, algo: str, k: int):
    from acjax.config import load_config
    from acjax.harness import make_trainer

    path = REPO / "experiments" / "mamujoco" / f"{env}-{algo}.yaml"
    over = [f"updates_per_call={k}", "progress=false"]
    if algo != "acpo":
        over += ["td3.warmup_steps=0", "td3.buffer_size=100000"]
    cfg = load_config(path, over)
    tr = make_trainer(cfg)
    learner, runner = tr.init()
    t0 = time.perf_counter()
    fn = tr.compile(learner, runner, k)
    compile_s = time.perf_counter() - t0
    state = [learner, runner]

    def call():
        out = fn(*state)
        jax.block_until_ready(out)
        state[:] = out[:2]

    grad = getattr(tr, "cycles", 0) * getattr(tr, "policy_freq", 0) * k
    return cfg, tr, call, compile_s, grad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="halfcheetah-2x3")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--updates", type=int, default=2, help="updates per timed call")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "offpolicy"))
    args = p.parse_args(argv)
    progs = {}
    for algo in ALGOS:
        k = 1 if algo == "acpo" else args.updates
        cfg, tr, call, compile_s, grad = program(args.env, algo, k)
        call()  # warm-up
        progs[algo] = dict(call=call, times=[], compile=compile_s, grad=grad, cfg=cfg, tr=tr)
        print(f"[offpolicy] {algo}: compiled in {compile_s:.1f} s", file=sys.stderr)
    for _ in range(args.calls):
        for pr in progs.values():
            t0 = time.perf_counter()
            pr["call"]()
            pr["times"].append(time.perf_counter() - t0)
    d = jax.local_devices()[0]
    machine = f"cpu{os.cpu_count()}" if d.platform == "cpu" else d.device_kind.replace(" ", "-")
    records = []
    for algo, pr in progs.items():
        tr, med = pr["tr"], statistics.median(pr["times"])
        k = pr["cfg"].updates_per_call
        steps = k * tr.steps_per_update
        records.append(
            dict(
                algo=algo,
                env=f"mamujoco-{args.env}",
                num_envs=pr["cfg"].num_envs,
                steps_per_call=steps,
                seconds_per_call=med,
                env_steps_per_second=steps / med,
                gradient_steps_per_second=pr["grad"] / med if pr["grad"] else None,
                compile_seconds=pr["compile"],
                devices=tr.n_devices,
            )
        )
    base = next(r for r in records if r["algo"] == "acpo")
    for r in records:
        r["time_per_env_step_vs_acpo"] = (
            r["seconds_per_call"]
            / r["steps_per_call"]
            / (base["seconds_per_call"] / base["steps_per_call"])
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(machine=machine, device=str(getattr(d, "device_kind", d.platform)),
                jax=jax.__version__, python=platform.python_version(),
                load_average=os.getloadavg()[0], calls=args.calls)  # fmt: skip
    (out / f"{machine}-offpolicy.json").write_text(
        json.dumps(dict(meta=meta, records=records), indent=1) + "\n"
    )
    lines = [
        f"# Off-policy throughput on {machine} ({meta['device']}, jax {meta['jax']}, "
        f"load {meta['load_average']:.1f})",
        "",
        f"`python benchmarks/offpolicy.py --env {args.env}`; medians of {args.calls} calls timed "
        "in alternation; training steps include the gradient steps.",
        "",
        "| algo | envs | env steps/s | gradient steps/s | time / ACPO env step | compile s |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        g = r["gradient_steps_per_second"]
        lines.append(
            f"| {r['algo']} | {r['num_envs']} | {r['env_steps_per_second']:,.0f} | "
            f"{'-' if g is None else f'{g:,.1f}'} | {r['time_per_env_step_vs_acpo']:.2f} | "
            f"{r['compile_seconds']:.1f} |"
        )
    (out / f"{machine}-offpolicy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
