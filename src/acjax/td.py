"""TD targets of the off-policy algorithms (AC-TD3, the paper's Appendix N; HATD3; MADDPG).

A replay sample is a window of K consecutive transitions t..t+K-1 of one environment (the
k-step form of Appendix N has K = k + 1). Its arrays are [..., K]; the agent axis, where there is
one, comes last. As in `acjax.advantages`, termination and truncation differ: a window stops at
its first episode end; after a termination there is nothing to bootstrap from, after a
truncation the bootstrap state is the true final state of the episode (kept on auto-reset).

`window_returns` gives the discounted reward sum of a window, the transition whose next state
bootstraps it and that state's discount. The critic values at that state are the caller's:

- `td_targets`: one centralized critic (HATD3, MADDPG), y = R + d Q'(s_boot, a').
- `chained_targets` (Appendix N, k-step form): agent i's critic Q^(i)([s_t, a_t^<i], a_t^i)
  bootstraps from agent i+1's target critic at the bootstrap state, under the target policy's
  chained actions a' there, and the target is scaled by (gamma')^(N-1-i) with
  gamma' = gamma^(1/N). This adjusts the micro-step to the last agent's: for agent 0 the
  reward of step t is worth (gamma')^(N-1) r_t. The last agent bootstraps from agent 0's critic
  (empty prefix), so its target is the plain k-step target.
- `chained_micro_targets` (Appendix N, one-step form): inside a time step, agent i < N-1 is
  bootstrapped by agent i+1's target critic at the same state, y^(i) = gamma' Q^(i+1)([s_t,
  a_t^<=i], a'^(i+1)), with the actual actions of agents 0..i and the target policy's action of
  agent i+1. The last agent's target is r_t + gamma' Q^(0)(s_{t+1}, a'^(0)), with no bootstrap
  after a termination.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def window_returns(rewards, terminated, truncated, gamma):
    """(R, last, discount) of windows [..., K] of transitions t..t+K-1.

    last: the index e of the window's last transition (its first episode end, else K-1);
    R = sum_{j<=e} gamma^j r_{t+j}; discount = gamma^(e+1), or 0 if the episode terminated at
    e. The bootstrap state is the next (or true final) state of transition e."""
    k = rewards.shape[-1]
    done = jnp.logical_or(terminated, truncated)
    ended_before = (jnp.cumsum(done, axis=-1) - done) > 0  # an end earlier in the window
    powers = gamma ** jnp.arange(k, dtype=rewards.dtype)
    ret = jnp.sum(jnp.where(ended_before, 0.0, powers * rewards), axis=-1)
    last = jnp.where(jnp.any(done, axis=-1), jnp.argmax(done, axis=-1), k - 1)
    term = jnp.take_along_axis(terminated, last[..., None], axis=-1)[..., 0]
    discount = jnp.where(term, 0.0, gamma ** (last + 1.0)).astype(rewards.dtype)
    return ret, last, discount


def td_targets(ret, discount, q_boot):
    """A centralized critic's k-step target y = R + discount * Q'(s_boot, a') ([...])."""
    return ret + discount * q_boot


def chained_targets(ret, discount, q_boot, gamma):
    """Agent i's k-step target (gamma')^(N-1-i) (R + discount * Q'^((i+1) mod N)(s_boot, a'))
    ([..., N]); q_boot[..., j] is agent j's target critic at the bootstrap state with the target
    policy's chained actions a'^<j as its prefix and a'^j as its action."""
    n = q_boot.shape[-1]
    gamma_micro = gamma ** (1.0 / n)
    scale = gamma_micro ** jnp.arange(n - 1, -1, -1, dtype=q_boot.dtype)  # N-1-i
    q_next = jnp.roll(q_boot, -1, axis=-1)  # agent i reads agent i+1's critic; N-1 reads 0's
    return scale * (ret[..., None] + discount[..., None] * q_next)


def chained_micro_targets(reward, terminated, q_same, q_next0, gamma):
    """One-step chained targets [..., N] of transition t: y^(i) = gamma' q_same[..., i+1] for
    i < N-1 (agent i+1's target critic at s_t with the actual a^<=i and its target action),
    y^(N-1) = r_t + gamma' (1 - terminated_t) q_next0 (agent 0's at the next or final state)."""
    n = q_same.shape[-1]
    gamma_micro = gamma ** (1.0 / n)
    last = reward + gamma_micro * jnp.where(terminated, 0.0, q_next0)
    inner = gamma_micro * q_same[..., 1:]
    return jnp.concatenate([inner, last[..., None]], axis=-1)


def polyak(target, online, tau: float):
    """Target parameters moved towards the online ones: (1 - tau) * target + tau * online."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
