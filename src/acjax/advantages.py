"""Advantage estimators with the contract of docs/acpo.md §4 (time-major, batch last).

`bootstrap_values[t]` is the value of the state after step t: of the next state while the
episode goes on, of the true final state (before auto-reset) when it was truncated; it is ignored
when the episode terminated. No credit crosses an episode end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _reverse_discounted_sum(deltas: jax.Array, decay: jax.Array) -> jax.Array:
    """A_k = delta_k + decay_k * A_{k+1}, A_K = 0, as one reverse scan over the leading axis."""

    def body(carry, x):
        delta, d = x
        carry = delta + d * carry
        return carry, carry

    _, out = jax.lax.scan(body, jnp.zeros_like(deltas[0]), (deltas, decay), reverse=True)
    return out


def gae(rewards, values, bootstrap_values, terminated, truncated, gamma, lam):
    """Generalized advantage estimation (Schulman et al. 2016) with termination vs truncation.

    delta_t = r_t + gamma * (1 - terminated_t) * B_t - V_t
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    All arrays [T, B]; returns (advantages, targets = advantages + values).
    """
    terminated = terminated.astype(values.dtype)
    done = jnp.logical_or(terminated > 0, truncated).astype(values.dtype)
    deltas = rewards + gamma * (1.0 - terminated) * bootstrap_values - values
    adv = _reverse_discounted_sum(deltas, gamma * lam * (1.0 - done))
    return adv, adv + values


def chained_gae(
    rewards, values, bootstrap_values, terminated, truncated, gamma_micro, lambda_micro
):
    """ACPO's chained advantage (docs/acpo.md §4; paper §6 and App. D) over T*N micro-steps.

    zeta_{t,i}   = gamma' V_{t,i+1} - V_{t,i}                            (i < N-1)
    zeta_{t,N-1} = r_t + gamma' (1 - terminated_t) B_t - V_{t,N-1}
    A_k = zeta_k + gamma' lambda' c_k A_{k+1},  c_k = 0 at the last micro-step of an ending step.
    rewards, bootstrap_values, terminated, truncated: [T, B]; values: [T, B, N].
    """
    t, b, n = values.shape
    term = terminated.astype(values.dtype)
    done = jnp.logical_or(term > 0, truncated).astype(values.dtype)
    last = rewards + gamma_micro * (1.0 - term) * bootstrap_values  # [T, B]
    nxt = jnp.concatenate([gamma_micro * values[..., 1:], last[..., None]], axis=-1)
    zeta = nxt - values
    cont = jnp.ones_like(values).at[..., -1].set(1.0 - done)
    # micro-step sequence k = t*N + i, time-major: [T, N, B] -> [T*N, B]
    flat = lambda x: jnp.moveaxis(x, -1, 1).reshape(t * n, b)
    adv = _reverse_discounted_sum(flat(zeta), gamma_micro * lambda_micro * flat(cont))
    adv = jnp.moveaxis(adv.reshape(t, n, b), 1, -1)
    return adv, adv + values
