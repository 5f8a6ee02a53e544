"""The off-policy family on the harness: AC-TD3 (the paper's Appendix N), HATD3 and MADDPG, with
replay inside the compiled update (`algo=ac_td3 | hatd3 | maddpg`, the `td3` config section;
their pieces are `acjax.algos.td3`).

One update of a run is `td3.train_interval` steps of every environment (deterministic actions
plus Gaussian exploration noise; uniform random actions until `td3.warmup_steps` env steps),
their transitions added to the replay (`acjax.buffer`, in the runner), then G gradient steps
(`train_interval * updates_per_train` rounded up to whole `policy_freq` cycles: HARL's
train_interval and update_per_train). A cycle is `policy_freq` critic steps, then one actor
step and the Polyak step of every target network. Each gradient step trains on `batch_size`
windows of `n_step` consecutive transitions (`acjax.td`). Before learning starts, the updates
collect and keep their parameters. The learner's params hold the online and the target
networks: {"actor", "critic": {"q1"[, "q2"]}, "target": {"actor", "critic"}}.

AC-TD3's agent i acts on its own observation and the prefix of earlier agents' actions it
predicts with its own network (the belief chain, docs/acpo.md §2), and its actor is trained
through Q^(i) with the actual earlier actions, like ACPO's chained critic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from acjax import algos, td
from acjax.algos.base import input_dims
from acjax.algos.happo import agent_order, put_agent, take_agent
from acjax.algos.td3 import DeterministicHead, OffPolicy
from acjax.buffer import check_replay_memory, make_buffer
from acjax.config import ConfigError
from acjax.losses import ValueNorm
from acjax.nets import AgentNet, Net
from acjax.runner import (
    AXIS,
    ENV_SPLIT,
    EPISODE_METRICS,
    Learner,
    episode_metrics,
    episode_record,
    init_runner,
    make_world,
    run_steps,
)  # fmt: skip

OFF_POLICY_METRICS = ("critic_loss", "actor_loss", "q_mean")


class OffPolicyTrainer:
    """One run's off-policy update and its setup for one config (the module docstring);
    `layout` is the harness's device layout (`acjax.harness.Layout`)."""

    def __init__(self, cfg, layout, env=None):
        self.cfg = cfg
        self.env = make_world(cfg, env)
        spec = self.spec = self.env.spec
        if not spec.continuous:
            raise ConfigError(f"config key 'algo': {cfg.algo} needs continuous actions")
        t = cfg.td3
        self.head = DeterministicHead(spec.num_actions, spec.action_low, spec.action_high)
        self.algo = algos.make(cfg, spec, self.head)
        self.how: OffPolicy = self.algo.optimization
        self.dim_mask = jnp.asarray(spec.action_dim_mask())
        self.local_envs, self.env_devices = layout.local_envs, layout.env_devices

        self.explore = self.head.noisy(t.expl_noise)
        self.smooth = self.head.noisy(t.policy_noise if self.how.smoothing else 0.0, t.noise_clip)
        net = cfg.net
        kw = dict(activation=net.activation, layer_norm=net.layer_norm)
        n_q = spec.num_agents if self.how.chained else 1
        self.actor = AgentNet(
            Net(tuple(net.actor_hidden), spec.num_actions, 0.01, **kw),
            spec.num_agents,
            net.share_params,
        )
        self.critic = AgentNet(Net(tuple(net.critic_hidden), 1, 1.0, **kw), n_q, net.share_params)
        self.twins = ("q1", "q2") if self.how.twin else ("q1",)
        d = t.policy_freq if self.how.delayed else 1
        self.policy_freq = d
        self.cycles = max(1, math.ceil(t.train_interval * t.updates_per_train / d))
        self.steps_per_update = cfg.batch_steps
        if t.batch_size % self.env_devices:  # each device samples from its environments
            raise ConfigError(
                f"config key 'td3.batch_size': {t.batch_size} does not split over "
                f"{self.env_devices} devices"
            )
        self.capacity = t.buffer_size // cfg.num_envs
        self.local_buffer = make_buffer(
            self.local_envs, self.capacity, t.batch_size // self.env_devices, t.n_step
        )
        self.metric_names = EPISODE_METRICS + OFF_POLICY_METRICS + self.spec.metrics
        self.loss_names = ("critic_loss", "actor_loss")
        self.actor_opt = optax.adam(t.actor_lr)
        self.critic_opt = optax.adam(t.critic_lr)
        written = cfg.num_updates * cfg.batch_steps  # transitions, over all environments
        check_replay_memory(
            cfg, self.init_runner, "td3.buffer_size", "transitions", written, layout
        )

    # ------------------------------------------------------------------ setup
    def init_learner(self, key):
        k_a, k_q, k_learn = jax.random.split(key, 3)
        actor_dim, q_dim = input_dims(self.algo, self.spec, self.head)
        actor = self.actor.init(k_a, actor_dim)
        critic = {
            name: self.critic.init(k, q_dim)
            for name, k in zip(self.twins, jax.random.split(k_q, 2), strict=False)
        }
        params = {"actor": actor, "critic": critic, "target": {"actor": actor, "critic": critic}}
        # HATD3 updates one agent's slice at a time: one Adam state per agent, as HAPPO's
        actor_init = jax.vmap(self.actor_opt.init) if self.how.sequential else self.actor_opt.init
        opt_state = {"actor": actor_init(actor), "critic": self.critic_opt.init(critic)}
        return Learner(params, opt_state, ValueNorm.create(), k_learn, jnp.zeros((), jnp.int32))

    def _transition(self, actor_in, action, ts, nts):
        """What the replay keeps of one step, [E, ...]."""
        return {
            "actor_in": actor_in,
            "action": action,
            "obs": ts.obs,
            "global_state": ts.global_state,
            "final_obs": nts.final_obs,
            "final_global_state": nts.final_global_state,
            "reward": nts.reward,
            "terminated": nts.terminated,
            "truncated": nts.truncated,
        }

    def init_runner(self, key):
        e = self.cfg.num_envs
        hs = self.actor.initial_hidden((e,)), self.critic.initial_hidden((e,))
        runner = init_runner(self.env, e, key, *hs)
        ts = jax.tree.map(lambda x: x[0], runner.timestep)
        n = self.spec.num_agents
        actor_in = self.algo.acting.inputs(ts.obs)
        item = self._transition(actor_in, self.head.zeros((n,)), ts, ts)
        full = make_buffer(self.cfg.num_envs, self.capacity, 1, self.cfg.td3.n_step)
        return runner._replace(buffer=full.init(item))

    def runner_spec(self, runner):
        """The replay's write position and fill flag are per run, the same on every device."""
        return jax.tree.map(lambda x: ENV_SPLIT if x.ndim >= 2 else P(), runner)

    # ------------------------------------------------------------------ networks
    def q_values(self, critic, x):
        """Every critic of `critic` on inputs [..., M, D] -> [twins, ..., M]."""
        h = jnp.zeros((*x.shape[:-1], 0))
        q = [self.critic.apply(critic[k], h, x, jnp.asarray(False))[1] for k in self.twins]
        return jnp.stack(q)[..., 0]

    def mu(self, actor, x):
        """The deterministic actions of every agent on policy inputs [..., N, D]."""
        h = jnp.zeros((*x.shape[:-1], 0))
        return self.head.action(self.actor.apply(actor, h, x, jnp.asarray(False))[1])

    def _act(self, actor, head, obs, key):
        h = jnp.zeros((*obs.shape[:-1], 0))
        mask = jnp.broadcast_to(self.dim_mask, (*obs.shape[:-1], self.head.num_actions))
        policy = self.actor.step(actor)
        actions, _, actor_in, _ = self.algo.acting.act(
            policy, head, obs, mask, h, jnp.asarray(False), key
        )
        return actions, actor_in

    # ------------------------------------------------------------------ one update
    def _collect(self, learner, runner, key):
        t = self.cfg.td3
        random = learner.update * self.steps_per_update < t.warmup_steps
        low, high = self.head.low, self.head.high

        def act(carry, ts, k):
            k_act, k_rand = jax.random.split(k)
            actions, actor_in = self._act(learner.params["actor"], self.explore, ts.obs, k_act)
            uniform = jax.random.uniform(k_rand, actions.shape, minval=low, maxval=high)
            actions = jnp.where(random, uniform * self.dim_mask, actions)
            return carry, self.head.to_env(actions, self.dim_mask), (actor_in, actions)

        def record(aux, ts, nts, env_state):
            return self._transition(*aux, ts, nts), episode_record(ts, nts, env_state)

        runner, _, (traj, eps) = run_steps(
            self.env, runner, (), key, t.train_interval, self.local_envs, act, record
        )
        batch = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)  # [E, T, ...]
        return runner._replace(buffer=self.local_buffer.add(runner.buffer, batch)), eps

    def targets(self, target, w, key):
        """The TD targets of sampled windows w [B, K, ...]: [B, N] (chained) or [B, 1]."""
        t = self.cfg.td3
        ret, last, disc = td.window_returns(w["reward"], w["terminated"], w["truncated"], t.gamma)

        def at_last(x):
            idx = last.reshape(-1, *([1] * (x.ndim - 1)))
            return jnp.take_along_axis(x, idx, axis=1)[:, 0]

        obs, state = at_last(w["final_obs"]), at_last(w["final_global_state"])
        actions, actor_in = self._act(target["actor"], self.smooth, obs, key)
        q = jnp.min(self.q_values(target["critic"], self.algo.critic.inputs(
            obs, state, actions, actor_in)), axis=0)  # fmt: skip
        if self.how.chained and t.chain_target == "onestep":
            # agent i+1's target critic at s_t: the actual a_t^<=i, its own target action
            obs, state, x_in = w["obs"][:, 0], w["global_state"][:, 0], w["actor_in"][:, 0]
            own, _ = self._act(target["actor"], self.smooth, obs, jax.random.fold_in(key, 1))
            x = self.algo.critic.inputs(obs, state, w["action"][:, 0], x_in, own=own)
            q_same = jnp.min(self.q_values(target["critic"], x), axis=0)
            return td.chained_micro_targets(
                w["reward"][:, 0], w["terminated"][:, 0], q_same, q[..., 0], t.gamma
            )
        if self.how.chained:
            return td.chained_targets(ret, disc, q, t.gamma)
        return td.td_targets(ret, disc, q[..., 0])[..., None]

    def critic_step(self, params, opt_state, w, key):
        y = jax.lax.stop_gradient(self.targets(params["target"], w, key))
        x = self.algo.critic.inputs(
            w["obs"][:, 0], w["global_state"][:, 0], w["action"][:, 0], w["actor_in"][:, 0]
        )

        def loss_fn(critic):
            q = self.q_values(critic, x)
            return jnp.sum(jnp.mean((q - y) ** 2, axis=tuple(range(1, q.ndim)))), q

        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(params["critic"])
        grads = jax.lax.pmean(grads, AXIS)
        updates, state = self.critic_opt.update(grads, opt_state["critic"], params["critic"])
        params = dict(params, critic=optax.apply_updates(params["critic"], updates))
        return params, dict(opt_state, critic=state), loss, jnp.mean(q[0])

    def _actor_objective(self, actor, critic, w, replace):
        """-mean Q1 with the actions of the agents where `replace` [N] (or [N, N]: row i for
        agent i's term) from `actor`, the others from the replay."""
        x_in, a_buf = w["actor_in"][:, 0], w["action"][:, 0]
        a_new = self.mu(actor, x_in)
        obs, state = w["obs"][:, 0], w["global_state"][:, 0]
        if self.how.chained:  # Q^(i)([s, a^<i actual], mu_i): agent i's own action only
            return -jnp.mean(self.q_values(critic, self.algo.critic.inputs(
                obs, state, jnp.where(replace[:, None], a_new, a_buf), x_in))[0])  # fmt: skip
        rows = replace if replace.ndim == 2 else jnp.diag(replace)  # [N(term), N(agent)]
        a = jnp.where(rows[None, :, :, None], a_new[:, None], a_buf[:, None])  # [B, N, N, A]
        state = jnp.broadcast_to(state[:, None], (state.shape[0], rows.shape[0], state.shape[-1]))
        x = self.algo.critic.inputs(None, state, a, None)  # [B, N, 1, D]
        terms = rows.any(axis=1)
        q = self.q_values(critic, x)[0][..., 0]  # [B, N]
        return -jnp.sum(jnp.mean(q, axis=0) * terms) / jnp.maximum(terms.sum(), 1)

    def actor_step(self, params, opt_state, w, key):
        n = self.spec.num_agents
        critic = params["critic"]
        if not self.how.sequential:  # every agent's term at once: agent i's own action moves
            replace = jnp.ones((n,), bool) if self.how.chained else jnp.eye(n, dtype=bool)

            def loss_fn(actor):
                return self._actor_objective(actor, critic, w, replace)

            loss, grads = jax.value_and_grad(loss_fn)(params["actor"])
            grads = jax.lax.pmean(grads, AXIS)
            updates, state = self.actor_opt.update(grads, opt_state["actor"], params["actor"])
            actor = optax.apply_updates(params["actor"], updates)
            return dict(params, actor=actor), dict(opt_state, actor=state), loss

        # HATD3: agents in a random order; agent k's term uses the agents updated before it
        # (their new actions) and the replay's actions of the others
        def body(carry, k):
            actor, state, done = carry
            p_k, s_k = take_agent(actor, k), take_agent(state, k)

            def loss_fn(pk):
                full = put_agent(actor, k, pk)
                a_new = self.mu(full, w["actor_in"][:, 0])
                a_new = jnp.where(
                    (jnp.arange(n) == k)[:, None], a_new, jax.lax.stop_gradient(a_new)
                )
                use = done | (jnp.arange(n) == k)
                a = jnp.where(use[:, None], a_new, w["action"][:, 0])
                x = self.algo.critic.inputs(None, w["global_state"][:, 0], a, None)
                return -jnp.mean(self.q_values(critic, x)[0])

            loss, grads = jax.value_and_grad(loss_fn)(p_k)
            grads = jax.lax.pmean(grads, AXIS)
            updates, s_k = self.actor_opt.update(grads, s_k, p_k)
            actor = put_agent(actor, k, optax.apply_updates(p_k, updates))
            return (actor, put_agent(state, k, s_k), done | (jnp.arange(n) == k)), loss

        order = agent_order(key, n)
        init = (params["actor"], opt_state["actor"], jnp.zeros((n,), bool))
        (actor, state, _), losses = jax.lax.scan(body, init, order)
        return dict(params, actor=actor), dict(opt_state, actor=state), jnp.mean(losses)

    def update(self, learner, runner, hparams):
        """One update of one run (nothing of it is sweepable: `hparams` is empty)."""
        t = self.cfg.td3
        key, k_collect, k_learn = jax.random.split(learner.key, 3)
        k_collect = jax.random.fold_in(k_collect, jax.lax.axis_index(AXIS))
        runner, eps = self._collect(learner, runner, k_collect)
        buffer = runner.buffer

        def cycle(carry, k):
            params, opt_state = carry
            keys = jax.random.split(k, 2 * self.policy_freq + 1)

            def critic_once(c, kk):
                params, opt_state = c
                k_s, k_t = jax.random.split(kk)
                k_s = jax.random.fold_in(k_s, jax.lax.axis_index(AXIS))
                w = self.local_buffer.sample(buffer, k_s).experience
                params, opt_state, loss, q = self.critic_step(params, opt_state, w, k_t)
                return (params, opt_state), (loss, q)

            (params, opt_state), (c_loss, q) = jax.lax.scan(
                critic_once, (params, opt_state), keys[: self.policy_freq]
            )
            k_s = jax.random.fold_in(keys[-1], jax.lax.axis_index(AXIS))
            w = self.local_buffer.sample(buffer, k_s).experience
            params, opt_state, a_loss = self.actor_step(params, opt_state, w, keys[-2])
            online = {"actor": params["actor"], "critic": params["critic"]}
            params = dict(params, target=td.polyak(params["target"], online, t.tau))
            return (params, opt_state), (jnp.mean(c_loss), a_loss, jnp.mean(q))

        init = (learner.params, learner.opt_state)
        (params, opt_state), (c_loss, a_loss, q) = jax.lax.scan(
            cycle, init, jax.random.split(k_learn, self.cycles)
        )
        # learning starts once the warm-up is over and every environment holds a window
        learn = (learner.update + 1) * self.steps_per_update > t.warmup_steps
        learn = learn & self.local_buffer.can_sample(buffer)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(learn, a, b), new, old)  # noqa: E731
        params, opt_state = keep(params, learner.params), keep(opt_state, learner.opt_state)
        nan = jnp.asarray(jnp.nan)
        metrics = episode_metrics(eps, self.spec.metrics)
        metrics.update({
            # 0 before learning starts (q_mean is empty then)
            "critic_loss": jnp.where(learn, jax.lax.pmean(jnp.mean(c_loss), AXIS), 0.0),
            "actor_loss": jnp.where(learn, jax.lax.pmean(jnp.mean(a_loss), AXIS), 0.0),
            "q_mean": jnp.where(learn, jax.lax.pmean(jnp.mean(q), AXIS), nan),
        })  # fmt: skip
        learner = Learner(params, opt_state, learner.value_norm, key, learner.update + 1)
        return learner, runner, metrics

    def act(self, params, obs, mask, key, hidden=None, reset=False):
        """Deterministic acting with exploration noise (evaluation: `GreedyHead` takes the
        mode); (actions, what the world receives, memories)."""
        actions, _ = self._act(params["actor"], self.explore, obs, key)
        return actions, self.head.to_env(actions, self.dim_mask), hidden
