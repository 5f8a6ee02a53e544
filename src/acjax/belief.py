"""ACPO's belief chain (ACPO.md section 2; paper Section 4 and Appendix L).

Agent i never sees the actions of agents 0..i-1. It approximates its belief over them by
predicting them with its own policy network, feeding each prediction into the next:

    a~_j ~ pi_i(. | o_i, id=j, a~_{<j})   for j < i,      a_i ~ pi_i(. | o_i, id=i, a~_{<i})

Policy inputs are (own observation, one-hot id, the prefix as one-hots in N-1 fixed slots with
slots >= j zero). The chain is one `lax.scan` over the micro-step j = 0..N-1 in which every agent
evaluates its network at once (agents with j < i store a prediction in slot j, agent j samples its
own action, agents with j > i do nothing): N batched network calls, no loop over agents.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from acjax.nets import masked_categorical


def policy_inputs(obs: jax.Array, ids: jax.Array, prefix: jax.Array) -> jax.Array:
    """obs [..., O], ids [..., N], prefix [..., N-1, A] -> [..., O + N + (N-1)A] (usually
    with an agent axis in `...`)."""
    flat = prefix.reshape(*prefix.shape[:-2], -1)
    return jnp.concatenate([obs, ids, flat], axis=-1)


def split_inputs(x: jax.Array, num_agents: int, num_actions: int):
    """Inverse of `policy_inputs`: (obs, ids, prefix)."""
    n, a = num_agents, num_actions
    obs_dim = x.shape[-1] - n - (n - 1) * a
    prefix = x[..., obs_dim + n :].reshape(*x.shape[:-1], n - 1, a)
    return x[..., :obs_dim], x[..., obs_dim : obs_dim + n], prefix


def belief_chain(
    logits_fn: Callable[[jax.Array], jax.Array],
    obs: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    num_actions: int,
    mode: str = "sample",
    belief_mask: bool = False,
):
    """Act with the belief chain.

    logits_fn maps policy inputs [..., N, D] to logits [..., N, A] (agent i's network in row i).
    mode: `sample` (predictions sampled, as in the paper), `mode` (argmax) or `none` (empty
    prefix, ablation). Agent i's own action respects its mask; predictions of a_j are unmasked
    (agent i cannot see j's mask) unless `belief_mask`.
    Returns (actions [..., N], log_probs [..., N], inputs [..., N, D]) where inputs are exactly
    those each agent used for its own action (its predicted prefix included).
    """
    *batch, n, _ = obs.shape
    batch = tuple(batch)
    agents, slots = jnp.arange(n), jnp.arange(n - 1)

    def step(carry, inp):
        prefix, actions, logp, x_own = carry
        j, k = inp
        k_own, k_pred = jax.random.split(k)
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n, n))
        x = policy_inputs(obs, ids, prefix)
        logits = logits_fn(x)
        own = masked_categorical(logits, mask)
        a_own = own.sample(seed=k_own)
        is_j = agents == j
        actions = jnp.where(is_j, a_own, actions)
        logp = jnp.where(is_j, own.log_prob(a_own), logp)
        x_own = jnp.where(is_j[:, None], x, x_own)
        if mode != "none":
            pred = masked_categorical(logits, mask[..., j, None, :] if belief_mask else None)
            a_pred = pred.sample(seed=k_pred) if mode == "sample" else pred.mode()
            write = (agents[:, None] > j) & (slots[None, :] == j)  # [N(i), N-1]
            prefix = jnp.where(
                write[..., None], jax.nn.one_hot(a_pred, num_actions)[..., None, :], prefix
            )
        return (prefix, actions, logp, x_own), None

    prefix = jnp.zeros((*batch, n, n - 1, num_actions), obs.dtype)
    x0 = policy_inputs(obs, jnp.broadcast_to(jnp.eye(n), (*batch, n, n)), prefix)
    init = (prefix, jnp.zeros((*batch, n), jnp.int32), jnp.zeros((*batch, n)), x0)
    (_, actions, logp, inputs), _ = jax.lax.scan(step, init, (agents, jax.random.split(key, n)))
    return actions, logp, inputs
