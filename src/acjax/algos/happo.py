"""HAPPO (Kuba et al. 2022), as HARL implements it.

Sources: docs/references.md, "HAPPO (PKU-MARL/HARL)"; docs/acpo.md §6.

MAPPO's acting and critic with the team advantage and a different optimization piece
(`SequentialPPO`):

- No parameter sharing: every agent has its own actor (and critic) parameters, stacked on a
  leading agent axis. `algo=happo` forces `net.share_params=false` in the resolved config (the
  constraint is declared in `acjax.algos.REGISTRY`).
- Advantage computed once, before the agents train: the team advantage. MAPPO's GAE gives one
  advantage per agent from its own centralized critic V_i(s, id=i); HAPPO uses their mean, which
  (GAE being linear in the values) is GAE with the single critic V(s) = mean_i V_i(s) on the team
  reward: HARL's single V(s), evaluated as MAPPO's per-agent heads.
- Each update draws a random agent order from the learner key (`agent_order`): the same on every
  device, reproducible from the seed, new at every update.
- For j = 0..N-1, agent k = order[j] alone runs PPO epochs x minibatches on its own column of the
  batch with the loss -mean(M * min(r A, clip(r, 1 +- eps) A)) - ent_coef * entropy_k
  (`PPOContext.actor_loss` with weight M), where the per-sample factor M (data: no gradient, not
  clipped) is the product of pi_new/pi_old of the agents trained before it in this update (1 for
  the first). After agent k's epochs, M <- M * pi_new_k / pi_old_k on the whole batch
  (`sequential_agents`).
- The critic trains last, its own epochs x minibatches on MAPPO's value loss.
- With RLlib's adaptive KL penalty (`ppo.kl_coef > 0`, docs/acpo.md §8), agent k's loss adds
  kl_coef * its own mean KL(pi_old_k || pi_k) on its column of the batch (`agent_batch`); one
  coefficient for all agents, adapted on the mean of their measured KLs.

The agent loop is a `lax.scan` over the order inside the one compiled update: agent k's slice of
the stacked actor parameters and of the stacked per-agent Adam state is gathered with a dynamic
index, trained and scattered back, so the other agents' parameters and optimizer states stay
exactly as they were while agent k trains, and each step evaluates only agent k's network on
agent k's samples.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from acjax.algos.base import Algorithm
from acjax.algos.mappo import GAE, IndependentActing, StateCritic
from acjax.ppo import adam


def agent_order(key: jax.Array, n: int) -> jax.Array:
    """The order in which the agents train in one update: a uniform random permutation of 0..n-1."""
    return jax.random.permutation(key, n)


def take_agent(tree: Any, k: jax.Array) -> Any:
    """Agent k's slice of parameters (or optimizer state) stacked on a leading agent axis."""
    return jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, k, 0, keepdims=False), tree)


def put_agent(tree: Any, k: jax.Array, value: Any) -> Any:
    """`tree` with agent k's slice replaced by `value`; every other slice unchanged."""
    return jax.tree.map(
        lambda x, v: jax.lax.dynamic_update_index_in_dim(x, v.astype(x.dtype), k, 0), tree, value
    )


def sequential_agents(step, order, params, opt_state, factor, keys):
    """The agent loop of one HAPPO update (a `lax.scan` over the order).

    step(k, params_k, opt_state_k, factor, key) -> (params_k, opt_state_k, ratio_k, aux) trains
    agent k alone with the factor M of the agents before it and returns its ratio
    pi_new_k/pi_old_k on every sample. params and opt_state are stacked on a leading agent axis;
    factor [B] is the initial M (ones). Returns (params, opt_state, factors [N, B], aux [N, ...])
    where factors[j] is the M that the j-th agent of the order trained with.
    """

    def body(carry, xs):
        params, opt_state, m = carry
        k, key = xs
        p_k, s_k, ratio, aux = step(k, take_agent(params, k), take_agent(opt_state, k), m, key)
        carry = (put_agent(params, k, p_k), put_agent(opt_state, k, s_k), m * ratio)
        return carry, (m, aux)

    (params, opt_state, _), (factors, aux) = jax.lax.scan(
        body, (params, opt_state, factor), (order, keys)
    )
    return params, opt_state, factors, aux


class HappoOptimizer(NamedTuple):
    """Per-agent Adam for the stacked actors (state stacked on the agent axis; only the training
    agent's slice is ever updated) and one Adam for the critic."""

    actor: optax.GradientTransformation  # applied to one agent's slice
    critic: optax.GradientTransformation

    def init(self, params):
        return {
            "actor": jax.vmap(self.actor.init)(params["actor"]),
            "critic": self.critic.init(params["critic"]),
        }


class TeamGAE(GAE):
    """MAPPO's GAE per agent, then the team advantage (mean over agents) for every agent."""

    def __call__(self, rewards, values, bootstrap, terminated, truncated):
        adv, targets = super().__call__(rewards, values, bootstrap, terminated, truncated)
        return jnp.broadcast_to(jnp.mean(adv, axis=-1, keepdims=True), adv.shape), targets


def agent_batch(batch, k: jax.Array):
    """Agent k's column of the batch (a size-1 agent axis is kept)."""
    col = lambda x, axis: jax.lax.dynamic_slice_in_dim(x, k, 1, axis)  # noqa: E731
    return batch._replace(
        actor_in=col(batch.actor_in, 2), mask=col(batch.mask, 2), action=col(batch.action, 2),
        logp=col(batch.logp, 2), adv=col(batch.adv, 2), actor_h0=col(batch.actor_h0, 1),
        alive=col(batch.alive, 2),
        old_out=None if batch.old_out is None else col(batch.old_out, 2),
    )  # fmt: skip


def critic_steps(ctx, params, opt_state, batch, value_norm, key):
    """The critic's epochs x minibatches of Adam on its value loss, after the agents' loop
    (HAPPO's and HATRPO's): (critic params, its optimizer state, aux)."""

    def critic_loss(p, mb):
        vl = ctx.value_loss(p, mb, value_norm)
        return vl, {"value_loss": vl}

    return ctx.sgd(
        critic_loss, ctx.optimizer.critic, params["critic"], opt_state["critic"], batch, key
    )


def agent_loop_metrics(aux, c_aux, order, names) -> dict:
    """The metrics of an agent loop and the critic's steps: the agents' `names` averaged, the
    value loss, one actor step's and one critic step's gradient norms together (MAPPO's joint
    norm) and the agent order (an integer vector, passed to the metrics unaveraged)."""
    metrics = {k: jnp.mean(aux[k]) for k in names if k in aux}
    metrics["value_loss"] = jnp.mean(c_aux["value_loss"])
    metrics["grad_norm"] = jnp.hypot(jnp.mean(aux["grad_norm"]), jnp.mean(c_aux["grad_norm"]))
    metrics["aux_loss"] = jnp.zeros(())
    metrics["agent_order"] = order
    return metrics


class SequentialPPO:
    """Agents one after another in a random order, then the critic (module docstring)."""

    def make_optimizer(self, ppo, num_updates):
        return HappoOptimizer(adam(ppo, num_updates, ppo.lr), adam(ppo, num_updates, ppo.critic_lr))

    def agent_step(self, ctx, batch):
        """step(k, params_k, opt_state_k, factor [C, L], key) -> (params_k, opt_state_k,
        ratio_k [C, L], aux): agent k's PPO epochs x minibatches with the factor M."""
        module = ctx.actor.module
        policy = lambda p: lambda h, x, r: module.apply(p, h, x, r)  # noqa: E731

        def loss_fn(p, data):
            mb, factor = data
            return ctx.actor_loss(policy(p), mb, factor[..., None])

        def step(k, p_k, s_k, factor, key):
            data = agent_batch(batch, k)
            p_k, s_k, aux = ctx.sgd(loss_fn, ctx.optimizer.actor, p_k, s_k, (data, factor), key)
            out, _ = ctx.actor_outputs(policy(p_k), data)
            ratio = jnp.exp(ctx.head.dist(out, data.mask).log_prob(data.action) - data.logp)
            return p_k, s_k, ratio[..., 0], aux

        return step

    def optimize(self, ctx, params, opt_state, batch, value_norm, key):
        n = batch.actor_in.shape[2]
        k_order, k_actor, k_critic = jax.random.split(key, 3)
        order = agent_order(k_order, n)
        actor, actor_state, _, aux = sequential_agents(
            self.agent_step(ctx, batch),
            order,
            params["actor"],
            opt_state["actor"],
            jnp.ones(batch.first.shape, jnp.float32),
            jax.random.split(k_actor, n),
        )
        critic, critic_state, c_aux = critic_steps(
            ctx, params, opt_state, batch, value_norm, k_critic
        )
        names = ("actor_loss", "entropy", "approx_kl", "clip_frac", "kl")  # kl: ppo.kl_coef > 0
        metrics = agent_loop_metrics(aux, c_aux, order, names)
        params = {"actor": actor, "critic": critic}
        return params, {"actor": actor_state, "critic": critic_state}, metrics


def happo(cfg, spec, head) -> Algorithm:
    adv = TeamGAE(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    return Algorithm("happo", IndependentActing(), StateCritic("global"), adv, SequentialPPO())
