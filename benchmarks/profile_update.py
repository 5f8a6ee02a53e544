"""Where one PPO update's time goes, piece by piece, on this machine (issue 13's profile).

    python benchmarks/profile_update.py [--envs 64] [--rollout 128] [--agents 4 12] [--reps 5]
        [--algos mappo acpo] [--env WORLD-{n}] [--set key=value ...] [--out FILE.md]

At the benchmark's settings (jumanji-rware-tiny-Nag, 64 envs x 128 steps, MLP 128-128 actor and
critic, 4 epochs x 2 minibatches, one device), each piece of one update is compiled on its own
and timed on the same inputs (a stored rollout), all pieces of all programs in alternation,
`--reps` rounds, medians:

  update      the trainer's whole update (what a training call does per update)
  rollout     acting + environment step, T steps (`PPOTrainer.rollout`)
  env         the environment alone over T steps (AutoReset, random valid actions)
  acting      the acting piece alone over the T stored observations (ACPO: the belief chain)
  critic      the critic over the rollout and the bootstrap values
  advantages  the algorithm's advantages (MAPPO: GAE over T; ACPO: chained GAE over T*N)
  ppo         the optimization phase (epochs x minibatches, actor and critic)

`acpo-square` is ACPO with the reference belief chain (every agent's network at every
micro-step, `acjax.belief.belief_chain_square`), to measure the triangular schedule;
`acpo-unsplit` the triangular chain without the split first layer (`acjax.nets.FirstLayer`).
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from acjax.algos.acpo import BeliefChain  # noqa: E402
from acjax.belief import belief_chain, belief_chain_square  # noqa: E402
from acjax.config import load_config  # noqa: E402
from acjax.harness import make_trainer
from acjax.runner import AXIS  # noqa: E402

PIECES = ("update", "rollout", "env", "acting", "critic", "advantages", "ppo")


@dataclass(frozen=True)
class SquareChain(BeliefChain):
    """ACPO's acting with the reference schedule (every agent at every micro-step)."""

    def act(self, policy, head, obs, mask, hidden, reset, key):
        return belief_chain_square(
            policy, head, obs, mask, hidden, reset, key, self.mode, self.belief_mask
        )


@dataclass(frozen=True)
class UnsplitChain(BeliefChain):
    """ACPO's acting on the triangular schedule with the whole first-layer product at every
    micro-step (`belief_chain(..., factor_first=False)`)."""

    def act(self, policy, head, obs, mask, hidden, reset, key):
        return belief_chain(
            policy, head, obs, mask, hidden, reset, key, self.mode, self.belief_mask, False
        )


CHAINS = {"square": SquareChain, "unsplit": UnsplitChain}


def trainer(
    algo: str, n: int, envs: int, rollout: int, chain: str | None = None,
    env: str = "jumanji-rware-tiny-{n}ag", extra: tuple = (),
):  # fmt: skip
    cfg = load_config(
        None,
        [
            "env=" + env.format(n=n),
            f"algo={algo}",
            f"num_envs={envs}",
            f"ppo.rollout_len={rollout}",
            f"total_timesteps={envs * rollout * 100}",
            "devices=1",
            "progress=false",
            *extra,
        ],
    )
    tr = make_trainer(cfg)
    if chain:
        a = tr.algo.acting
        tr.algo = tr.algo._replace(
            acting=CHAINS[chain](a.n, a.slot_dim, a.mode, a.belief_mask, a.aux_coef)
        )
    return tr


def pieces(tr) -> dict:
    """{piece: (fn, args)}: jitted functions of one run (leading axis 1, named AXIS)."""
    learner, runner = tr.init()
    vm = lambda f: jax.jit(jax.vmap(f, axis_name=AXIS))  # noqa: E731
    env, head, algo, ppo = tr.env, tr.head, tr.algo, tr.cfg.ppo
    t = ppo.rollout_len

    def rollout(lr, rn):
        return tr.rollout(lr.params, rn, lr.key)[:2]

    runner2, traj = vm(rollout)(learner, runner)
    ctx = tr.context()

    def env_only(rn, key):
        def step(carry, k):
            s, ts = carry
            logits = jnp.where(ts.action_mask, 0.0, -jnp.inf)
            a = jax.random.categorical(k, logits, axis=-1).astype(jnp.int32)
            s, nts = jax.vmap(env.step)(s, a)
            return (s, nts), nts.reward

        s = jax.vmap(env.refresh)(rn.env_state, jax.random.split(key, tr.local_envs))
        return jax.lax.scan(step, (s, rn.timestep), jax.random.split(key, t))

    def acting(lr, tj):
        policy = tr.actor.step(lr.params["actor"])
        acting = algo.acting.bind(lr.params)

        def step(h, inp):
            obs, mask, first, k = inp
            a, logp, x, h = acting.act(policy, head, obs, mask, h, first, k)
            return h, (a, logp, x)

        h0 = tr.actor.initial_hidden((tr.local_envs,))
        keys = jax.random.split(lr.key, t)
        return jax.lax.scan(step, h0, (tj.obs, tj.mask, tj.first, keys))

    def critic(lr, tj):
        p = lr.params["critic"]
        h0 = tr.critic.initial_hidden((tr.local_envs,))
        v, h_in, h_last = ctx.critic_values(
            p, h0, tj.obs, tj.global_state, tj.action, tj.actor_in, tj.first
        )
        k = algo.critic.bootstrap_agent
        h_b = h_in if k is None else h_in[..., k, :]
        return v, ctx.bootstrap_values(p, h_b, tj.final_obs, tj.final_global_state)

    v, boot = vm(critic)(learner, traj)

    def advantages(tj, v, boot):
        return algo.advantages(tj.reward, v, boot, tj.terminated, tj.truncated)

    adv, targets = vm(advantages)(traj, v, boot)

    def optimize(lr, tj, adv, targets, v):
        h = jnp.zeros((*v.shape, tr.critic.hidden_dim))
        batch = tr.chunks(tj, adv, targets, v, h)
        p, s, c = lr.params, lr.opt_state, ctx
        if tr.kl_penalty:  # RLlib's KL penalty: the behaviour outputs and the coefficient
            c, batch, s = tr.with_kl_penalty(ctx, p, batch, s)
        elif algo.acting.reads_behaviour:
            batch = tr.behaviour_outputs(ctx, p, batch)
        return algo.optimization.optimize(c, p, s, batch, lr.value_norm, lr.key)

    def update(lr, rn):
        return tr.update(lr, rn, {})

    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    return {
        "update": (vm(update), (learner, runner2)),
        "rollout": (vm(rollout), (learner, runner2)),
        "env": (vm(env_only), (runner2, keys)),
        "acting": (vm(acting), (learner, traj)),
        "critic": (vm(critic), (learner, traj)),
        "advantages": (vm(advantages), (traj, v, boot)),
        "ppo": (vm(optimize), (learner, traj, adv, targets, v)),
    }


def measure(programs: dict, reps: int) -> dict:
    """{(label, piece): [seconds]}: warm-up, then `reps` rounds of every piece in turn."""
    calls = {}
    for label, ps in programs.items():
        for piece, (fn, args) in ps.items():
            compiled = fn.lower(*args).compile()
            calls[(label, piece)] = (compiled, args)
            jax.block_until_ready(compiled(*args))
    times = {key: [] for key in calls}
    for _ in range(reps):
        for key, (fn, args) in calls.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[key].append(time.perf_counter() - t0)
    return times


def table(times: dict, labels: list[str], names=PIECES) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    head = "| piece | " + " | ".join(f"{x} ms" for x in labels) + " |"
    lines = [head, "|---|" + "---|" * len(labels)]
    for piece in names:
        row = [f"{med[(x, piece)] * 1e3:.1f}" for x in labels]
        lines.append(f"| {piece} | " + " | ".join(row) + " |")
    parts = ("rollout", "critic", "advantages", "ppo")
    if not set(parts) | {"update"} <= set(names):
        return "\n".join(lines) + "\n"
    upd = {x: med[(x, "update")] for x in labels}
    rest = [f"{(upd[x] - sum(med[(x, p)] for p in parts)) * 1e3:.1f}" for x in labels]
    lines.append("| update - (rollout + critic + advantages + ppo) | " + " | ".join(rest) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--rollout", type=int, default=128)
    p.add_argument("--agents", type=int, nargs="+", default=[4, 12])
    p.add_argument("--algos", nargs="+", default=["mappo", "acpo", "acpo-unsplit"])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--pieces", nargs="+", default=list(PIECES), choices=PIECES)
    p.add_argument("--env", default="jumanji-rware-tiny-{n}ag", help="world, {n}: agents")
    p.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    text = []
    for n in args.agents:
        programs = {}
        for a in args.algos:
            algo, _, chain = a.partition("-")
            tr = trainer(algo, n, args.envs, args.rollout, chain or None, args.env, tuple(args.set))
            programs[a] = {k: v for k, v in pieces(tr).items() if k in args.pieces}
        load0 = os.getloadavg()[0]
        times = measure(programs, args.reps)
        load1 = os.getloadavg()[0]
        t = table(times, list(programs), args.pieces)
        title = f"{args.env.format(n=n)}, {args.envs} envs x {args.rollout}"
        title += "".join(f", {kv}" for kv in args.set)
        text.append(f"### {title} (load {load0:.1f} -> {load1:.1f})\n\n{t}")
        print(text[-1], flush=True)
        if args.out:  # after every agent count: a run cut short keeps what it measured
            args.out.write_text(f"device: {jax.devices()[0].device_kind}\n\n" + "\n".join(text))


if __name__ == "__main__":
    main()
