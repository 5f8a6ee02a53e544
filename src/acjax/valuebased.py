"""The value-based family on the harness: QMIX, VDN and IQL (`algo=qmix | vdn | iql`, the `q`
config section; their pieces are `acjax.algos.qmix`).

One update of a run, as PyMARL's episode runner and learner: every environment is reset and plays
one episode of `q.episode_len` steps (the world's time limit by default; an episode still running
there is truncated, one that ends earlier leaves the rest of the window as padding, masked out as
PyMARL pads its episode batches), acting epsilon-greedily with the shared recurrent agent
Q-network (memories start at zero at the reset); the episodes are added to the replay of whole
episodes (`acjax.buffer.make_episode_buffer`), then `q.train_steps` gradient steps each train on
`q.batch_episodes` episodes drawn from it, once it holds that many. A step unrolls the online and
the target agent networks over each sampled episode from its start, mixes the chosen actions'
values into Q_tot (`acjax.algos.qmix.mix`) and regresses Q_tot on the n-step double-Q targets
(`acjax.algos.qmix.n_step_targets`) over the episode's real steps. The target networks are copied
from the online ones whenever the episodes collected pass a multiple of
`q.target_update_episodes`.

An episode is stored as its L steps' actions, rewards and end flags, and L + 1 observations,
global states and action masks: those before each step, then the one after the last (the true
final one at an episode's end, kept on auto-reset); so step t's bootstrap observation is entry
t + 1. Termination and truncation differ as everywhere: no bootstrap after a termination, the
final observation's value at a truncation (its action mask is not kept by the worlds: every
action counts as available there). The learner's params are {"agent"[, "mixer"], "target":
{"agent"[, "mixer"]}}.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from acjax import algos
from acjax.algos import qmix as Q
from acjax.buffer import check_replay_memory, make_episode_buffer, sample_added
from acjax.config import ConfigError
from acjax.losses import ValueNorm
from acjax.nets import AgentNet, Net, unroll
from acjax.runner import (
    AXIS,
    ENV_SPLIT,
    EPISODE_METRICS,
    Episodes,
    Learner,
    episode_metrics,
    init_runner,
    make_world,
    run_steps,
)  # fmt: skip

Q_METRICS = ("q_loss", "q_taken", "q_target", "epsilon", "grad_norm")


class QTrainer:
    """One run's value-based update and its setup for one config (the module docstring);
    `layout` is the harness's device layout (`acjax.harness.Layout`)."""

    def __init__(self, cfg, layout, env=None):
        self.cfg = cfg
        self.env = make_world(cfg, env)
        spec = self.spec = self.env.spec
        if spec.continuous:
            raise ConfigError(f"config key 'algo': {cfg.algo} needs discrete actions")
        q = cfg.q
        self.algo: Q.ValueDecomposition = algos.make(cfg, spec, None)
        self.length = q.episode_len
        if self.length <= 0:
            raise ConfigError("config key 'q.episode_len': must be positive (or the world's limit)")
        self.local_envs, self.env_devices = layout.local_envs, layout.env_devices
        n, a = spec.num_agents, spec.num_actions
        net = Net(tuple(q.agent_hidden), a, 1.0, rnn_hidden=q.rnn_hidden)
        self.agent = AgentNet(net, n, share=True)
        self.in_dim = spec.obs_dim + n
        qmix = self.algo.mixer == "qmix"
        self.mixer = Q.QMixer(n, q.mixing_embed, q.hypernet_embed) if qmix else None
        if q.batch_episodes % self.env_devices:  # each device samples from its environments
            raise ConfigError(
                f"config key 'q.batch_episodes': {q.batch_episodes} does not split over "
                f"{self.env_devices} devices"
            )
        self.capacity = q.buffer_episodes // cfg.num_envs
        self.local_buffer = make_episode_buffer(
            self.local_envs, self.capacity, q.batch_episodes // self.env_devices
        )
        self.steps_per_update = cfg.batch_steps
        self.metric_names = EPISODE_METRICS + Q_METRICS + spec.metrics
        self.loss_names = ("q_loss",)
        opt = (
            optax.rmsprop(q.lr, decay=0.99, eps=1e-5, eps_in_sqrt=False)  # torch's RMSprop
            if q.optimizer == "rmsprop"
            else optax.adam(q.lr)
        )
        self.optimizer = optax.chain(optax.clip_by_global_norm(q.max_grad_norm), opt)
        written = cfg.num_updates * cfg.num_envs  # one episode per environment and update
        check_replay_memory(cfg, self.init_runner, "q.buffer_episodes", "episodes", written, layout)

    # ------------------------------------------------------------------ setup
    def init_learner(self, key):
        k_agent, k_mixer, k_learn = jax.random.split(key, 3)
        online = {"agent": self.agent.init(k_agent, self.in_dim)}
        if self.mixer is not None:
            n, s = self.spec.num_agents, self.spec.state_dim
            online["mixer"] = jax.jit(self.mixer.init)(k_mixer, jnp.zeros((n,)), jnp.zeros((s,)))
        params = {**online, "target": online}
        opt_state = self.optimizer.init(online)
        return Learner(params, opt_state, ValueNorm.create(), k_learn, jnp.zeros((), jnp.int32))

    def _episode_item(self):
        """One episode's arrays, zeros (the replay's item)."""
        s, n, L = self.spec, self.spec.num_agents, self.length
        z = lambda shape, dt=jnp.float32: jnp.zeros(shape, dt)  # noqa: E731
        return {
            "obs": z((L + 1, n, s.obs_dim)),
            "state": z((L + 1, s.state_dim)),
            "avail": z((L + 1, n, s.num_actions), bool),
            "action": z((L, n), jnp.int32),
            "reward": z((L,)),
            "terminated": z((L,), bool),
            "truncated": z((L,), bool),
            "filled": z((L,), bool),
        }

    def init_runner(self, key):
        e = self.cfg.num_envs
        h = self.agent.initial_hidden((e,))
        runner = init_runner(self.env, e, key, h, jnp.zeros((e, self.spec.num_agents, 0)), False)
        full = make_episode_buffer(e, self.capacity, 1)
        return runner._replace(buffer=full.init(self._episode_item()))

    def runner_spec(self, runner):
        """The replay's write position and fill flag are per run, the same on every device."""
        return jax.tree.map(lambda x: ENV_SPLIT if x.ndim >= 2 else P(), runner)

    # ------------------------------------------------------------------ networks
    def inputs(self, obs):
        """The agent network's inputs [..., N, O + N]: observation and one-hot agent id."""
        n = self.spec.num_agents
        ids = jnp.broadcast_to(jnp.eye(n), (*obs.shape[:-2], n, n))
        return jnp.concatenate([obs, ids], axis=-1)

    def q_sequence(self, agent, obs):
        """Every agent's Q-values along episodes from their start: obs [B, T, N, O] ->
        [B, T, N, A] (memories zero at t = 0)."""
        x = jnp.swapaxes(self.inputs(obs), 0, 1)  # [T, B, N, D]
        h0 = self.agent.initial_hidden(x.shape[1:2])
        resets = jnp.zeros(x.shape[:2], bool)
        outs, _, _ = unroll(self.agent.step(agent), h0, x, resets)
        return jnp.swapaxes(outs, 0, 1)

    # ------------------------------------------------------------------ one update
    def _collect(self, agent, runner, key, eps):
        """One episode of every local environment from a reset: (runner, episodes [E, 1, ...]
        for the replay, Episodes [L, E] for the metrics)."""
        k_reset, k_steps = jax.random.split(key)
        env_state, ts = jax.vmap(self.env.reset)(jax.random.split(k_reset, self.local_envs))
        runner = runner._replace(env_state=env_state, timestep=ts)
        policy = self.agent.step(agent)

        def act(h, ts, k):
            h, q = policy(h, self.inputs(ts.obs), ts.done)  # memories reset at episode starts
            actions = Q.egreedy(q, ts.action_mask, eps, k)
            return h, actions, actions

        def record(actions, ts, nts, env_state):
            return {"obs": ts.obs, "state": ts.global_state, "avail": ts.action_mask,
                    "action": actions, "next_obs": nts.final_obs,
                    "next_state": nts.final_global_state, "next_avail": nts.action_mask,
                    "reward": nts.reward, "terminated": nts.terminated,
                    "truncated": nts.truncated, "won": nts.won,
                    "restarts": nts.restarts}  # fmt: skip

        h0 = self.agent.initial_hidden((self.local_envs,))
        runner, h, tr = run_steps(
            self.env, runner, h0, k_steps, self.length, self.local_envs, act, record
        )
        episode, eps_record = self.episodes(tr)
        return runner._replace(actor_h=h), episode, eps_record

    def episodes(self, tr):
        """The records [L, E, ...] of one window per environment -> its first episode for the
        replay ([E, 1, ...]: the window's end truncates it) and the metrics' Episodes."""
        L = self.length
        done = tr["terminated"] | tr["truncated"]
        filled = (jnp.cumsum(done, axis=0) - done) == 0  # up to the first end
        at_end = jnp.arange(L)[:, None] == L - 1
        last = filled & (done | at_end)
        terminated = tr["terminated"] & filled
        truncated = last & ~terminated
        next_avail = jnp.where(done[..., None, None], True, tr["next_avail"])
        first = lambda x, nxt: jnp.concatenate([x[:1], nxt], axis=0)  # noqa: E731
        episode = {
            "obs": first(tr["obs"], tr["next_obs"]),
            "state": first(tr["state"], tr["next_state"]),
            "avail": first(tr["avail"], next_avail),
            "action": tr["action"],
            "reward": tr["reward"],
            "terminated": terminated,
            "truncated": truncated,
            "filled": filled,
        }
        episode = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1)[:, None], episode)  # [E, 1, ...]
        ret = jnp.cumsum(jnp.where(filled, tr["reward"], 0.0), axis=0)
        eps = Episodes(last, ret, tr["won"] & last, tr["restarts"])
        return episode, eps

    def loss(self, online, target, ep):
        """The mean squared TD error of Q_tot (per agent for IQL) over the real steps of
        episodes ep [B, ...]: (loss, (mean Q_tot taken, mean target))."""
        q, kind = self.cfg.q, self.algo.mixer
        qs = self.q_sequence(online["agent"], ep["obs"])  # [B, L+1, N, A]
        qt = self.q_sequence(target["agent"], ep["obs"])
        taken = jnp.take_along_axis(qs[:, :-1], ep["action"][..., None], axis=-1)[..., 0]
        nxt = Q.bootstrap_values(
            jax.lax.stop_gradient(qs[:, 1:]), qt[:, 1:], ep["avail"][:, 1:], q.double_q
        )
        q_tot = Q.mix(kind, self.mixer, online.get("mixer"), taken, ep["state"][:, :-1])
        next_tot = Q.mix(kind, self.mixer, target.get("mixer"), nxt, ep["state"][:, 1:])
        mask = ep["filled"]
        reward = ep["reward"]
        if q.reward_standardize:
            reward = Q.standardize(reward, mask, AXIS)
        y = Q.n_step_targets(reward, ep["terminated"], ep["truncated"], next_tot, q.gamma, q.n_step)
        y = jax.lax.stop_gradient(y)
        mask = jnp.broadcast_to(mask.reshape(*mask.shape, *([1] * (y.ndim - 2))), y.shape)
        count = jnp.maximum(jnp.sum(mask), 1)
        err = jnp.where(mask, q_tot - y, 0.0)
        mean = lambda x: jnp.sum(jnp.where(mask, x, 0.0)) / count  # noqa: E731
        return jnp.sum(err**2) / count, (mean(q_tot), mean(y))

    def _train(self, params, opt_state, buffer, episode, key):
        """q.train_steps gradient steps on episodes from the local replay `buffer` with
        `episode` added (`acjax.buffer.sample_added`): (online, opt_state, stats)."""
        online = {k: v for k, v in params.items() if k != "target"}
        target = params["target"]

        def step(carry, k):
            online, opt_state = carry
            k = jax.random.fold_in(k, jax.lax.axis_index(AXIS))
            ep = sample_added(self.local_buffer, buffer, episode, k)
            (loss, (taken, y)), grads = jax.value_and_grad(self.loss, has_aux=True)(
                online, target, ep
            )
            grads = jax.lax.pmean(grads, AXIS)
            updates, opt_state = self.optimizer.update(grads, opt_state, online)
            online = optax.apply_updates(online, updates)
            return (online, opt_state), (loss, taken, y, optax.tree.norm(grads))

        keys = jax.random.split(key, self.cfg.q.train_steps)
        (online, opt_state), stats = jax.lax.scan(step, (online, opt_state), keys)
        stats = [jax.lax.pmean(jnp.mean(x), AXIS) for x in stats]
        return online, opt_state, stats

    def update(self, learner, runner, hparams):
        """One update of one run (nothing of it is sweepable: `hparams` is empty)."""
        q, e = self.cfg.q, self.cfg.num_envs
        key, k_collect, k_learn = jax.random.split(learner.key, 3)
        k_collect = jax.random.fold_in(k_collect, jax.lax.axis_index(AXIS))
        eps = Q.epsilon(
            learner.update * self.steps_per_update,
            q.epsilon_start, q.epsilon_finish, q.epsilon_anneal_steps,
        )  # fmt: skip
        params = learner.params
        runner, episode, eps_record = self._collect(params["agent"], runner, k_collect, eps)
        online, opt_state, (loss, taken, y, gnorm) = self._train(
            params, learner.opt_state, runner.buffer, episode, k_learn
        )
        # The episodes are added to the replay (in place) after the gradient steps read it: the
        # add takes `episode` through a select on a never-true condition of their loss
        # (learner.update is never negative), a data dependency that orders the write after the
        # reads; without it XLA copies the whole replay every update (`sample_added`).
        after = (loss != loss) & (learner.update < 0)
        episode = jax.tree.map(lambda x: jnp.where(after, jnp.zeros_like(x), x), episode)
        runner = runner._replace(buffer=self.local_buffer.add(runner.buffer, episode))
        # learning starts once the replay holds a batch of episodes
        learn = (learner.update + 1) * e >= q.batch_episodes
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(learn, a, b), new, old)  # noqa: E731
        old = {k: v for k, v in params.items() if k != "target"}
        online, opt_state = keep(online, old), keep(opt_state, learner.opt_state)
        k_t = q.target_update_episodes
        copy = (learner.update + 1) * e // k_t > learner.update * e // k_t
        target = jax.tree.map(lambda a, b: jnp.where(copy, a, b), online, params["target"])
        nan = jnp.asarray(jnp.nan)
        metrics = episode_metrics(eps_record, self.spec.metrics)
        metrics.update({
            "q_loss": jnp.where(learn, loss, 0.0),
            "q_taken": jnp.where(learn, taken, nan),
            "q_target": jnp.where(learn, y, nan),
            "grad_norm": jnp.where(learn, gnorm, 0.0),
            "epsilon": jnp.asarray(eps, jnp.float32),
        })  # fmt: skip
        learner = Learner({**online, "target": target}, opt_state, learner.value_norm, key,
                          learner.update + 1)  # fmt: skip
        return learner, runner, metrics

    def act(self, params, obs, mask, key, hidden=None, reset=False):
        """Epsilon-greedy acting at q.epsilon_finish for one batch of observations [..., N, O]:
        (actions, what the world receives, memories)."""
        if hidden is None:
            hidden = self.agent.initial_hidden(obs.shape[:-2])
        hidden, q = self.agent.step(params["agent"])(hidden, self.inputs(obs), jnp.asarray(reset))
        actions = Q.egreedy(q, mask, self.cfg.q.epsilon_finish, key)
        return actions, actions, hidden
