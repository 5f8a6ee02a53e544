"""`acjax eval RUN`: decentralized execution of a run's saved policies.

    acjax eval RUN_DIR [--episodes 32] [--steps 0] [--no-gif]

For every run of the folder (each seed, and each value combination of a sweep) the latest
checkpoint's actors play `episodes` episodes, all in one vectorized program, twice:

- sampled: actions drawn from the policies, as in training;
- greedy: every agent takes its most likely action (for ACPO, the predictions of the earlier
  agents' actions follow `acpo.belief` as in training; only each agent's own action is greedy).

Each agent acts on its own observation (and, for ACPO, on its own predictions of the earlier
agents): execution is decentralized; the critic is not used. Reported per run and mode: mean
episode return with its standard error, and the win rate where the world has one; written to
`RUN_DIR/eval.json` and printed. For the warehouse port, `--gif` (default on) also writes a GIF
of one sampled episode of the first run (`acjax.recording.render_run`).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from acjax.algos import REGISTRY as ALGO_REGISTRY
from acjax.config import ConfigError, load_config


class _Greedy:
    """A policy distribution whose samples are its mode where `greedy` (a traced bool)."""

    def __init__(self, dist, greedy):
        self.dist, self.greedy = dist, greedy

    def sample(self, seed=None):
        return jnp.where(self.greedy, self.dist.mode(), self.dist.sample(seed=seed))

    def __getattr__(self, name):
        return getattr(self.dist, name)


class GreedyHead:
    """A policy head whose distributions act greedily where `greedy` (everything else is the
    head's); one compiled program serves both modes."""

    def __init__(self, head, greedy=True):
        self.head, self.greedy = head, greedy

    def dist(self, out, mask):
        return _Greedy(self.head.dist(out, mask), self.greedy)

    def __getattr__(self, name):
        return getattr(self.head, name)


def episodes_of(trainer, world, params, episodes: int, steps: int, key, greedy: bool):
    """`episodes` first episodes of `world` under one run's policies (its learner params),
    vectorized, at most `steps` steps each (jittable): (returns [episodes], won [episodes],
    finished [episodes])."""
    head = GreedyHead(trainer.head, greedy)
    policy = trainer.actor.step(params["actor"])
    acting = trainer.algo.acting.bind(params)
    k_reset, k_run = jax.random.split(key)
    state, ts = jax.vmap(world.reset)(jax.random.split(k_reset, episodes))
    hidden = trainer.actor.initial_hidden((episodes,))

    def body(carry, k):
        state, ts, hidden, ret, over, won, first = carry
        mask = trainer.action_mask(ts.action_mask)
        actions, _, _, hidden = acting.act(policy, head, ts.obs, mask, hidden, first, k)
        state, nts = jax.vmap(world.step)(state, head.to_env(actions, mask))
        ret = ret + jnp.where(over, 0.0, nts.reward)
        won = jnp.where(over, won, nts.won & nts.done)
        over = over | nts.done
        return (state, nts, hidden, ret, over, won, jnp.zeros_like(first)), None

    z = jnp.zeros((episodes,))
    f = jnp.zeros((episodes,), bool)
    init = (state, ts, hidden, z, f, f, jnp.ones((episodes,), bool))
    (_, _, _, ret, over, won, _), _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
    return ret, won, over


def evaluate_run(
    run_dir: str | Path, episodes: int = 32, steps: int = 0, seed: int = 0, gif: bool = True
) -> dict:
    """Evaluate every run of a run folder (module docstring); returns what eval.json holds."""
    from acjax.checkpoint import Checkpointer
    from acjax.envs.registry import make
    from acjax.harness import make_trainer

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"eval: {run_dir} has no config.yaml (not a run folder)")
    if episodes < 1:
        raise ConfigError(f"eval: --episodes must be positive, got {episodes}")
    cfg = load_config(run_dir / "config.yaml", [])
    if ALGO_REGISTRY[cfg.algo].family == "valuebased":
        raise ConfigError(f"eval: {cfg.algo} runs (value-based) are not supported yet")
    world = make(cfg.env, cfg)
    trainer = make_trainer(cfg, env=world)
    learner, runner = trainer.init()
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.keep_checkpoints)
    last = ckpt.latest()
    if last is None:
        ckpt.close()
        raise FileNotFoundError(f"eval: no checkpoint in {run_dir / 'checkpoints'}")
    learner, _ = ckpt.restore(last, (learner, runner))
    ckpt.close()
    steps = steps or world.spec.max_steps
    if steps < 1:
        raise ConfigError(f"eval: {cfg.env} has no time limit; give --steps")
    play = jax.jit(lambda p, k, g: episodes_of(trainer, world, p, episodes, steps, k, g))
    has_win = "win_rate" in world.spec.metrics
    results = []
    actors = jax.tree.map(np.asarray, learner.params)
    for r, (run_seed, values) in enumerate(zip(trainer.run_seeds, trainer.run_values, strict=True)):
        params = jax.tree.map(lambda x, r=r: x[r], actors)
        row = {"seed": run_seed, **dict(zip(trainer.sweep_keys, values, strict=True))}
        for mode in ("sampled", "greedy"):
            out = play(params, jax.random.PRNGKey(seed + r), jnp.asarray(mode == "greedy"))
            ret, won, over = (np.asarray(x) for x in out)
            n = len(ret)
            row[mode] = {
                "return_mean": float(np.mean(ret)),
                "return_se": float(np.std(ret, ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
                "episodes": n,
                "finished": int(np.sum(over)),
                **({"win_rate": float(np.mean(won))} if has_win else {}),
            }
        results.append(row)
    out = {"env": cfg.env, "algo": cfg.algo, "update": last, "steps": steps, "runs": results}
    if gif and hasattr(world, "layout"):  # the warehouse port: a GIF of one episode
        from acjax.recording import render_run

        path, *_ = render_run(run_dir, run_dir / "eval-episode.gif", steps=min(steps, 200))
        out["gif"] = str(path)
    (run_dir / "eval.json").write_text(json.dumps(out, indent=2))
    return out
