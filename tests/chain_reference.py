"""The belief chain as it was before the shared-projection chain (`acjax.belief._shared_chain`):
the reference of tests/test_acpo.py and of the restore test. Verbatim the `belief_chain` of
src/acjax/belief.py at commit 2025a50, renamed: the triangular schedule with the first layer
split by input block, a prediction's slot product added with `.at[].add`, the stored inputs
built at every micro-step."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from acjax.belief import belief_chain_square, chain_noise, empty_prefix, policy_inputs, pred_row


def belief_chain_before(
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
    it, `BoundStep.first_layer`) the first layer's product is not recomputed at each micro-step:
    each agent's observation is multiplied once and a slot's product added when a prediction is
    written (`FirstLayer`); the sums differ from the whole product in float32 rounding only."""
    rows_of = getattr(step_fn, "rows", None)
    if rows_of is None:
        return belief_chain_square(step_fn, head, obs, mask, hidden, reset, key, mode, belief_mask)
    *batch, n, obs_dim = obs.shape
    batch = tuple(batch)
    ax = len(batch)  # the agent axis
    row = lambda x, j, a=ax: jax.lax.index_in_dim(x, j, a, keepdims=False)  # noqa: E731
    rows = lambda x, lo, a=ax: jax.lax.slice_in_dim(x, lo, None, axis=a)  # noqa: E731
    prefix = empty_prefix((*batch, n), n, head.slot_dim)
    first_of = getattr(step_fn, "first_layer", None) if factor_first else None
    first = first_of(obs_dim, head.slot_dim) if first_of else None
    if first is not None:  # the first layer's product, kept up to date as slots are written
        pre, rest = first.base(obs), step_fn.after_first()
    own_noise, pred_noise = chain_noise(head, key, batch, n, mode)
    actions, logps, inputs, memories = [], [], [], []
    for j in range(n):
        if first is None:
            ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n - j, n))
            x = policy_inputs(rows(obs, j), ids, rows(prefix, j))
            h_new, out = rows_of(j)(rows(hidden, j), x, reset)
            inputs.append(row(x, 0))
        else:
            z = rows(pre, j) + first.id_row(j, j)
            h_new, out = rest.rows(j)(rows(hidden, j), z, reset)
            ids = jnp.broadcast_to(jax.nn.one_hot(j, n), (*batch, n))
            inputs.append(policy_inputs(row(obs, j), ids, row(prefix, j)))
        # out: rows j..N-1; agent j acts on row 0, agents j+1.. predict a_j on the others
        own = head.dist(row(out, 0), row(mask, j))
        a_own = head.draw(own, row(own_noise, j, ax + 1))
        actions.append(a_own)
        logps.append(own.log_prob(a_own))
        memories.append(row(h_new, 0))
        if mode != "none" and j < n - 1:
            pred = head.prediction_dist(rows(out, 1), mask[..., j, None, :], belief_mask)
            if mode == "sample":
                lo = pred_row(j, n)
                noise = jax.lax.slice_in_dim(pred_noise, lo, lo + n - 1 - j, axis=ax + 1)
                enc = head.encode(head.draw(pred, noise))
            elif mode == "soft":
                enc = pred.probs
            else:
                enc = head.encode(pred.mode())
            # enc [..., N - j - 1, S]: slot j of agents j+1..
            prefix = prefix.at[(slice(None),) * ax + (slice(j + 1, None), j)].set(enc)
            if first is not None:
                pre = pre.at[(slice(None),) * ax + (slice(j + 1, None),)].add(
                    first.slot(j, enc, j + 1)
                )
    stack = lambda xs: jnp.stack(xs, axis=ax)  # noqa: E731
    return stack(actions), stack(logps), stack(inputs), stack(memories)
