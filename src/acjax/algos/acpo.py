"""ACPO (the paper, Sections 4-6; ACPO.md): MAPPO with exactly three differences.

1. Acting (ACPO.md section 2, paper Appendix L): the belief chain. Agent i predicts the actions of
   agents 0..i-1 with its own policy network queried with their ids, feeding each prediction into
   the next, then samples its own action given the predicted prefix. One `lax.scan` over the
   micro-step j, every agent evaluated at once; the prefix used is stored for the update.
2. Critic inputs (ACPO.md section 3): V(x_t, id=i, a_{t,<i}) with the actual actions of the
   earlier agents; the bootstrap value of a state is V(x, id=0, empty prefix).
3. Advantages (ACPO.md section 4, paper Appendix D): `chained_gae` over T*N micro-steps with
   gamma' = gamma^(1/N) and lambda' = lambda^(1/N).

`acpo_nochain` (the paper's ablation, Fig. 4) keeps 1 and takes MAPPO's critic and GAE.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from acjax import advantages as adv_lib
from acjax.algos.mappo import MAPPO
from acjax.belief import belief_chain, policy_inputs, split_inputs
from acjax.nets import agent_ids


class ACPO(MAPPO):
    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        self.a = spec.num_actions
        self.acpo = cfg.acpo
        aux = cfg.acpo.aux_coef
        self.aux_coef = aux if aux >= 0 else (0.0 if cfg.net.share_params else 1.0)

    # --- 1. acting: the belief chain -------------------------------------------------------
    def actor_inputs(self, obs):
        """Own id and an empty prefix (the shape of every policy input)."""
        prefix = jnp.zeros((*obs.shape[:-1], self.n - 1, self.a), obs.dtype)
        return policy_inputs(obs, agent_ids(self.n, obs.shape[:-2]), prefix)

    def act(self, actor, params, obs, mask, key):
        return belief_chain(
            lambda x: actor.apply(params, x),
            obs,
            mask,
            key,
            self.a,
            self.acpo.belief,
            self.acpo.belief_mask,
        )

    def aux_loss(self, actor, params, batch):
        """Without sharing (ACPO.md section 2): cross-entropy between agent i's prediction
        pi_i(. | o_i, id=j, a~_{<j}) and the actual a_j, for all j < i."""
        if self.aux_coef == 0 or self.n == 1:
            return jnp.zeros(())
        n, a = self.n, self.a
        obs, _, prefix = split_inputs(batch["actor_in"], n, a)  # [B, N(i), ...]
        obs_dim = obs.shape[-1]
        j = jnp.arange(n)
        keep = jnp.arange(n - 1)[None, :] < j[:, None]  # [N(j), N-1]: slots before j
        pre_j = prefix[..., None, :, :, :] * keep[:, None, :, None]  # [B, N(j), N(i), N-1, A]
        obs_j = jnp.broadcast_to(obs[..., None, :, :], (*pre_j.shape[:-2], obs_dim))
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n)[:, None, :], (*pre_j.shape[:-2], n))
        logits = actor.apply(params, policy_inputs(obs_j, ids, pre_j))  # [B, N(j), N(i), A]
        logp = jax.nn.log_softmax(logits)
        target = batch["action"][..., :, None]  # a_j: [B, N(j), 1]
        ce = -jnp.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
        valid = j[None, :] < j[:, None]  # [N(j), N(i)]: j < i
        return self.aux_coef * jnp.sum(ce * valid) / (ce.shape[0] * jnp.sum(valid))

    # --- 2. chained critic ---------------------------------------------------------------
    def critic_view(self, obs, global_state):
        if self.acpo.critic_view == "local":
            return obs
        return super().critic_view(obs, global_state)

    def critic_inputs(self, view, actions, actor_in):
        """V(x, id=i, a_{<i}): actual actions of agents 0..i-1 (or the predicted prefix)."""
        n, a = self.n, self.a
        if self.acpo.critic_prefix == "predicted":
            prefix = split_inputs(actor_in, n, a)[2]
        else:
            onehot = jax.nn.one_hot(actions[..., : n - 1], a)  # [..., N-1, A]
            lower = jnp.arange(n - 1)[None, :] < jnp.arange(n)[:, None]  # [N(i), N-1]: j < i
            prefix = onehot[..., None, :, :] * lower[..., None]
        return policy_inputs(view, agent_ids(n, view.shape[:-2]), prefix)

    bootstrap_agent = 0  # B_t is agent 0's value of the next state (per agent w/o sharing)

    def bootstrap_inputs(self, final_view):
        """B_t = V(x_{t+1}, id=0, empty prefix): one value per environment."""
        x = final_view[..., 0, :]
        id0 = jnp.broadcast_to(jax.nn.one_hot(0, self.n), (*x.shape[:-1], self.n))
        return policy_inputs(x, id0, jnp.zeros((*x.shape[:-1], self.n - 1, self.a), x.dtype))

    # --- 3. chained advantages -----------------------------------------------------------
    def advantages(self, rewards, values, bootstrap, terminated, truncated):
        ppo = self.cfg.ppo
        gamma_m = ppo.gamma ** (1.0 / self.n)
        lambda_m = self.acpo.lambda_micro or ppo.gae_lambda ** (1.0 / self.n)
        return adv_lib.chained_gae(
            rewards, values, bootstrap, terminated, truncated, gamma_m, lambda_m
        )


class ACPONoChain(ACPO):
    """The paper's ablation: ACPO's acting with MAPPO's critic and GAE."""

    critic_view = MAPPO.critic_view
    critic_inputs = MAPPO.critic_inputs
    bootstrap_agent = MAPPO.bootstrap_agent
    bootstrap_inputs = MAPPO.bootstrap_inputs
    advantages = MAPPO.advantages
