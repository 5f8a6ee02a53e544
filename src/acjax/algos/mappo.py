"""MAPPO (Yu et al. 2022): decentralized actor pi(a_i | o_i, id=i), centralized critic
V(s, id=i) on the global state, ordinary GAE per agent.

An algorithm is three functions that the trainer calls (acting, critic inputs, advantages);
everything else (rollout, PPO losses, optimizer) is shared in `acjax.train`. Shapes carry an
explicit agent axis: obs [..., N, O], global_state [..., S], actions [..., N].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from acjax import advantages as adv_lib
from acjax.nets import agent_ids, masked_categorical

def actor_inputs(obs: jax.Array) -> jax.Array:
    """[..., N, O] -> [..., N, O + N]: own observation and one-hot id."""
    n = obs.shape[-2]
    return jnp.concatenate([obs, agent_ids(n, obs.shape[:-2])], axis=-1)


def act(actor, params, obs, mask, key):
    """Sample every agent's action independently; returns (actions, log_probs, actor_inputs)."""
    x = actor_inputs(obs)
    dist = masked_categorical(actor.apply(params, x), mask)
    actions = dist.sample(seed=key)
    return actions, dist.log_prob(actions), x


def critic_view(obs: jax.Array, global_state: jax.Array) -> jax.Array:
    """What the critic sees of a state, per agent: [..., N, D]."""
    return jnp.broadcast_to(global_state[..., None, :], (*obs.shape[:-1], global_state.shape[-1]))


def critic_inputs(view: jax.Array, actions: jax.Array) -> jax.Array:
    """V(x, id=i) for every agent i: [..., N, D + N]."""
    n = view.shape[-2]
    return jnp.concatenate([view, agent_ids(n, view.shape[:-2])], axis=-1)


def bootstrap_inputs(final_view: jax.Array) -> jax.Array:
    """Inputs whose values are the bootstrap B_t (per agent for MAPPO)."""
    return critic_inputs(final_view, None)


def advantages(rewards, values, bootstrap, terminated, truncated, ppo):
    """GAE per agent on the team reward: rewards [T, E], values and bootstrap [T, E, N]."""
    t, e, n = values.shape
    rep = lambda x: jnp.broadcast_to(x[..., None], (t, e, n)).reshape(t, e * n)
    adv, targets = adv_lib.gae(
        rep(rewards),
        values.reshape(t, e * n),
        bootstrap.reshape(t, e * n),
        rep(terminated),
        rep(truncated),
        ppo.gamma,
        ppo.gae_lambda,
    )
    return adv.reshape(t, e, n), targets.reshape(t, e, n)
