"""Stepping speed of the JAX rware port against Jumanji's RobotWarehouse and the original rware.

One env step is one step of all agents. The two JAX worlds run the same program: `jax.vmap`
over the batch inside a jitted `lax.scan` of `--scan` steps with uniformly random actions, no
resets, observations and rewards consumed (summed) so that the compiler cannot drop them; the
time is the median of `--repeats` calls after a compiling call, the two worlds' calls taken in
alternation. The original (rware 2.0.0) is stepped in Python with random actions (resets at its
500-step end are not timed).

    python benchmarks/rware_speed.py [--tasks tiny-4 small-4] [--batch 1024] [--scan 100]

Writes benchmarks/results/rware_speed.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs import warehouse_rware as wr

RESULTS = Path(__file__).resolve().parent / "results" / "rware_speed.json"


def _compile_scan(step, state, batch: int, n: int, scan: int):
    """A jitted scan of `scan` vmapped steps of `step` (unbatched) over `state` (batched), run
    once to compile; returns (roll, state, first call seconds)."""

    @jax.jit
    def roll(state, key):
        def body(carry, k):
            s, acc = carry
            actions = jax.random.randint(k, (batch, n), 0, 5)
            s, obs, reward = jax.vmap(step)(s, actions)
            return (s, acc + jnp.sum(obs) + jnp.sum(reward)), None

        (state, acc), _ = jax.lax.scan(body, (state, jnp.zeros(())), jax.random.split(key, scan))
        return state, acc

    t0 = time.perf_counter()
    state, _ = jax.block_until_ready(roll(state, jax.random.key(1)))
    return roll, state, time.perf_counter() - t0


def port_program(size: str, n: int, batch: int, scan: int):
    env = wr.make(size, n)

    def step(s, a):
        s, ts = env.step(s, a)
        return s, ts.obs, ts.reward

    states, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), batch))
    return _compile_scan(step, states, batch, n, scan)


def jumanji_program(size: str, n: int, batch: int, scan: int):
    from jumanji.environments import RobotWarehouse
    from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator

    rows, cols = wr.SIZES[size]
    generator = RandomGenerator(
        shelf_rows=rows,
        shelf_columns=cols,
        column_height=8,
        num_agents=n,
        sensor_range=1,
        request_queue_size=max(1, wr.request_queue_size(n, "normal")),
    )
    env = RobotWarehouse(generator=generator, time_limit=500)

    def step(s, a):
        s, ts = env.step(s, a)
        return s, ts.observation.agents_view, ts.reward

    states, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), batch))
    return _compile_scan(step, states, batch, n, scan)


def bench_jax(size: str, n: int, batch: int, scan: int, repeats: int) -> dict:
    """The port and Jumanji, timed in alternation (so that a change of machine load between
    them does not bias the ratio); median seconds per call of each."""
    programs = {
        "port": port_program(size, n, batch, scan),
        "jumanji": jumanji_program(size, n, batch, scan),
    }
    states = {k: v[1] for k, v in programs.items()}
    times: dict[str, list[float]] = {k: [] for k in programs}
    for r in range(repeats):
        for name, (roll, _, _) in programs.items():
            t0 = time.perf_counter()
            states[name], _ = jax.block_until_ready(roll(states[name], jax.random.key(2 + r)))
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name, (_, _, first) in programs.items():
        median = statistics.median(times[name])
        out[name] = {
            "steps_per_s": batch * scan / median,
            "median_call_s": median,
            "calls_s": times[name],
            "first_call_s (compile + run)": first,
        }
    return out


def bench_original(size: str, n: int, steps: int) -> dict:
    from rware.warehouse import RewardType, Warehouse

    rows, cols = wr.SIZES[size]
    env = Warehouse(
        cols, 8, rows, n, 0, 1, wr.request_queue_size(n, "normal"), None, 500, RewardType.INDIVIDUAL
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 5, size=(steps, n)).tolist()
    total = 0.0
    for a in actions:
        t0 = time.perf_counter()
        _, _, done, _, _ = env.step(a)
        total += time.perf_counter() - t0
        if done:
            env.reset()
    return {"steps_per_s": steps / total, "steps": steps}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["tiny-4"], help="size-N, e.g. tiny-4")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--scan", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--original-steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    results = {
        "what": "env steps/s (one step = all agents); JAX: vmap over batch in a jitted scan, "
        "random actions, no resets, obs and rewards consumed; original: Python loop",
        "batch": args.batch,
        "scan": args.scan,
        "repeats": args.repeats,
        "device": str(jax.devices()[0]),
        "num_devices": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "tasks": {},
    }
    for task in args.tasks:
        size, n = task.split("-")
        n = int(n)
        timed = bench_jax(size, n, args.batch, args.scan, args.repeats)
        port, jumanji = timed["port"], timed["jumanji"]
        original = bench_original(size, n, args.original_steps)
        results["tasks"][f"{size}-{n}ag"] = {
            "port": port,
            "jumanji": jumanji,
            "original": original,
            "port_over_jumanji": port["steps_per_s"] / jumanji["steps_per_s"],
            "port_over_original": port["steps_per_s"] / original["steps_per_s"],
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
