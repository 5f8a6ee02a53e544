"""The PPO family on the harness: MAPPO, IPPO, ACPO, ACPO without chaining, HAPPO, HATRPO.

One update of one run (`PPOTrainer.update`): the rollout scans T steps (the algorithm's acting
piece chooses actions; recurrent memories are carried and reset where episodes start), the critic
is unrolled over the rollout, the algorithm's advantages give targets, and the batch is cut into
chunks of `ppo.chunk_len` steps (1 for feed-forward networks) with the memories stored at each
chunk's start; the algorithm's optimization piece then runs epochs x minibatches over chunks
(never splitting one) through the PPO maths of `acjax.ppo.PPOContext`. The algorithm's
diagnostics (ACPO's `pred_match`, `prefix_sens`) join the metrics.

The harness (`acjax.harness`) vmaps this over runs, shards it over the devices and compiles it;
swept hyper-parameters arrive as the `hparams` argument (`PPOTrainer.context`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from acjax import algos
from acjax import losses as L
from acjax.algos.base import input_dims
from acjax.config import minibatch_chunks, with_values
from acjax.nets import make_head, make_nets
from acjax.ppo import Batch, KLPenalty, PPOContext, Transition
from acjax.runner import (
    AXIS,
    ENV_SPLIT,
    EPISODE_METRICS,
    Learner,
    Runner,
    episode_metrics,
    episode_record,
    init_runner,
    make_world,
    run_steps,
)  # fmt: skip

PPO_METRICS = (
    "actor_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
    "grad_norm",
    "aux_loss",
    "adv_var",
    "adv_var_ratio",
)
# with RLlib's adaptive KL penalty (ppo.kl_coef > 0): the measured KL (the mean over the update's
# SGD steps of the batch's mean KL(pi_old || pi)) and the coefficient in force during the update
KL_METRICS = ("kl", "kl_coef")


class PPOTrainer:
    """One run's PPO update and its setup for one config; `layout` is the harness's device
    layout (`acjax.harness.Layout`: how many environments this device steps)."""

    def __init__(self, cfg, layout, env=None):
        self.cfg = cfg
        self.env = make_world(cfg, env)
        self.spec = self.env.spec
        self.head = make_head(self.spec)
        self.algo = algos.make(cfg, self.spec, self.head)
        self.actor, self.critic = make_nets(self.spec.num_agents, self.head, cfg.net)
        self.dim_mask = jnp.asarray(self.spec.action_dim_mask())
        self.local_envs = layout.local_envs
        self.chunk_len = cfg.ppo.chunk_len if cfg.net.rnn != "none" else 1
        minibatch_chunks(cfg, layout.env_devices)  # the minibatches split each device's chunks
        self.steps_per_update = cfg.batch_steps
        self.num_updates = cfg.num_updates
        self.loss_names = ("actor_loss", "value_loss", "grad_norm")  # checked for NaN/inf
        self.metric_names = (
            EPISODE_METRICS + PPO_METRICS + self.spec.metrics + self.algo.diagnostics.names
        )
        # metrics an optimization piece adds (HATRPO's measured KL and line-search acceptance)
        self.metric_names += getattr(self.algo.optimization, "metric_names", ())
        self.kl_penalty = cfg.ppo.kl_coef > 0
        if self.kl_penalty:
            self.metric_names += KL_METRICS
        self.optimizer = self.algo.optimization.make_optimizer(cfg.ppo, self.num_updates)

    # ------------------------------------------------------------------ setup
    def context(self, hparams: dict | None = None) -> PPOContext:
        """The update's maths with the run's values of the swept keys ({key: array}; traced in
        the compiled update): the config, algorithm and optimizer built from them. The optimizer
        state's structure does not depend on these values, so the state made at init serves."""
        cfg, algo, optimizer = self.cfg, self.algo, self.optimizer
        if hparams:
            cfg = with_values(cfg, tuple(hparams), tuple(hparams.values()))
            algo = algos.make(cfg, self.spec, self.head)
            optimizer = algo.optimization.make_optimizer(cfg.ppo, self.num_updates)
        return PPOContext(self.actor, self.critic, self.head, self.spec, algo, cfg.ppo, optimizer)

    def init_learner(self, key: jax.Array) -> Learner:
        k_actor, k_critic, k_learn = jax.random.split(key, 3)
        actor_dim, critic_dim = input_dims(self.algo, self.spec, self.head)
        params = {
            "actor": self.actor.init(k_actor, actor_dim),
            "critic": self.critic.init(k_critic, critic_dim),
            **self.algo.acting.init_params(jax.random.fold_in(key, 7), self.spec.obs_dim),
        }
        opt_state = self.optimizer.init(params)
        if self.kl_penalty:
            opt_state = KLPenalty(opt_state, jnp.asarray(self.cfg.ppo.kl_coef, jnp.float32))
        return Learner(
            params, opt_state, L.ValueNorm.create(), k_learn, jnp.zeros((), jnp.int32)
        )  # fmt: skip

    def init_runner(self, key: jax.Array) -> Runner:
        e = self.cfg.num_envs
        hs = self.actor.initial_hidden((e,)), self.critic.initial_hidden((e,))
        return init_runner(self.env, e, key, *hs, stagger=not self.cfg.ppo.complete_episodes)

    def runner_spec(self, runner):
        """How the runner's leaves lie on the devices: [runs, envs, ...], envs split."""
        return jax.tree.map(lambda _: ENV_SPLIT, runner)

    # ------------------------------------------------------------------ acting
    def action_mask(self, mask: jax.Array) -> jax.Array:
        """The world's mask; for continuous actions also each agent's true dimensions."""
        return mask & self.dim_mask if self.head.continuous else mask

    def act(self, params, obs, mask, key, hidden=None, reset=False):
        """The algorithm's acting for one batch of observations [..., N, O] with one run's
        learner params (evaluation, studies): (actions as sampled, what the world would
        receive, memories). Without `hidden` the memories start at zero."""
        if hidden is None:
            hidden = self.actor.initial_hidden(obs.shape[:-2])
        mask = self.action_mask(mask)
        policy = self.actor.step(params["actor"])
        actions, _, _, hidden = self.algo.acting.bind(params).act(
            policy, self.head, obs, mask, hidden, jnp.asarray(reset), key
        )
        return actions, self.head.to_env(actions, mask), hidden

    def rollout(self, params, runner: Runner, key: jax.Array, algo=None):
        """T steps of every local environment: (runner, Transition [T, E, ...], Episodes)."""
        algo, head = algo or self.algo, self.head
        policy = self.actor.step(params["actor"])
        acting = algo.acting.bind(params)

        def act(h, ts, k):
            mask, first = self.action_mask(ts.action_mask), ts.done
            actions, logp, actor_in, h_new = acting.act(policy, head, ts.obs, mask, h, first, k)
            return h_new, head.to_env(actions, mask), (actor_in, mask, actions, logp, first, h)

        def record(aux, ts, nts, env_state):
            actor_in, mask, actions, logp, first, h = aux
            tr = Transition(
                actor_in, mask, actions, logp, ts.obs, ts.global_state, first, h, nts.final_obs,
                nts.final_global_state, nts.reward, nts.terminated, nts.truncated, ts.alive,
            )  # fmt: skip
            return tr, episode_record(ts, nts, env_state)

        runner, actor_h, (traj, eps) = run_steps(
            self.env, runner, runner.actor_h, key, self.cfg.ppo.rollout_len, self.local_envs,
            act, record,
        )  # fmt: skip
        return runner._replace(actor_h=actor_h), traj, eps

    # ------------------------------------------------------------------ one update
    def chunks(self, traj: Transition, adv, targets, old_v, critic_h) -> Batch:
        """[T, E, ...] -> chunks [C = T/L * E, L, ...] with the memories at each chunk's start."""
        t, e, cl = self.cfg.ppo.rollout_len, self.local_envs, self.chunk_len

        def seq(x):  # [T, E, ...] -> [T/L, L, E, ...] -> [T/L, E, L, ...] -> [C, L, ...]
            x = jnp.swapaxes(x.reshape(t // cl, cl, *x.shape[1:]), 1, 2)
            return x.reshape(t // cl * e, cl, *x.shape[3:])

        start = lambda h: h[::cl].reshape(t // cl * e, *h.shape[2:])  # noqa: E731
        return Batch(
            seq(traj.actor_in), seq(traj.mask), seq(traj.action), seq(traj.logp), seq(traj.obs),
            seq(traj.global_state), seq(traj.first), seq(adv), seq(targets), seq(old_v),
            start(traj.actor_h), start(critic_h), seq(traj.alive),
        )  # fmt: skip

    def advantages(self, ctx: PPOContext, critic_params, traj, critic_h0, value_norm):
        """The critic over the rollout and the algorithm's advantages: (adv, targets, old_v,
        critic memories h_in, the last memory)."""
        denorm = value_norm.denormalize if ctx.ppo.value_norm else (lambda v: v)
        old_v, critic_h, critic_last = ctx.critic_values(
            critic_params, critic_h0, traj.obs, traj.global_state, traj.action,
            traj.actor_in, traj.first,
        )  # fmt: skip
        # the memory after step t (for the value of the state after it: no reset in between)
        h_after = jnp.concatenate([critic_h[1:], critic_last[None]], axis=0)
        k = ctx.algo.critic.bootstrap_agent
        h_boot = h_after if k is None else h_after[..., k, :]
        boot = ctx.bootstrap_values(critic_params, h_boot, traj.final_obs, traj.final_global_state)
        adv, targets = ctx.algo.advantages(
            traj.reward, denorm(old_v), denorm(boot), traj.terminated, traj.truncated
        )
        return adv, targets, old_v, critic_h, critic_last

    def with_kl_penalty(self, ctx: PPOContext, params, batch: Batch, state: KLPenalty):
        """RLlib's adaptive KL penalty for one update: the context with the coefficient in
        force, the batch with the behaviour policy's outputs (the actor replayed once over the
        batch before any step, as when acting), and the algorithm's own optimizer state."""
        batch = self.behaviour_outputs(ctx, params, batch)
        return dataclasses.replace(ctx, kl_coef=state.coef), batch, state.inner

    def behaviour_outputs(self, ctx: PPOContext, params, batch: Batch) -> Batch:
        """The batch with the behaviour policy's outputs (`Batch.old_out`): the actor replayed
        once over the batch before any step, as it was when acting (the KL penalty's pi_old, the
        belief network's targets)."""
        policy = ctx.actor.step(params["actor"])
        return batch._replace(old_out=ctx.actor_outputs(policy, batch)[0])

    def update(self, learner: Learner, runner: Runner, hparams: dict):
        """One update of one run with its values of the swept keys: (learner, runner, metrics)."""
        ctx = self.context(hparams)
        ppo, algo = ctx.ppo, ctx.algo
        key, k_roll, k_opt = jax.random.split(learner.key, 3)
        k_roll = jax.random.fold_in(k_roll, jax.lax.axis_index(AXIS))
        params, critic_h0 = learner.params, runner.critic_h
        runner, traj, eps = self.rollout(params, runner, k_roll, algo)
        value_norm = learner.value_norm
        adv, targets, old_v, critic_h, critic_last = self.advantages(
            ctx, params["critic"], traj, critic_h0, value_norm
        )
        if ppo.value_norm:
            value_norm = value_norm.update(targets, axis_name=AXIS)
        # diagnostics: each agent's variance of the raw advantages over the batch
        _, adv_var = L.moments(adv, tuple(range(adv.ndim - 1)), AXIS)
        diag = {"adv_var": jnp.mean(adv_var), "adv_var_ratio": adv_var[-1] / adv_var[0]}
        diag.update(algo.diagnostics(ctx, params["critic"], traj, old_v, critic_h))
        if ppo.adv_norm:  # over the whole batch (all devices), jointly or per agent
            adv = L.normalize_advantages(adv, ppo.adv_norm_per_agent, axis_name=AXIS)
        batch = self.chunks(traj, adv, targets, old_v, critic_h)
        runner = runner._replace(critic_h=critic_last)
        opt_state = learner.opt_state
        if self.kl_penalty:
            ctx, batch, opt_state = self.with_kl_penalty(ctx, params, batch, opt_state)
        elif algo.acting.reads_behaviour:
            batch = self.behaviour_outputs(ctx, params, batch)
        params, opt_state, aux = algo.optimization.optimize(
            ctx, params, opt_state, batch, value_norm, k_opt
        )
        # float statistics are averaged; integer entries (HAPPO's agent order) pass as they are
        metrics = {
            k: jax.lax.pmean(jnp.mean(v), AXIS) if jnp.issubdtype(v.dtype, jnp.floating) else v
            for k, v in aux.items()
        }
        metrics.update(diag)
        metrics.update(episode_metrics(eps, self.spec.metrics))
        if self.kl_penalty:  # RLlib's update_kl on the measured KL (the same on every device)
            metrics["kl_coef"] = ctx.kl_coef
            opt_state = KLPenalty(
                opt_state, L.adapt_kl_coef(ctx.kl_coef, metrics["kl"], ppo.kl_target)
            )
        learner = Learner(params, opt_state, value_norm, key, learner.update + 1)
        return learner, runner, metrics
