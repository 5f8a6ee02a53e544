"""MAPPO (Yu et al. 2022): decentralized actor pi(a_i | o_i, id=i), centralized critic
V(s, id=i) on the global state, ordinary GAE per agent on the team reward.

An algorithm is a small class whose methods are what differs between algorithms: acting, the
critic's inputs and the advantages. Rollout, PPO losses and the optimizer are shared
(`acjax.train`). Shapes carry an explicit agent axis: obs [..., N, O], global_state [..., S],
actions [..., N].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from acjax import advantages as adv_lib
from acjax.nets import agent_ids, masked_categorical


class MAPPO:
    def __init__(self, cfg, spec):
        self.cfg, self.spec = cfg, spec
        self.n = spec.num_agents

    # --- acting --------------------------------------------------------------------------
    def actor_inputs(self, obs: jax.Array) -> jax.Array:
        """[..., N, O] -> [..., N, O + N]: own observation and one-hot id."""
        return jnp.concatenate([obs, agent_ids(self.n, obs.shape[:-2])], axis=-1)

    def act(self, actor, params, obs, mask, key):
        """Every agent samples its action independently: (actions, log_probs, actor_inputs)."""
        x = self.actor_inputs(obs)
        dist = masked_categorical(actor.apply(params, x), mask)
        actions = dist.sample(seed=key)
        return actions, dist.log_prob(actions), x

    def aux_loss(self, actor, params, batch) -> jax.Array:
        """Extra actor loss (none for MAPPO)."""
        return jnp.zeros(())

    # --- critic --------------------------------------------------------------------------
    def critic_view(self, obs: jax.Array, global_state: jax.Array) -> jax.Array:
        """What the critic sees of a state, per agent: the global state [..., N, S]."""
        return jnp.broadcast_to(
            global_state[..., None, :], (*obs.shape[:-1], global_state.shape[-1])
        )

    def critic_inputs(self, view: jax.Array, actions: jax.Array, actor_in: jax.Array) -> jax.Array:
        """V(x, id=i) for every agent i: [..., N, D + N]."""
        return jnp.concatenate([view, agent_ids(self.n, view.shape[:-2])], axis=-1)

    bootstrap_agent = None  # B_t per agent, each from its own critic

    def bootstrap_inputs(self, final_view: jax.Array) -> jax.Array:
        """Inputs whose values are B_t, the value of the state after step t (per agent)."""
        return MAPPO.critic_inputs(self, final_view, None, None)

    # --- optimization (hooks of the Trainer; HAPPO overrides both) ---------------------------
    def make_optimizer(self, trainer):
        """The optimizer whose `init(params)` gives the learner's opt_state."""
        return trainer.default_optimizer()

    def optimize(self, trainer, params, opt_state, batch, vn_stats, key):
        """The optimization phase of one update on the flat local batch [B, N, ...]:
        -> (params, opt_state, aux). Default: PPO epochs x minibatches on actor and critic."""
        return trainer.ppo_epochs(params, opt_state, batch, vn_stats, key)

    # --- advantages ----------------------------------------------------------------------
    def advantages(self, rewards, values, bootstrap, terminated, truncated):
        """GAE per agent on the team reward: rewards [T, E], values and bootstrap [T, E, N]."""
        ppo = self.cfg.ppo
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
