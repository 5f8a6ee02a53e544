"""acjax's MPE through PettingZoo (`pettingzoo:mpe2.simple_spread_v3`, mpe2 1.1.1) against JaxMARL's
MPE (`jaxmarl:MPE_simple_spread_v3`, jaxmarl 0.2.0): both started from the same positions
(JaxMARL's reset copied into mpe2's world), stepped with the same discrete actions, and their
observations, rewards and episode lengths compared step by step. Prints a markdown summary.

    python experiments/reports/jaxmarl/mpe_compare.py [--episodes 5] [--seed 0]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np


def compare(episodes: int, seed: int, **mpe2_kwargs) -> dict:
    from mpe2 import simple_spread_v3

    from acjax.envs.jaxmarl_world import import_jaxmarl

    jaxmarl = import_jaxmarl()
    jenv = jaxmarl.make("MPE_simple_spread_v3")
    penv = simple_spread_v3.parallel_env(**mpe2_kwargs)
    agents = jenv.agents
    reset, step = jax.jit(jenv.reset), jax.jit(jenv.step_env)
    rng = np.random.default_rng(seed)
    worst = {"obs": 0.0, "reward": 0.0, "obs_first_step": 0.0}
    lengths = []
    for ep in range(episodes):
        obs_j, st = reset(jax.random.PRNGKey(seed + ep))
        penv.reset(seed=seed + ep)
        world = penv.unwrapped.world
        for i, ent in enumerate(world.agents + world.landmarks):
            ent.state.p_pos = np.asarray(st.p_pos[i], np.float64).copy()
            ent.state.p_vel = np.asarray(st.p_vel[i], np.float64).copy()
        t, done_j, done_p = 0, False, False
        while not (done_j and done_p) and t < 40:
            a = rng.integers(0, 5, len(agents))
            if not done_j:
                act = {x: int(a[i]) for i, x in enumerate(agents)}
                obs_j, st, rew_j, dones, _ = step(jax.random.PRNGKey(t), st, act)
                done_j = bool(dones["__all__"])
                len_j = t + 1
            if not done_p:
                pa = {x: int(a[i]) for i, x in enumerate(penv.agents)}
                obs_p, rew_p, term, trunc, _ = penv.step(pa)
                done_p = all(term[x] or trunc[x] for x in term) or not penv.agents
                len_p = t + 1
            if not (done_j or done_p) or t == 0:
                names = list(obs_p)
                oj = np.stack([np.asarray(obs_j[x]) for x in agents])
                op = np.stack([np.asarray(obs_p[x]) for x in names])
                rj = np.array([float(rew_j[x]) for x in agents])
                rp = np.array([float(rew_p[x]) for x in names])
                d_obs = float(np.abs(oj - op).max()) if oj.shape == op.shape else np.inf
                worst["obs"] = max(worst["obs"], d_obs)
                worst["reward"] = max(worst["reward"], float(np.abs(rj - rp).max()))
                if t == 0:
                    worst["obs_first_step"] = max(worst["obs_first_step"], d_obs)
            t += 1
        lengths.append((len_j, len_p))
    return {"worst": worst, "lengths": lengths, "obs_dims": (oj.shape, op.shape)}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = []
    for label, kw in (
        ("mpe2 defaults", {}),
        ("mpe2 dynamic_rescaling=False", {"dynamic_rescaling": False}),
    ):
        out = compare(args.episodes, args.seed, **kw)
        w = out["worst"]
        rows.append(
            f"| {label} | {out['obs_dims'][0]} / {out['obs_dims'][1]} | {w['obs_first_step']:.3g} "
            f"| {w['obs']:.3g} | {w['reward']:.3g} | {sorted(set(out['lengths']))} |"
        )
    print(
        "| mpe2 setting | obs shape JaxMARL / mpe2 | max obs diff, step 1 | max obs diff, "
        "all steps | max reward diff | episode length JaxMARL, mpe2 |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
