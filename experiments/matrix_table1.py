"""Fraction of vmapped seeds that reach the optimum (C, C) of the paper's Table 1 game.

Each algorithm trains `num_seeds` seeds (one vmapped program) from a near-uniform initial
policy; afterwards each seed's policy acts 1000 times and a seed counts as reaching (C, C) when
at least 90% of its joint actions are (C, C). Writes benchmarks/results/matrix_table1.json.

    python experiments/matrix_table1.py [--algos mappo acpo ...] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from acjax.config import load_config  # noqa: E402
from acjax.train import make_trainer  # noqa: E402

HERE = Path(__file__).resolve().parent


def joint_action_frequencies(trainer, learner, samples: int = 1000) -> np.ndarray:
    """[seeds, A, A]: empirical frequency of each joint action under each seed's policy."""
    spec = trainer.spec
    obs = jnp.ones((samples, spec.num_agents, spec.obs_dim))
    mask = jnp.ones((samples, spec.num_agents, spec.num_actions), bool)

    def one(params, key):
        actions, _, _ = trainer.act(params["actor"], obs, mask, key)
        joint = actions[:, 0] * spec.num_actions + actions[:, 1]
        return jnp.bincount(joint, length=spec.num_actions**2) / samples

    keys = jax.random.split(jax.random.PRNGKey(123), trainer.cfg.num_seeds)
    freq = jax.jit(jax.vmap(one))(learner.params, keys)
    return np.asarray(freq).reshape(-1, spec.num_actions, spec.num_actions)


def run(algo: str, overrides: list[str]) -> dict:
    cfg = load_config(HERE / "matrix" / f"table1-{algo}.yaml", ["progress=false", *overrides])
    trainer = make_trainer(cfg)
    learner, runner = trainer.init()
    t0 = time.perf_counter()
    for k in trainer.chunk_sizes():
        learner, runner, metrics = trainer.compile(learner, runner, k)(learner, runner)
        # one multi-device program in flight at a time: XLA:CPU can deadlock its collectives
        # when several are queued on a small thread pool
        jax.block_until_ready(metrics)
    freq = joint_action_frequencies(trainer, learner)
    cc = freq[:, 2, 2]
    greedy = [np.unravel_index(np.argmax(f), f.shape) for f in freq]
    counts = {
        f"({'ABC'[a]}, {'ABC'[b]})": sum(g == (a, b) for g in greedy)
        for a in range(3)
        for b in range(3)
    }
    return {
        "algo": algo,
        "num_seeds": cfg.num_seeds,
        "total_timesteps": cfg.total_timesteps,
        "fraction_reaching_CC": float(np.mean(cc >= 0.9)),
        "mean_prob_CC": float(np.mean(cc)),
        "most_frequent_joint_action": {k: int(v) for k, v in counts.items() if v},
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", nargs="+", default=["mappo", "ippo", "acpo", "acpo_nochain"])
    parser.add_argument("--out", default=str(HERE.parent / "benchmarks/results/matrix_table1.json"))
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    results = [run(a, args.overrides) for a in args.algos]
    for r in results:
        print(json.dumps(r), file=sys.stderr)
    Path(args.out).write_text(
        json.dumps({"device": str(jax.devices()[0]), "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
