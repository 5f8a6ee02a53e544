"""Fraction of vmapped seeds that reach the optimum of a matrix game.

Each algorithm trains `num_seeds` seeds (one vmapped program) from a near-uniform initial
policy (configs `experiments/matrix/<game>-<algo>.yaml`); afterwards each seed's policy acts
1000 times.
- `--game table1` (the paper's Table 1): a seed reaches (C, C) when at least 90% of its joint
  actions are (C, C). Writes benchmarks/results/matrix_table1.json.
- `--game continuous` (`matrix-continuous`, a continuous climbing game): a seed reaches the
  narrow high optimum when the median of each agent's actions (as the world receives them) lies
  within two widths of it (|a - 0.6| < 0.16 for both agents); the low optimum likewise
  (|a + 0.5| < 0.8). Writes benchmarks/results/matrix_continuous.json.

    python experiments/matrix_table1.py [--game table1|continuous] [--algos mappo acpo ...]
        [key=value ...]
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
from acjax.harness import make_trainer  # noqa: E402

HERE = Path(__file__).resolve().parent


def per_seed(trainer, learner, stat, samples: int = 1000) -> np.ndarray:
    """stat(actions, to_world) of `samples` acts of each seed's policy, stacked over seeds."""
    spec = trainer.spec
    obs = jnp.ones((samples, spec.num_agents, spec.obs_dim))
    mask = jnp.ones((samples, spec.num_agents, spec.num_actions), bool)

    def one(params, key):
        return stat(*trainer.act(params, obs, mask, key)[:2])

    keys = jax.random.split(jax.random.PRNGKey(123), trainer.cfg.num_seeds)
    return np.asarray(jax.jit(jax.vmap(one))(learner.params, keys))


def joint_action_frequencies(trainer, learner) -> np.ndarray:
    """[seeds, A, A]: empirical frequency of each joint action under each seed's policy."""
    a = trainer.spec.num_actions

    def freq(actions, _):
        return jnp.bincount(actions[:, 0] * a + actions[:, 1], length=a**2) / actions.shape[0]

    return per_seed(trainer, learner, freq).reshape(-1, a, a)


def median_actions(trainer, learner) -> np.ndarray:
    """[seeds, N]: median of each agent's actions as the world receives them (1-d actions)."""
    return per_seed(trainer, learner, lambda _, to_world: jnp.median(to_world[..., 0], axis=0))


def continuous_summary(trainer, learner) -> dict:
    from acjax.envs.matrix import HIGH_OPTIMUM, HIGH_WIDTH, LOW_OPTIMUM, LOW_WIDTH

    med = median_actions(trainer, learner)
    high = np.all(np.abs(med - np.asarray(HIGH_OPTIMUM)) < 2 * HIGH_WIDTH, axis=-1)
    low = np.all(np.abs(med - np.asarray(LOW_OPTIMUM)) < 2 * LOW_WIDTH, axis=-1)
    return {
        "fraction_reaching_high_optimum": float(np.mean(high)),
        "fraction_at_low_optimum": float(np.mean(low & ~high)),
        "median_actions_per_seed": np.round(med, 3).tolist(),
    }


def table1_summary(trainer, learner) -> dict:
    freq = joint_action_frequencies(trainer, learner)
    cc = freq[:, 2, 2]
    greedy = [np.unravel_index(np.argmax(f), f.shape) for f in freq]
    counts = {
        f"({'ABC'[a]}, {'ABC'[b]})": sum(g == (a, b) for g in greedy)
        for a in range(3)
        for b in range(3)
    }
    return {
        "fraction_reaching_CC": float(np.mean(cc >= 0.9)),
        "mean_prob_CC": float(np.mean(cc)),
        "most_frequent_joint_action": {k: int(v) for k, v in counts.items() if v},
    }


def run(algo: str, overrides: list[str], game: str = "table1") -> dict:
    cfg = load_config(HERE / "matrix" / f"{game}-{algo}.yaml", ["progress=false", *overrides])
    trainer = make_trainer(cfg)
    learner, runner = trainer.init()
    t0 = time.perf_counter()
    for k in trainer.chunk_sizes():
        learner, runner, metrics = trainer.compile(learner, runner, k)(learner, runner)
        # one multi-device program in flight at a time: XLA:CPU can deadlock its collectives
        # when several are queued on a small thread pool
        jax.block_until_ready(metrics)
    summary = continuous_summary if game == "continuous" else table1_summary
    return {
        "algo": algo,
        "env": cfg.env,
        "num_seeds": cfg.num_seeds,
        "total_timesteps": cfg.total_timesteps,
        **summary(trainer, learner),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--game", default="table1", choices=["table1", "continuous"])
    parser.add_argument("--algos", nargs="+", default=["mappo", "ippo", "acpo", "acpo_nochain"])
    parser.add_argument("--out", default=None, help="default benchmarks/results/matrix_<game>.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = args.out or str(HERE.parent / f"benchmarks/results/matrix_{args.game}.json")
    results = [run(a, args.overrides, args.game) for a in args.algos]
    for r in results:
        print(json.dumps(r), file=sys.stderr)
    Path(out).write_text(
        json.dumps({"device": str(jax.devices()[0]), "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
