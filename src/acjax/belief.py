"""ACPO's belief chain (docs/acpo.md §2; paper §4 and App. L).

Agent i never sees the actions of agents 0..i-1. It approximates its belief over them by
predicting them with its own policy network, feeding each prediction into the next:

    a~_j ~ pi_i(. | o_i, id=j, a~_{<j})   for j < i,      a_i ~ pi_i(. | o_i, id=i, a~_{<i})

Policy inputs are (own observation, one-hot id, the prefix in N-1 fixed slots with slots >= j
zero). A slot holds the action as the head encodes it: a one-hot (discrete) or [present, action
vector clipped into the bounds, padded to the largest action size] (continuous).

With a recurrent policy every query of agent i uses agent i's own memory: its predictions of the
earlier agents change the id and prefix inputs, not the memory, and agent i's memory moves on
with the step that chose its own action.

Agent i's chain needs its network at the micro-steps j = 0..i only: at micro-step j agents
i > j store a prediction in slot j and agent j samples its own action, agents i < j are done.
`belief_chain` follows this static triangular schedule, N(N+1)/2 network rows instead of N x N:
micro-step j evaluates agents j..N-1 in one batched call (`step.rows(j)`, an unrolled loop of N
calls of shrinking width). The random draws are those of `belief_chain_square` (the reference:
one `lax.scan` over j in which every agent evaluates its network at every micro-step): each
micro-step samples over all N rows with the same keys and reads the rows it needs, so both give
the same actions, log-probabilities, inputs and memories.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def policy_inputs(obs: jax.Array, ids: jax.Array, prefix: jax.Array) -> jax.Array:
    """obs [..., O], ids [..., N], prefix [..., N-1, S] -> [..., O + N + (N-1)S] (usually
    with an agent axis in `...`)."""
    flat = prefix.reshape(*prefix.shape[:-2], -1)
    return jnp.concatenate([obs, ids, flat], axis=-1)


def split_inputs(x: jax.Array, num_agents: int, slot_dim: int):
    """Inverse of `policy_inputs`: (obs, ids, prefix [..., N-1, slot_dim])."""
    n, s = num_agents, slot_dim
    obs_dim = x.shape[-1] - n - (n - 1) * s
    prefix = x[..., obs_dim + n :].reshape(*x.shape[:-1], n - 1, s)
    return x[..., :obs_dim], x[..., obs_dim : obs_dim + n], prefix


def empty_prefix(batch_shape: tuple[int, ...], num_agents: int, slot_dim: int) -> jax.Array:
    return jnp.zeros((*batch_shape, num_agents - 1, slot_dim), jnp.float32)


def belief_chain_square(
    step_fn: Callable,
    head,
    obs: jax.Array,
    mask: jax.Array,
    hidden: jax.Array,
    reset: jax.Array,
    key: jax.Array,
    mode: str = "sample",
    belief_mask: bool = False,
):
    """Act with the belief chain.

    step_fn(h, x, reset) -> (h', out) is one step of the policy network (agent i's in row i) on
    inputs [..., N, D] and memories [..., N, H]; `head` turns outputs into distributions and
    encodes actions into prefix slots. mode: `sample` (predictions sampled, as in the paper),
    `mode` (the argmax, or the Gaussian's mean) or `none` (empty prefix, ablation). Agent i's own
    action respects its mask; predictions of a discrete a_j are unmasked (agent i cannot see j's
    mask) unless `belief_mask`; predictions of a continuous a_j use j's true dimensions.
    Returns (actions, log_probs [..., N], inputs [..., N, D], memories [..., N, H]) where inputs
    are exactly those each agent used for its own action (its predicted prefix included).

    The reference schedule: every agent's network at every micro-step (`belief_chain` skips
    the rows that are not needed and gives the same results).
    """
    *batch, n, _ = obs.shape
    batch = tuple(batch)
    agents, slots = jnp.arange(n), jnp.arange(n - 1)

    def rows(sel, x):  # sel [N] broadcast over x [*batch, N, ...]
        return sel.reshape(sel.shape + (1,) * (x.ndim - len(batch) - 1))

    def step(carry, inp):
        prefix, actions, logp, x_own, h_own = carry
        j, k = inp
        k_own, k_pred = jax.random.split(k)
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n, n))
        x = policy_inputs(obs, ids, prefix)
        h_new, out = step_fn(hidden, x, reset)
        own = head.dist(out, mask)
        a_own = own.sample(seed=k_own)
        is_j = agents == j
        actions = jnp.where(rows(is_j, actions), a_own, actions)
        logp = jnp.where(is_j, own.log_prob(a_own), logp)
        x_own = jnp.where(is_j[:, None], x, x_own)
        h_own = jnp.where(is_j[:, None], h_new, h_own)
        if mode != "none":
            pred = head.prediction_dist(out, mask[..., j, None, :], belief_mask)
            a_pred = pred.sample(seed=k_pred) if mode == "sample" else pred.mode()
            write = (agents[:, None] > j) & (slots[None, :] == j)  # [N(i), N-1]
            prefix = jnp.where(write[..., None], head.encode(a_pred)[..., None, :], prefix)
        return (prefix, actions, logp, x_own, h_own), None

    prefix = empty_prefix((*batch, n), n, head.slot_dim)
    x0 = policy_inputs(obs, jnp.broadcast_to(jnp.eye(n), (*batch, n, n)), prefix)
    init = (prefix, head.zeros((*batch, n)), jnp.zeros((*batch, n)), x0, hidden)
    (_, actions, logp, inputs, hidden), _ = jax.lax.scan(
        step, init, (agents, jax.random.split(key, n))
    )
    return actions, logp, inputs, hidden


def belief_chain(
    step_fn: Callable,
    head,
    obs: jax.Array,
    mask: jax.Array,
    hidden: jax.Array,
    reset: jax.Array,
    key: jax.Array,
    mode: str = "sample",
    belief_mask: bool = False,
):
    """`belief_chain_square`'s results (same arguments, same keys) on the triangular schedule:
    micro-step j evaluates the networks of agents j..N-1 only, `step_fn.rows(j)` (a step on
    inputs [..., N - j, D]; a plain function without `rows` falls back to the square schedule).
    Distributions are sampled over all N rows (rows < j padded) so that every draw is the
    reference's."""
    rows_of = getattr(step_fn, "rows", None)
    if rows_of is None:
        return belief_chain_square(step_fn, head, obs, mask, hidden, reset, key, mode, belief_mask)
    *batch, n, _ = obs.shape
    batch = tuple(batch)
    ax = len(batch)  # the agent axis
    agents, slots = jnp.arange(n), jnp.arange(n - 1)
    row = lambda x, j: jax.lax.index_in_dim(x, j, ax, keepdims=False)  # noqa: E731
    prefix = empty_prefix((*batch, n), n, head.slot_dim)
    actions, logps, inputs, memories = [], [], [], []
    for j, k in enumerate(jax.random.split(key, n)):
        k_own, k_pred = jax.random.split(k)
        tail = lambda x: jax.lax.slice_in_dim(x, j, n, axis=ax)  # noqa: E731,B023
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n - j, n))
        x = policy_inputs(tail(obs), ids, tail(prefix))
        h_new, out = rows_of(j)(tail(hidden), x, reset)
        pad = jnp.zeros((*batch, j, out.shape[-1]), out.dtype)
        out = jnp.concatenate([pad, out], axis=ax)  # rows < j: not evaluated, not read
        own = head.dist(out, mask)
        a_own = own.sample(seed=k_own)
        actions.append(row(a_own, j))
        logps.append(row(own.log_prob(a_own), j))
        inputs.append(row(x, 0))
        memories.append(row(h_new, 0))
        if mode != "none" and j < n - 1:
            pred = head.prediction_dist(out, mask[..., j, None, :], belief_mask)
            a_pred = pred.sample(seed=k_pred) if mode == "sample" else pred.mode()
            write = (agents[:, None] > j) & (slots[None, :] == j)  # [N(i), N-1]
            prefix = jnp.where(write[..., None], head.encode(a_pred)[..., None, :], prefix)
    stack = lambda xs: jnp.stack(xs, axis=ax)  # noqa: E731
    return stack(actions), stack(logps), stack(inputs), stack(memories)
