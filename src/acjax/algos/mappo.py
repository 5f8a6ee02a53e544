"""MAPPO (Yu et al. 2022) and IPPO (de Witt et al. 2020), and the pieces other algorithms reuse.

MAPPO: decentralized actor pi(a_i | o_i, id=i), centralized critic V(s, id=i) on the global
state, ordinary GAE per agent on the team reward, PPO on actor and critic together. IPPO differs
only in what the critic sees: the agent's own observation V(o_i, id=i).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import optax

from acjax import advantages as adv_lib
from acjax.algos.base import Algorithm, OwnsNoParams
from acjax.nets import agent_ids, join_inputs
from acjax.ppo import joint_optimizer


def with_ids(x):
    """[..., N, D] -> [..., N, D + N]: each agent's input with its one-hot id."""
    return jnp.concatenate([x, agent_ids(x.shape[-2], x.shape[:-2])], axis=-1)


def critic_view(view: str, obs, global_state):
    """What a critic sees of a state, per agent: the global state or the agent's observation."""
    if view == "local":
        return obs
    return jnp.broadcast_to(global_state[..., None, :], (*obs.shape[:-1], global_state.shape[-1]))


class IndependentActing(OwnsNoParams):
    """Every agent samples its own action from pi(. | o_i, id=i)."""

    def inputs(self, obs):
        return with_ids(obs)

    def act(self, policy, head, obs, mask, hidden, reset, key):
        x = self.inputs(obs)
        hidden, out = policy(hidden, x, reset)
        dist = head.dist(out, mask)
        actions = dist.sample(seed=key)
        return actions, dist.log_prob(actions), x, hidden

    def aux_loss(self, policy_out, head, batch):
        return jnp.zeros(())


@dataclass(frozen=True)
class StateCritic:
    """V(x, id=i) per agent, x the global state (`global`, MAPPO) or the own observation
    (`local`, IPPO); B_t per agent from its own critic."""

    view: str = "global"
    bootstrap_agent = None

    def input_parts(self, obs, global_state, actions, actor_inputs):
        """(the global state every agent's value sees, or None with the local view; each
        agent's own block: its id, and its observation with the local view)."""
        if self.view == "local":
            return None, with_ids(obs)
        return global_state, agent_ids(obs.shape[-2], obs.shape[:-2])

    def inputs(self, obs, global_state, actions, actor_inputs):
        return join_inputs(*self.input_parts(obs, global_state, actions, actor_inputs))

    def bootstrap_inputs(self, final_obs, final_global_state):
        return self.inputs(final_obs, final_global_state, None, None)


@dataclass(frozen=True)
class GAE:
    """GAE per agent on the team reward (`acjax.advantages.gae`)."""

    gamma: float
    lam: float

    def __call__(self, rewards, values, bootstrap, terminated, truncated):
        t, e, n = values.shape
        rep = lambda x: jnp.broadcast_to(x[..., None], (t, e, n)).reshape(t, e * n)
        adv, targets = adv_lib.gae(
            rep(rewards),
            values.reshape(t, e * n),
            bootstrap.reshape(t, e * n),
            rep(terminated),
            rep(truncated),
            self.gamma,
            self.lam,
        )
        return adv.reshape(t, e, n), targets.reshape(t, e, n)


@dataclass(frozen=True)
class JointPPO:
    """PPO epochs x minibatches on actor and critic together (`PPOContext.joint_epochs`);
    `belief_lr`: plain Adam on ACPO's belief network too, where it has one."""

    belief_lr: float | None = None

    def make_optimizer(self, ppo, num_updates):
        extra = {} if self.belief_lr is None else {"belief": optax.adam(self.belief_lr)}
        return joint_optimizer(ppo, num_updates, extra)

    def optimize(self, ctx, params, opt_state, batch, value_norm, key):
        return ctx.joint_epochs(params, opt_state, batch, value_norm, key)


def mappo(cfg, spec, head) -> Algorithm:
    gae = GAE(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    return Algorithm("mappo", IndependentActing(), StateCritic("global"), gae, JointPPO())


def ippo(cfg, spec, head) -> Algorithm:
    gae = GAE(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    return Algorithm("ippo", IndependentActing(), StateCritic("local"), gae, JointPPO())
