"""Replay a trained policy: one episode of a run's policy in its world, written as a GIF.

    acjax render RUN_DIR [--out FILE.gif] [--steps 200] [--seed-index 0]

The run's config and its latest checkpoint give the policy (seed `seed_index` of a sweep); the
episode samples actions as training does. Multi-agent MuJoCo worlds are drawn by MuJoCo's
renderer with every agent's limbs in its own colour (`acjax.envs.render.mujoco_frames`), the
warehouse port by `acjax.envs.render.render_rgb`, SMAX by SMAX's own matplotlib drawing
(`acjax.envs.jaxmarl_world.smax_frames`).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from acjax.algos import REGISTRY as ALGO_REGISTRY
from acjax.config import ConfigError, load_config


def policy_episode(trainer, world, params, steps: int, key: jax.Array):
    """Run the policy in one unwrapped `world` for at most `steps` steps (the episode's end
    stops it): (the world states before every step, the team return)."""
    act = jax.jit(trainer.act)
    step = jax.jit(world.step)
    k_reset, key = jax.random.split(key)
    state, ts = jax.jit(world.reset)(k_reset)
    hidden = trainer.actor.initial_hidden((1,))
    states, total = [], 0.0
    for t in range(steps):
        key, k = jax.random.split(key)
        _, env_actions, hidden = act(
            params, ts.obs[None], ts.action_mask[None], k, hidden, jnp.asarray([t == 0])
        )
        states.append(state)
        state, ts = step(state, env_actions[0])
        total += float(ts.reward)
        if bool(ts.done):
            break
    return states, total


def frames_of(world, states: list, width: int = 320, height: int = 240) -> tuple[list, float]:
    """Frames of an episode's states and their frame rate."""
    from acjax.envs import render
    from acjax.envs.mamujoco import MaMuJoCo

    if isinstance(world, MaMuJoCo):
        qpos = np.stack([np.asarray(s[0].pipeline_state.q) for s in states])
        return render.mujoco_frames(world, qpos, width, height), 1.0 / float(world.brax.dt)
    if hasattr(world, "layout") or hasattr(world, "warehouse_view"):  # the warehouses
        return [render.render_rgb(world, s) for s in states], 8.0
    if getattr(world, "metrics", None) == ("win_rate",) and hasattr(world, "env"):  # SMAX
        from acjax.envs.jaxmarl_world import SMAXWorld, smax_frames

        if isinstance(world, SMAXWorld):
            return smax_frames(world, states), 4.0
    raise ValueError(
        f"no renderer for {world.spec.name} (multi-agent MuJoCo, the warehouses and SMAX have one)"
    )


def render_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    steps: int = 200,
    seed_index: int = 0,
    seed: int = 0,
    max_fps: float = 30.0,
) -> tuple[Path, float, int]:
    """Write a GIF of one episode of a run's latest policy, of at most `steps` steps: (its path,
    the return, the steps drawn; as many as asked when the episode goes on beyond them)."""
    from acjax.checkpoint import Checkpointer
    from acjax.envs.registry import make
    from acjax.envs.render import write_gif
    from acjax.harness import make_trainer

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"render: {run_dir} has no config.yaml (not a run folder)")
    cfg = load_config(run_dir / "config.yaml", [])
    if ALGO_REGISTRY[cfg.algo].family == "valuebased":
        raise ConfigError(f"render: {cfg.algo} runs (value-based) are not supported yet")
    world = make(cfg.env, cfg)
    trainer = make_trainer(cfg, env=world)
    if not 0 <= seed_index < trainer.num_runs:  # a sweep's runs, value-major
        raise ConfigError(
            f"render: seed index {seed_index} not in a run of {trainer.num_runs} seeds/runs"
        )
    learner, runner = trainer.init()
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.keep_checkpoints)
    last = ckpt.latest()
    if last is None:
        raise FileNotFoundError(f"render: no checkpoint in {run_dir / 'checkpoints'}")
    learner, _ = ckpt.restore(last, (learner, runner))
    ckpt.close()
    params = jax.tree.map(lambda x: np.asarray(x)[seed_index], learner.params)
    states, total = policy_episode(trainer, world, params, steps, jax.random.key(seed))
    frames, fps = frames_of(world, states)
    stride = max(1, int(np.ceil(fps / max_fps)))  # GIF viewers slow down faster frame rates
    out = Path(out) if out else run_dir / f"episode-update{last}.gif"
    return write_gif(None, frames[::stride], out, fps=round(fps / stride)), total, len(states)
