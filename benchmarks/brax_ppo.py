"""Brax's own single-agent PPO on a brax env: a learning and speed anchor for the MARL runs.

    python benchmarks/brax_ppo.py --env halfcheetah --backend generalized --timesteps 50000000 \
        --seeds 3 --num-envs 2048 --out benchmarks/results/brax_ppo_halfcheetah.json

Runs `brax.training.agents.ppo.train` for seeds 0..S-1 in turn, with the halfcheetah
hyper-parameters of brax's training notebook (every one a flag). At each evaluation it records
[env_steps, eval/episode_reward, seconds since train() was called] and rewrites --out, so a run
cut short keeps its curves. `steps_per_s` counts only the steps after the first training epoch
(the one that compiles), evaluations included; `brax_training_sps` is brax's own figure for the
last epoch alone (no evaluation); `train_s` is the whole train() call.

brax 0.14.2 calls `jax.device_put_replicated`, which newer jax removed; a shim is installed
below (only when the attribute is missing) before brax.training is imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

if not hasattr(jax, "device_put_replicated"):

    def _device_put_replicated(x, devices):
        """Stack `x` once per device along a new leading axis, one slice on each device."""
        mesh = jax.sharding.Mesh(np.array(devices), ("d",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
        stack = lambda a: jnp.broadcast_to(jnp.asarray(a), (len(devices), *jnp.shape(a)))
        return jax.device_put(jax.tree.map(stack, x), sharding)

    jax.device_put_replicated = _device_put_replicated

from brax import envs  # noqa: E402
from brax.training.agents.ppo import train as ppo  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="halfcheetah")
    p.add_argument("--backend", default="generalized")
    p.add_argument("--timesteps", type=int, default=50_000_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--num-evals", type=int, default=10)
    p.add_argument("--out", default="brax_ppo.json")
    p.add_argument("--num-envs", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--num-minibatches", type=int, default=32)
    p.add_argument("--episode-length", type=int, default=1000)
    p.add_argument("--unroll-length", type=int, default=20)
    p.add_argument("--num-updates-per-batch", type=int, default=8)
    p.add_argument("--reward-scaling", type=float, default=1.0)
    p.add_argument("--discounting", type=float, default=0.95)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--entropy-cost", type=float, default=1e-3)
    p.add_argument("--normalize-observations", type=int, choices=(0, 1), default=1)
    p.add_argument("--action-repeat", type=int, default=1)
    a = p.parse_args()

    if a.batch_size * a.num_minibatches % a.num_envs:
        sys.exit(
            f"error: batch_size * num_minibatches ({a.batch_size} * {a.num_minibatches}) "
            f"must be divisible by num_envs ({a.num_envs})"
        )
    hyper = dict(
        num_timesteps=a.timesteps,
        num_evals=a.num_evals,
        num_envs=a.num_envs,
        batch_size=a.batch_size,
        num_minibatches=a.num_minibatches,
        episode_length=a.episode_length,
        unroll_length=a.unroll_length,
        num_updates_per_batch=a.num_updates_per_batch,
        reward_scaling=a.reward_scaling,
        discounting=a.discounting,
        learning_rate=a.learning_rate,
        entropy_cost=a.entropy_cost,
        normalize_observations=bool(a.normalize_observations),
        action_repeat=a.action_repeat,
    )
    result = {
        "env": a.env,
        "backend": a.backend,
        "device": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "hyper": hyper,
        "seeds": [],
    }

    def write() -> None:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)

    env = envs.get_environment(a.env, backend=a.backend)
    for seed in range(a.seeds):
        rec = dict(seed=seed, curve=[], final_return=None, train_s=None, steps_per_s=None)
        result["seeds"].append(rec)
        t0 = time.perf_counter()

        def progress(steps, metrics, rec=rec, t0=t0):
            ret = float(metrics["eval/episode_reward"])
            rec["curve"].append([int(steps), ret, round(time.perf_counter() - t0, 2)])
            trained = [c for c in rec["curve"] if c[0] > 0]  # [0] of these ends the compile epoch
            if len(trained) > 1:
                (s0, _, t_0), (s1, _, t_1) = trained[0], trained[-1]
                rec["steps_per_s"] = round((s1 - s0) / (t_1 - t_0), 1)
            rec["final_return"] = ret
            if "training/sps" in metrics:  # brax's own: the last epoch alone, evals excluded
                rec["brax_training_sps"] = round(float(metrics["training/sps"]), 1)
            t = rec["curve"][-1][2]
            print(f"seed {rec['seed']} steps {steps:>9d} return {ret:8.2f} t {t:7.1f}s", flush=True)
            write()

        ppo.train(environment=env, seed=seed, progress_fn=progress, **hyper)
        rec["train_s"] = round(time.perf_counter() - t0, 2)
        write()


if __name__ == "__main__":
    main()
