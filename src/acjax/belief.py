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
calls of shrinking width). Both chains take their draws from `chain_noise`, made for a whole
step at once (agent j's own action, and agent i's prediction of a_j for j < i), so the
triangular chain gives the actions, log-probabilities, inputs and memories of
`belief_chain_square` (the reference: one `lax.scan` over j in which every agent evaluates its
network at every micro-step), to float32 rounding where the network's shapes differ.

The inputs enter the first layer linearly, so that layer's product is split by input block
(`acjax.nets.FirstLayer`): each agent's observation is multiplied once per step, and a
prediction's product is added to the rows after it when its slot is written; a GRU's products
with the agent's memory are likewise computed once per step (`acjax.chain_net.ChainNet`), and a
micro-step runs only the id, the prefix's products and the layers above (`_shared_chain`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from acjax.chain_net import ChainNet


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


def chain_noise(head, key: jax.Array, batch: tuple[int, ...], n: int, mode: str):
    """All the draws of one step of the chain, made at once (`head.noise`; on XLA:CPU each
    random call is a loop of its own, so 2N calls inside the chain cost more than its networks):
    own [1, *batch, N, ...], agent j's own action in row j; predictions [1, *batch, N(N-1)/2,
    ...] (None unless mode is `sample`), agent i's prediction of a_j (j < i) in row
    `pred_row(j, n) + i - j - 1`."""
    k_own, k_pred = jax.random.split(key)
    own = head.noise(k_own, (*batch, n))
    pred = head.noise(k_pred, (*batch, n * (n - 1) // 2)) if mode == "sample" else None
    return own, pred


def pred_row(j: int, n: int) -> int:
    """The first row of the predictions of a_j (by agents j+1..N-1) in `chain_noise`'s array."""
    return j * (n - 1) - j * (j - 1) // 2


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
    `mode` (the argmax, or the Gaussian's mean), `soft` (the predicted probability vector
    itself, as the authors' code feeds it; discrete actions) or `none` (empty prefix, ablation).
    Agent i's own action respects its mask; predictions of a discrete a_j are unmasked (agent i
    cannot see j's mask) unless `belief_mask`; predictions of a continuous a_j use j's true
    dimensions.
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

    own_noise, packed = chain_noise(head, key, batch, n, mode)
    if packed is not None:  # per micro-step j, over all N rows: agents j+1.. read theirs
        ax = len(batch) + 1
        pred_noise = jnp.stack(
            [
                jnp.concatenate(
                    [
                        jnp.zeros_like(jax.lax.slice_in_dim(own_noise, 0, j + 1, axis=ax)),
                        jax.lax.slice_in_dim(packed, pred_row(j, n), pred_row(j + 1, n), axis=ax),
                    ],
                    axis=ax,
                )
                for j in range(n)
            ]
        )
    else:
        pred_noise = jnp.zeros((n,))

    def step(carry, inp):
        prefix, actions, logp, x_own, h_own = carry
        j, noise = inp
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n, n))
        x = policy_inputs(obs, ids, prefix)
        h_new, out = step_fn(hidden, x, reset)
        own = head.dist(out, mask)
        a_own = head.draw(own, own_noise)
        is_j = agents == j
        actions = jnp.where(rows(is_j, actions), a_own, actions)
        logp = jnp.where(is_j, own.log_prob(a_own), logp)
        x_own = jnp.where(is_j[:, None], x, x_own)
        h_own = jnp.where(is_j[:, None], h_new, h_own)
        if mode != "none":
            pred = head.prediction_dist(out, mask[..., j, None, :], belief_mask)
            if mode == "soft":
                enc = pred.probs
            else:
                enc = head.encode(head.draw(pred, noise) if mode == "sample" else pred.mode())
            write = (agents[:, None] > j) & (slots[None, :] == j)  # [N(i), N-1]
            prefix = jnp.where(write[..., None], enc[..., None, :], prefix)
        return (prefix, actions, logp, x_own, h_own), None

    prefix = empty_prefix((*batch, n), n, head.slot_dim)
    x0 = policy_inputs(obs, jnp.broadcast_to(jnp.eye(n), (*batch, n, n)), prefix)
    init = (prefix, head.zeros((*batch, n)), jnp.zeros((*batch, n)), x0, hidden)
    (_, actions, logp, inputs, hidden), _ = jax.lax.scan(step, init, (agents, pred_noise))
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
    factor_first: bool = True,
):
    """`belief_chain_square`'s results (same arguments, same keys) on the triangular schedule:
    micro-step j evaluates the networks of agents j..N-1 only, `step_fn.rows(j)` (a step on
    inputs [..., N - j, D]; a plain function without `rows` falls back to the square schedule).
    The draws are the reference's (`chain_noise`). With `factor_first` (where the network allows
    it, `acjax.chain_net.ChainNet.of`) what does not change along an agent's micro-steps is
    computed once per step: its observation's product with the first layer and its memory's
    side of a GRU (`_shared_chain`); the sums differ from the whole product in float32 rounding
    only. Without it every micro-step evaluates whole networks (`_rows_chain`)."""
    rows_of = getattr(step_fn, "rows", None)
    if rows_of is None:
        return belief_chain_square(step_fn, head, obs, mask, hidden, reset, key, mode, belief_mask)
    cnet = ChainNet.of(step_fn, obs.shape[-1], head.slot_dim) if factor_first else None
    chain = _rows_chain if cnet is None else _shared_chain
    return chain(cnet or step_fn, head, obs, mask, hidden, reset, key, mode, belief_mask)


def _predict(head, out, mask_j, noise, mode: str, belief_mask: bool):
    """Agents i > j's predictions of a_j from their outputs [..., N - j - 1, out], encoded
    for their prefix slot j [..., N - j - 1, S]."""
    pred = head.prediction_dist(out, mask_j, belief_mask)
    if mode == "sample":
        return head.encode(head.draw(pred, noise))
    if mode == "soft":
        return pred.probs
    return head.encode(pred.mode())


def _pred_noise(pred_noise, j: int, n: int, ax: int):
    if pred_noise is None:
        return None
    lo = pred_row(j, n)
    return jax.lax.slice_in_dim(pred_noise, lo, lo + n - 1 - j, axis=ax + 1)


def _rows_chain(step_fn, head, obs, mask, hidden, reset, key, mode, belief_mask):
    """The triangular chain with whole networks at every micro-step."""
    *batch, n, _ = obs.shape
    batch, ax = tuple(batch), len(batch)  # ax: the agent axis
    row = lambda x, j, a=ax: jax.lax.index_in_dim(x, j, a, keepdims=False)  # noqa: E731
    rows = lambda x, lo, a=ax: jax.lax.slice_in_dim(x, lo, None, axis=a)  # noqa: E731
    prefix = empty_prefix((*batch, n), n, head.slot_dim)
    own_noise, pred_noise = chain_noise(head, key, batch, n, mode)
    actions, logps, inputs, memories = [], [], [], []
    for j in range(n):
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n - j, n))
        x = policy_inputs(rows(obs, j), ids, rows(prefix, j))
        h_new, out = step_fn.rows(j)(rows(hidden, j), x, reset)
        inputs.append(row(x, 0))
        # out: rows j..N-1; agent j acts on row 0, agents j+1.. predict a_j on the others
        own = head.dist(row(out, 0), row(mask, j))
        a_own = head.draw(own, row(own_noise, j, ax + 1))
        actions.append(a_own)
        logps.append(own.log_prob(a_own))
        memories.append(row(h_new, 0))
        if mode != "none" and j < n - 1:
            noise = _pred_noise(pred_noise, j, n, ax)
            enc = _predict(head, rows(out, 1), mask[..., j, None, :], noise, mode, belief_mask)
            prefix = prefix.at[(slice(None),) * ax + (slice(j + 1, None), j)].set(enc)
    stack = lambda xs: jnp.stack(xs, axis=ax)  # noqa: E731
    return stack(actions), stack(logps), stack(inputs), stack(memories)


def _shared_chain(cnet, head, obs, mask, hidden, reset, key, mode, belief_mask):
    """The triangular chain on a split network (`acjax.chain_net.ChainNet`): `pre` holds the
    first layer's pre-activation of the agents still to act, W_obs o + b plus the products of
    the predictions written so far; it loses its first row at every micro-step. The stored
    inputs are built once at the end: agent i's prefix slots are final when it acts."""
    *batch, n, _ = obs.shape
    batch, ax = tuple(batch), len(batch)  # ax: the agent axis
    row = lambda x, j, a=ax: jax.lax.index_in_dim(x, j, a, keepdims=False)  # noqa: E731
    rows = lambda x, lo, a=ax: jax.lax.slice_in_dim(x, lo, None, axis=a)  # noqa: E731
    own_noise, pred_noise = chain_noise(head, key, batch, n, mode)
    pre, mem = cnet.begin(obs, hidden, reset)
    actions, logps, memories, slots = [], [], [], []
    for j in range(n):
        h_new, out = cnet.rows(j, pre + cnet.first.id_row(j, j), mem)
        # out: rows j..N-1; agent j acts on row 0, agents j+1.. predict a_j on the others
        own = head.dist(row(out, 0), row(mask, j))
        a_own = head.draw(own, row(own_noise, j, ax + 1))
        actions.append(a_own)
        logps.append(own.log_prob(a_own))
        memories.append(row(hidden, j) if h_new is None else row(h_new, 0))
        if j == n - 1:
            break
        pre = rows(pre, 1)
        if mode == "none":
            slots.append(jnp.zeros((*batch, n - 1 - j, head.slot_dim), jnp.float32))
            continue
        noise = _pred_noise(pred_noise, j, n, ax)
        enc = _predict(head, rows(out, 1), mask[..., j, None, :], noise, mode, belief_mask)
        slots.append(enc)  # [..., N - j - 1, S]: slot j of agents j+1..
        pre = pre + cnet.first.slot(j, enc, j + 1)
    stack = lambda xs: jnp.stack(xs, axis=ax)  # noqa: E731
    ids = jnp.broadcast_to(jnp.eye(n, dtype=jnp.float32), (*batch, n, n))
    inputs = policy_inputs(obs, ids, _prefix(slots, batch, n, head.slot_dim))
    return stack(actions), stack(logps), inputs, stack(memories)


def _prefix(slots: list, batch: tuple, n: int, slot_dim: int) -> jax.Array:
    """The prefixes [..., N, N-1, S] from slot j's column of agents j+1.. (slots[j]), zero
    above: agent i's slots j < i hold its predictions, the others are empty."""
    if not slots:  # one agent: no slot
        return jnp.zeros((*batch, n, 0, slot_dim), jnp.float32)
    cols = []
    for j, enc in enumerate(slots):
        zeros = jnp.zeros((*batch, j + 1, slot_dim), enc.dtype)
        cols.append(jnp.concatenate([zeros, enc], axis=len(batch)))
    return jnp.stack(cols, axis=len(batch) + 1)
