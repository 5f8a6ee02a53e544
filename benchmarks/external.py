"""The host-callback adapter's speed against stepping the same environments directly in Python.

    python benchmarks/external.py [--out DIR] [--smoke]

Per backend (the original rware, mpe2's simple_spread) and batch size E, in one run on one
machine, alternating rounds:
- direct: a Python loop stepping E instances of the raw environment (its own `reset`/`step`,
  numpy random actions, resets where episodes end): the floor the adapter is measured against;
- adapter: the same environments as an `ExternalWorld` inside one jitted scan (random actions
  drawn in JAX), instances in this process; the ratio adapter / direct is the target (>= 0.8);
- workers: the adapter with the instances in 2 worker processes (`external.workers=2`);
- for rware, the JAX port (`rware-tiny-2ag`) at the same E and at 1024 environments, for scale;
- a slow instance (each step waits 2 ms on something outside Python, as a StarCraft II
  process makes SMACv2 wait), 8 environments: in this process against 2, 4 and 8 workers.
Writes `external.json` and `external.md` into --out (default benchmarks/results/external/).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import numpy as np

from acjax.envs.external import PoolOptions, make_pettingzoo, make_rware
from acjax.envs.registry import make as make_env
from acjax.envs.wrappers import AutoReset


def direct_rware(n_envs: int, steps: int, n_agents: int = 2) -> float:
    import gymnasium as gym
    import rware  # noqa: F401

    envs = [
        gym.make(f"rware-tiny-{n_agents}ag-v2", max_steps=500, disable_env_checker=True)
        for _ in range(n_envs)
    ]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        acts = rng.integers(0, 5, (n_envs, n_agents))
        for e, a in zip(envs, acts, strict=True):
            _, _, done, trunc, _ = e.step(tuple(int(x) for x in a))
            if done or trunc:
                e.reset()
    return n_envs * steps / (time.perf_counter() - t0)


def direct_mpe(n_envs: int, steps: int) -> float:
    from mpe2 import simple_spread_v3

    envs = [simple_spread_v3.parallel_env() for _ in range(n_envs)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    agents = list(envs[0].possible_agents)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        acts = rng.integers(0, 5, (n_envs, len(agents)))
        for e, a in zip(envs, acts, strict=True):
            _, _, term, trunc, _ = e.step({k: int(x) for k, x in zip(agents, a, strict=True)})
            if all(term.values()) or all(trunc.values()):
                e.reset()
    return n_envs * steps / (time.perf_counter() - t0)


class SlowInstance:
    """Waits 2 ms per step outside Python (the GIL released), like an instance whose simulator
    is another process; 2 agents, 4 actions."""

    def __init__(self):
        self.obs, self.mask = np.zeros((2, 8), np.float32), np.ones((2, 4), bool)

    def reset(self, seed):
        return self.obs, self.obs.reshape(-1), self.mask

    def step(self, actions):
        time.sleep(0.002)
        return self.obs, self.obs.reshape(-1), self.mask, 0.0, False, False


def slow_section(steps: int) -> list[dict]:
    from acjax.envs.core import EnvSpec
    from acjax.envs.external import ExternalWorld, HostPool

    spec = EnvSpec("slow", num_agents=2, obs_dim=8, state_dim=16, num_actions=4, max_steps=0)
    inst = [SlowInstance() for _ in range(8)]
    t0 = time.perf_counter()
    for _ in range(steps):
        for x in inst:
            x.step(np.zeros(2, int))
    direct = 8 * steps / (time.perf_counter() - t0)
    out = []
    for workers in (0, 2, 4, 8):
        world = ExternalWorld(HostPool(SlowInstance, spec, PoolOptions(workers=workers)))
        sps = world_speed(world, 8, steps)[0]
        world.pool.close()
        out.append(
            {
                "backend": "slow (2 ms)",
                "num_envs": 8,
                "workers": workers,
                "steps_per_second": sps,
                "direct": direct,
                "over_direct": sps / direct,
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def world_speed(world, n_envs: int, steps: int, rounds: int = 1) -> tuple[float, float]:
    """(env steps/s of a jitted scan of random actions over n_envs, compile seconds)."""
    env = AutoReset(world)
    spec = world.spec

    def body(state, k):
        a = jax.random.randint(k, (n_envs, spec.num_agents), 0, spec.num_actions)
        state, ts = jax.vmap(env.step)(state, a)
        return state, ts.reward

    roll = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, steps))[1].sum())
    state, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n_envs))
    t0 = time.perf_counter()
    roll = roll.lower(state, jax.random.PRNGKey(1)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(roll(state, jax.random.PRNGKey(1)))  # warm (workers started)
    best = 0.0
    for r in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(roll(state, jax.random.PRNGKey(2 + r)))
        best = max(best, n_envs * steps / (time.perf_counter() - t0))
    return best, compile_s


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "external"))
    p.add_argument("--smoke", action="store_true", help="tiny sizes (tests)")
    args = p.parse_args(argv)
    sizes, steps, rounds = ((2,), 20, 1) if args.smoke else ((1, 8, 32), 400, 3)
    records = []
    for n_envs in sizes:
        for backend in ("rware-tiny-2ag", "mpe2.simple_spread_v3"):
            rware_world = backend.startswith("rware")
            rows: dict[str, list[float]] = {"direct": [], "adapter": [], "workers": []}
            make = (
                (lambda o: make_rware("tiny", 2, "normal", options=o))
                if rware_world
                else (lambda o: make_pettingzoo("mpe2.simple_spread_v3", {}, o))
            )
            in_proc, workers = make(PoolOptions()), make(PoolOptions(workers=2))
            compile_s = None
            for _ in range(rounds):  # alternating, best of the rounds
                d = direct_rware(n_envs, steps) if rware_world else direct_mpe(n_envs, steps)
                rows["direct"].append(d)
                a, compile_s = world_speed(in_proc, n_envs, steps)
                rows["adapter"].append(a)
                rows["workers"].append(world_speed(workers, n_envs, steps)[0])
            workers.pool.close()
            rec = {k: max(v) for k, v in rows.items()}
            rec.update(
                backend=backend,
                num_envs=n_envs,
                steps=steps,
                rounds=rounds,
                adapter_over_direct=rec["adapter"] / rec["direct"],
                workers_over_direct=rec["workers"] / rec["direct"],
                adapter_compile_s=compile_s,
            )
            if rware_world:
                rec["jax_port"] = world_speed(make_env("rware-tiny-2ag"), n_envs, steps, 2)[0]
            records.append(rec)
            print(json.dumps(rec), flush=True)
    port_1024 = None if args.smoke else world_speed(make_env("rware-tiny-2ag"), 1024, 200, 2)[0]
    slow = [] if args.smoke else slow_section(100)
    meta = {
        "machine": f"{platform.node()} {platform.machine()}, {jax.device_count()} CPU device(s)",
        "date": time.strftime("%Y-%m-%d"),
        "jax": jax.__version__,
        "jax_port_1024_envs": port_1024,
        "command": "python benchmarks/external.py" + (" --smoke" if args.smoke else ""),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "external.json").write_text(
        json.dumps({"meta": meta, "records": records, "slow": slow}, indent=2)
    )
    lines = [
        "# The host-callback adapter against direct Python stepping",
        "",
        f"{meta['machine']}, jax {meta['jax']}, {meta['date']}; `{meta['command']}`. Env steps/s, "
        f"best of {rounds} alternating rounds of {steps} steps; random actions.",
        "",
        "| backend | envs | direct | adapter | adapter / direct | 2 workers | workers / direct "
        "| JAX port |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        port = f"{r['jax_port']:,.0f}" if "jax_port" in r else "-"
        lines.append(
            f"| {r['backend']} | {r['num_envs']} | {r['direct']:,.0f} | {r['adapter']:,.0f} | "
            f"{r['adapter_over_direct']:.2f} | {r['workers']:,.0f} | "
            f"{r['workers_over_direct']:.2f} | {port} |"
        )
    if port_1024:
        lines += ["", f"The JAX port with 1024 environments: {port_1024:,.0f} steps/s."]
    if slow:
        lines += [
            "",
            "A slow instance (2 ms per step outside Python, as a simulator in another process), "
            "8 environments:",
            "",
            "| workers | steps/s | / direct in-process loop |",
            "|---|---|---|",
        ]
        lines += [
            f"| {r['workers']} | {r['steps_per_second']:,.0f} | {r['over_direct']:.2f} |"
            for r in slow
        ]
    (out / "external.md").write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
