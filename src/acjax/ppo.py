"""The PPO family's update maths over a small frozen context: what the algorithms' optimization
pieces call (`acjax.algos.base.Optimization`), and what the on-policy trainer uses to evaluate its
critic. Nothing here holds state: `PPOContext` is built per traced update from the config with the
run's swept values (`acjax.onpolicy.PPOTrainer.context`), so swept hyper-parameters enter as
arrays without any object being changed while the update is traced.

Shapes: a `Batch` is C chunks of L consecutive steps of one environment, [C, L, ...]; the
memories at each chunk's start are [C, N, H]. The PPO maths are `acjax.losses`' pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from acjax import losses as L
from acjax.nets import unroll
from acjax.runner import AXIS


class Transition(NamedTuple):
    """One rollout step, [E, ...] (stacked by the scan to [T, E, ...])."""

    actor_in: jax.Array  # [E, N, Din]: exactly the policy inputs used when acting
    mask: jax.Array  # [E, N, A]: available actions / true action dimensions
    action: jax.Array  # [E, N] or [E, N, A] (as sampled: unclipped)
    logp: jax.Array  # [E, N]
    obs: jax.Array  # [E, N, O]
    global_state: jax.Array  # [E, S]
    first: jax.Array  # [E]: the step starts an episode (memories reset)
    actor_h: jax.Array  # [E, N, H]: actor memory entering the step (before its reset)
    final_obs: jax.Array
    final_global_state: jax.Array
    reward: jax.Array  # [E]
    terminated: jax.Array
    truncated: jax.Array
    alive: jax.Array  # [E, N]: the agent was alive when it acted (death masking)


class Batch(NamedTuple):
    """The data of one update's optimization phase: C chunks of L consecutive steps of one
    environment, [C, L, ...]; the memories at each chunk's start are [C, N, H]."""

    actor_in: jax.Array  # [C, L, N, Din]
    mask: jax.Array  # [C, L, N, A]
    action: jax.Array  # [C, L, N(, A)]
    logp: jax.Array  # [C, L, N]
    obs: jax.Array  # [C, L, N, O]
    global_state: jax.Array  # [C, L, S]
    first: jax.Array  # [C, L]
    adv: jax.Array  # [C, L, N]
    target: jax.Array  # [C, L, N]: value targets (unnormalized)
    old_v: jax.Array  # [C, L, N]: the critic's outputs when the batch was collected
    actor_h0: jax.Array  # [C, N, H]
    critic_h0: jax.Array  # [C, N, H]
    alive: jax.Array  # [C, L, N]
    old_out: Any = None  # [C, L, N, out]: the behaviour policy's outputs (ppo.kl_coef > 0)


class KLPenalty(NamedTuple):
    """The optimizer state of a run with RLlib's adaptive KL penalty (ppo.kl_coef > 0): the
    algorithm's optimizer state and the coefficient in force (`acjax.losses.adapt_kl_coef`
    after every update). Runs without the option keep the bare optimizer state: their
    checkpoints keep their structure."""

    inner: Any
    coef: jax.Array  # []


def time_major(x: jax.Array) -> jax.Array:
    """[C, L, ...] <-> [L, C, ...]."""
    return jnp.swapaxes(x, 0, 1)


def adam(ppo, num_updates: int, lr) -> optax.GradientTransformation:
    """Adam with global-norm clipping (and optional linear decay over the run) for one network;
    `ppo` is the config's PPO section (its values may be a sweep's traced arrays)."""
    steps = num_updates * ppo.epochs * ppo.num_minibatches
    sched = optax.linear_schedule(lr, 0.0, steps) if ppo.lr_decay else lr
    return optax.chain(
        optax.clip_by_global_norm(ppo.max_grad_norm), optax.adam(sched, eps=ppo.adam_eps)
    )


def joint_optimizer(ppo, num_updates: int, extra: dict | None = None):
    """One optimizer over {"actor", "critic"}, each with its own learning rate, and `extra`
    optimizers of other parameters ({"belief": ...})."""
    return optax.multi_transform(
        {
            "actor": adam(ppo, num_updates, ppo.lr),
            "critic": adam(ppo, num_updates, ppo.critic_lr),
            **(extra or {}),
        },
        lambda params: {k: k for k in params},
    )


@dataclass(frozen=True)
class PPOContext:
    """Networks, head, world spec, the algorithm's pieces, the PPO settings (with a sweep's
    values) and the optimizer built from them: everything one update's maths reads."""

    actor: Any  # acjax.nets.AgentNet
    critic: Any
    head: Any
    spec: Any  # acjax.envs.core.WorldSpec
    algo: Any  # acjax.algos.base.Algorithm
    ppo: Any  # PPOConfig (swept values as traced arrays)
    optimizer: Any
    kl_coef: Any = None  # the KL penalty's coefficient in force (`KLPenalty`); None: no penalty

    # ------------------------------------------------------------------ critic
    def critic_step(self, critic_params, obs, global_state, action, actor_in):
        """(the critic's step, its inputs): with a block every agent sees (the global state),
        the first layer's pre-activation with that block's product once per state, not once per
        agent (`BoundStep.pre_activation`), and the step from there; else the joined inputs."""
        step = self.critic.step(critic_params)
        shared, own = self.algo.critic.input_parts(obs, global_state, action, actor_in)
        z = step.pre_activation(shared, own)
        if z is not None:
            return step.after_first(), z
        return step, self.algo.critic.inputs(obs, global_state, action, actor_in)

    def critic_values(self, critic_params, h0, obs, global_state, action, actor_in, first):
        """The critic unrolled over [L, B, ...] inputs from memories h0 [B, N, H]:
        (values [L, B, N], h_in [L, B, N, H], h_last)."""
        step, x = self.critic_step(critic_params, obs, global_state, action, actor_in)
        out, h_in, h_last = unroll(step, h0, x, first)
        return out[..., 0], h_in, h_last

    def bootstrap_values(self, critic_params, h, final_obs, final_global_state):
        """B_t, the values of the states after each step (`Critic.bootstrap_inputs`), from the
        memories h: every agent's through `critic_step` (the inputs without actions), or agent
        `bootstrap_agent`'s."""
        critic, k = self.algo.critic, self.algo.critic.bootstrap_agent
        if k is None:
            step, x = self.critic_step(critic_params, final_obs, final_global_state, None, None)
            return step(h, x, False)[1][..., 0]
        x = critic.bootstrap_inputs(final_obs, final_global_state)
        return self.critic.apply(critic_params, h, x, False, k)[1][..., 0]

    # ------------------------------------------------------------------ losses
    def actor_outputs(self, policy, batch: Batch):
        """The actor unrolled over each chunk from its stored start memory: (outputs
        [C, L, N, out], memories after the episode-start resets [C, L, N, H])."""
        out, h_in, _ = unroll(
            policy, batch.actor_h0, time_major(batch.actor_in), time_major(batch.first)
        )
        h = jnp.where(time_major(batch.first)[..., None, None], 0.0, h_in)
        return time_major(out), time_major(h)

    def actor_loss(self, policy, batch: Batch, weight=1.0):
        """PPO's clipped surrogate, the entropy bonus and the algorithm's auxiliary loss for the
        actor step `policy`; weight is HAPPO's factor M (1 for the other algorithms)."""
        ppo = self.ppo
        out, h = self.actor_outputs(policy, batch)
        dist = self.head.dist(out, batch.mask)
        valid = batch.alive if self.spec.agents_die else None  # death masking
        pg, stats = L.ppo_surrogate(
            dist.log_prob(batch.action), batch.logp, batch.adv, ppo.clip_eps, weight, valid
        )
        stats["entropy"] = L.masked_mean(dist.entropy(), valid)
        if self.kl_coef is not None:  # RLlib's KL penalty: mean KL(pi_old || pi) on the batch
            stats["kl"] = L.masked_mean(self.head.kl(batch.old_out, out, batch.mask), valid)
            pg = pg + self.kl_coef * stats["kl"]

        def policy_out(x):  # x [C, L, ..., N, D] at the batch's memories
            hb = jnp.expand_dims(h, tuple(range(2, x.ndim - 2)))  # agent i's memory, every query
            hb = jnp.broadcast_to(hb, (*x.shape[:-1], h.shape[-1]))
            return policy(hb, x, jnp.asarray(False))[1]

        aux = self.algo.acting.aux_loss(policy_out, self.head, batch)
        stats["aux_loss"] = aux
        return pg + L.entropy_loss(stats["entropy"], ppo.ent_coef) + aux, stats

    def value_loss(self, critic_params, batch: Batch, value_norm: L.ValueNorm):
        """MAPPO's value loss on the (normalized) targets, averaged over samples and agents."""
        ppo, tm = self.ppo, time_major
        v, _, _ = self.critic_values(
            critic_params, batch.critic_h0, tm(batch.obs), tm(batch.global_state),
            tm(batch.action), tm(batch.actor_in), tm(batch.first),
        )  # fmt: skip
        target = value_norm.normalize(batch.target) if ppo.value_norm else batch.target
        return L.value_loss(
            tm(v), target, batch.old_v, ppo.value_loss, ppo.huber_delta, ppo.value_clip
        )

    def loss(self, params, batch: Batch, value_norm: L.ValueNorm):
        """Actor and critic losses together (MAPPO, IPPO, ACPO), and the losses of the acting
        piece's own parameters (ACPO's belief network: `Acting.param_losses`)."""
        loss, stats = self.actor_loss(self.actor.step(params["actor"]), batch)
        vl = self.value_loss(params["critic"], batch, value_norm)
        own = self.algo.acting.param_losses(self, params, batch)
        return loss + vl + sum(own.values()), dict(stats, value_loss=vl, **own)

    # ------------------------------------------------------------------ SGD
    def sgd(self, loss_fn, optimizer, params, opt_state, data, key):
        """`epochs x minibatches` steps of `optimizer` on loss_fn(params, minibatch) -> (loss, aux)
        over the local data (leading chunk axis), gradients averaged over the devices.
        `key` is the same on every device; each device shuffles its own chunks. Returns
        (params, opt_state, aux with leading [epochs, minibatches] axes and grad_norm)."""
        ppo = self.ppo
        n = jax.tree.leaves(data)[0].shape[0]
        mb_size = n // ppo.num_minibatches
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def minibatch(carry, idx):
            params, opt_state = carry
            mb = jax.tree.map(lambda x: jnp.take(x, idx, axis=0), data)
            (_, aux), grads = grad_fn(params, mb)
            grads = jax.lax.pmean(grads, AXIS)
            aux["grad_norm"] = optax.tree.norm(grads)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        def epoch(carry, k):
            perm = jax.random.permutation(k, n).reshape(ppo.num_minibatches, mb_size)
            return jax.lax.scan(minibatch, carry, perm)

        key = jax.random.fold_in(key, jax.lax.axis_index(AXIS))
        (params, opt_state), aux = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, ppo.epochs)
        )
        return params, opt_state, aux

    def joint_epochs(self, params, opt_state, batch, value_norm, key):
        """The optimization phase of MAPPO, IPPO and ACPO: actor and critic together."""
        loss_fn = lambda p, mb: self.loss(p, mb, value_norm)  # noqa: E731
        return self.sgd(loss_fn, self.optimizer, params, opt_state, batch, key)
