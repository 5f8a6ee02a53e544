"""The fused trainer: rollout, advantages and PPO epochs in one compiled update.

`make_trainer(cfg)` builds
    init()                      -> (learner, runner)   every leaf has a leading seed axis
    compile(learner, runner, k) -> chunk(learner, runner) -> (learner, runner, metrics [runs, k])
where one chunk loops over k PPO updates; one program of K = updates_per_call updates serves
every call of a run (a shorter call skips the surplus updates: a dynamic trip count). Runs
are a vmapped axis of the whole program: the seeds, crossed with the values of swept
hyper-parameters (`sweep.<key>=[...]`, value-major: run r is value combination r // num_seeds
and seed index r % num_seeds; each run's values enter the update as arrays, `Trainer.swept`).
The program is sharded over the devices with `shard_map` in one of two ways (`split`,
`Trainer._split`): whole runs per device (`runs`, mesh axis 'r': the default when the runs divide
over the devices; nothing crosses them, and each run computes exactly what it computes on one
device), or each run's environments over all devices (`envs`, mesh axis 'd': the runner's env
axis is sharded; gradients, value statistics and metrics are averaged over 'd', so every device
holds the same learner). The code of one update reduces over 'd' in both: with whole runs per
device, 'd' is an axis of size 1. The host loop (`acjax.run.train`) only logs, checkpoints and
checks signals between chunks.

One update: the rollout scans T steps (the algorithm's acting piece chooses actions; recurrent
memories are carried and reset where episodes start), the critic is unrolled over the rollout,
the algorithm's advantages give targets, and the batch is cut into chunks of `ppo.chunk_len`
steps (1 for feed-forward networks) with the memories stored at each chunk's start; the
algorithm's optimization piece then runs epochs x minibatches over chunks (never splitting one).
The PPO maths are the pure functions of `acjax.losses`.

Multi-process (`jax.distributed`, docs/distributed.md): the mesh spans every process's devices
(`jax.devices()`), each process drives its own and holds its slice of the env axis; every process
runs the same host loop in lockstep, process 0 alone writes the run's files.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from acjax import algos
from acjax import losses as L
from acjax.algos.acpo import BeliefChain, ChainedCritic, prediction_match
from acjax.config import Config, ConfigError, sweep_grid, with_values
from acjax.envs.registry import make as make_env
from acjax.envs.wrappers import AutoReset, EpisodeStats
from acjax.nets import make_head, make_nets, unroll

AXIS = "d"  # the devices one run's environments split over (size 1 when runs split)
RUNS = "r"  # the devices whole runs split over (split=runs)
ENV_SPLIT = P(None, AXIS)  # [runs, envs, ...] with the environments split over the devices
RUN_SPLIT = P(RUNS)  # [runs, ...] with the runs split over the devices


class Learner(NamedTuple):
    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    value_norm: L.ValueNorm
    key: jax.Array
    update: jax.Array  # number of updates done


class Runner(NamedTuple):
    env_state: Any
    timestep: Any
    actor_h: jax.Array  # [E, N, H] memories carried between updates (H = 0 without an RNN)
    critic_h: jax.Array
    buffer: Any = ()  # the off-policy algorithms' replay (acjax.offpolicy); none on-policy


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
    episode_return: jax.Array  # return of the episode that ended at this step (where done)
    alive: jax.Array  # [E, N]: the agent was alive when it acted (death masking)
    won: jax.Array  # [E]: the episode that ended at this step was won
    restarts: jax.Array  # [E]: instances restarted after a fault at this step


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


METRIC_NAMES = (
    "episode_return",
    "episodes",
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


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, limit + 1) if n % d == 0)


def time_major(x: jax.Array) -> jax.Array:
    """[C, L, ...] <-> [L, C, ...]."""
    return jnp.swapaxes(x, 0, 1)


class Trainer:
    """Compiled training programs for one config (see the module docstring)."""

    def __init__(self, cfg: Config, devices: list | None = None, env=None):
        self.cfg = cfg
        self.env = EpisodeStats(AutoReset(env if env is not None else make_env(cfg.env, cfg)))
        self.spec = self.env.spec
        self.head = make_head(self.spec)
        self.algo = algos.make(cfg, self.spec, self.head)
        self.actor, self.critic = make_nets(self.spec.num_agents, self.head, cfg.net)
        self.dim_mask = jnp.asarray(self.spec.action_dim_mask())
        # a sweep: runs r = value combination r // num_seeds, seed index r % num_seeds
        self.sweep_keys, combos = sweep_grid(cfg)
        self.num_runs = len(combos) * cfg.num_seeds
        self.run_values = [combos[r // cfg.num_seeds] for r in range(self.num_runs)]
        self.run_seeds = [cfg.seed + r % cfg.num_seeds for r in range(self.num_runs)]
        # every process's devices (the local ones in a single process)
        devices = devices if devices is not None else jax.devices()
        self.split, n_dev = self._split(cfg, len(devices))
        self.mesh = Mesh(np.array(devices[:n_dev]), (RUNS if self.split == "runs" else AXIS,))
        self.n_devices = n_dev
        self.env_devices = 1 if self.split == "runs" else n_dev  # what one run's envs split over
        self.local_envs = cfg.num_envs // self.env_devices
        ppo = cfg.ppo
        self.chunk_len = ppo.chunk_len if cfg.net.rnn != "none" else 1
        chunks = ppo.rollout_len // self.chunk_len * self.local_envs
        if chunks % ppo.num_minibatches:
            raise ConfigError(
                f"config key 'ppo.num_minibatches': the {chunks} sequence chunks of one device "
                f"do not split into {ppo.num_minibatches} minibatches"
            )
        self.steps_per_update = cfg.num_envs * ppo.rollout_len
        chain = isinstance(self.algo.acting, BeliefChain) and not self.head.continuous
        chain = chain and self.spec.num_agents > 1 and cfg.acpo.belief != "none"
        chained = isinstance(self.algo.critic, ChainedCritic) and self.spec.num_agents > 1
        self.loss_names = ("actor_loss", "value_loss", "grad_norm")  # checked for NaN/inf
        self.metric_names = (
            METRIC_NAMES
            + self.spec.metrics
            + (("pred_match",) if chain else ())
            + (("prefix_sens",) if chained else ())
        )
        self.num_updates = cfg.num_updates
        self.optimizer = self.algo.optimization.make_optimizer(self)
        self._compiled: dict[int, Any] = {}  # program size -> call(learner, runner, k)
        self._slices: dict[int, Any] = {}

    def _split(self, cfg: Config, available: int) -> tuple[str, int]:
        """How the runs share the devices, and how many devices: whole runs per device ('runs':
        nothing crosses the devices, each run computes what it computes on one device) or each
        run's environments over all of them ('envs': gradients and statistics averaged over the
        devices). `auto` takes 'runs' when they split over at least as many devices as the
        environments would, in one process (several processes split the environments)."""
        runs, envs, asked = self.num_runs, cfg.num_envs, cfg.devices
        if jax.process_count() > 1:  # the mesh must hold every process's devices
            where = f"the {available} devices of {jax.process_count()} processes"
            if cfg.split == "runs":
                raise ConfigError(f"config key 'split': runs split in one process only ({where})")
            if asked not in (0, available):
                raise ConfigError(f"config key 'devices': must be 0 or {available} ({where})")
            if envs % available:
                raise ConfigError(f"config key 'num_envs': {envs} does not split over {where}")
            return "envs", available
        if asked > available:
            raise ConfigError(f"config key 'devices': {asked} but only {available} are available")
        if asked:  # the devices asked for, where they divide (0: they do not)
            n_runs, n_envs = (asked if x % asked == 0 else 0 for x in (runs, envs))
        else:
            n_runs, n_envs = _largest_divisor(runs, available), _largest_divisor(envs, available)
        split = cfg.split
        if split == "auto":
            split = "runs" if runs > 1 and n_runs and n_runs >= n_envs else "envs"
        n = n_runs if split == "runs" else n_envs
        if not n:
            what = f"'num_envs': {envs} does" if split == "envs" else f"'split': {runs} runs do"
            raise ConfigError(f"config key {what} not split over devices={asked}")
        return split, n

    # ------------------------------------------------------------------ setup
    def adam(self, lr: float) -> optax.GradientTransformation:
        """Adam with global-norm clipping (and optional linear decay) for one network."""
        ppo = self.cfg.ppo
        steps = self.num_updates * ppo.epochs * ppo.num_minibatches
        sched = optax.linear_schedule(lr, 0.0, steps) if ppo.lr_decay else lr
        return optax.chain(
            optax.clip_by_global_norm(ppo.max_grad_norm), optax.adam(sched, eps=ppo.adam_eps)
        )

    def default_optimizer(self):
        """One optimizer over {"actor", "critic"}, each with its own learning rate."""
        ppo = self.cfg.ppo
        return optax.multi_transform(
            {"actor": self.adam(ppo.lr), "critic": self.adam(ppo.critic_lr)},
            lambda params: {k: k for k in params},
        )

    def _init_params(self, key: jax.Array) -> Learner:
        k_actor, k_critic, k_learn = jax.random.split(key, 3)
        spec, algo = self.spec, self.algo
        obs = jnp.zeros((spec.num_agents, spec.obs_dim), jnp.float32)
        actor_in = algo.acting.inputs(obs)
        state = jnp.zeros((spec.state_dim,), jnp.float32)
        critic_in = algo.critic.inputs(obs, state, self.head.zeros((spec.num_agents,)), actor_in)
        params = {
            "actor": self.actor.init(k_actor, actor_in.shape[-1]),
            "critic": self.critic.init(k_critic, critic_in.shape[-1]),
        }
        return Learner(
            params,
            self.optimizer.init(params),
            L.ValueNorm.create(),
            k_learn,
            jnp.zeros((), jnp.int32),
        )

    def _init_envs(self, key: jax.Array) -> Runner:
        k_env = jax.random.fold_in(key, 1)
        e = self.cfg.num_envs
        env_state, ts = jax.vmap(self.env.reset)(jax.random.split(k_env, e))
        k_stagger = jax.random.fold_in(key, 2)  # first episodes end at different times
        env_state = jax.vmap(self.env.stagger)(env_state, jax.random.split(k_stagger, e))
        return Runner(
            env_state, ts, self.actor.initial_hidden((e,)), self.critic.initial_hidden((e,))
        )

    def seed_keys(self) -> jax.Array:
        return jnp.stack([jax.random.PRNGKey(s) for s in self.run_seeds])

    def hparams(self) -> dict:
        """Each run's values of the swept keys, {key: [runs]} (empty without a sweep)."""
        return {
            k: np.asarray([v[j] for v in self.run_values], np.float32)
            for j, k in enumerate(self.sweep_keys)
        }

    @contextlib.contextmanager
    def swept(self, hparams: dict):
        """While a run's update is traced: the config with the run's (traced) values of the
        swept keys, and the algorithm and optimizer built from it. The optimizer state's
        structure does not depend on these values, so the state made at init serves."""
        if not hparams:
            yield
            return
        saved = self.cfg, self.algo, self.optimizer
        self.cfg = with_values(self.cfg, tuple(hparams), tuple(hparams.values()))
        self.algo = algos.make(self.cfg, self.spec, self.head)
        self.optimizer = self.algo.optimization.make_optimizer(self)
        try:
            yield
        finally:
            self.cfg, self.algo, self.optimizer = saved

    def runner_spec(self, runner):
        """How the runner's leaves lie on the devices: [runs, envs, ...], envs split."""
        return jax.tree.map(lambda _: ENV_SPLIT, runner)

    def specs(self, runner) -> tuple[P, Any]:
        """Partition specs of (the learner and every other per-run tree, the runner)."""
        if self.split == "runs":
            return RUN_SPLIT, jax.tree.map(lambda _: RUN_SPLIT, runner)
        return P(), self.runner_spec(runner)

    def shardings(self, learner, runner):
        per_run, spec = self.specs(runner)
        rep = NamedSharding(self.mesh, per_run)
        return jax.tree.map(lambda _: rep, learner), jax.tree.map(
            lambda p: NamedSharding(self.mesh, p), spec, is_leaf=lambda x: isinstance(x, P)
        )

    def init(self) -> tuple[Learner, Runner]:
        """Initial learner and runner for every run: run r has seed `run_seeds[r]` (seed index s
        runs seed `cfg.seed + s`), so a vmapped sweep reproduces its runs one by one."""
        keys = self.seed_keys()
        learners = [self._init_params(k) for k in keys]  # not vmapped: see AgentNet.init
        learner = jax.tree.map(lambda *xs: jnp.stack(xs), *learners)
        runner = jax.jit(jax.vmap(self._init_envs))(keys)
        ls, rs = self.shardings(learner, runner)
        return place(learner, ls), place(runner, rs)

    # ------------------------------------------------------------------ one update
    def action_mask(self, mask: jax.Array) -> jax.Array:
        """The world's mask; for continuous actions also each agent's true dimensions."""
        return mask & self.dim_mask if self.head.continuous else mask

    def act(self, actor_params, obs, mask, key, hidden=None, reset=False):
        """The algorithm's acting for one batch of observations [..., N, O] (evaluation, studies):
        (actions as sampled, what the world would receive, memories). Without `hidden` the
        memories start at zero."""
        if hidden is None:
            hidden = self.actor.initial_hidden(obs.shape[:-2])
        mask = self.action_mask(mask)
        policy = self.actor.step(actor_params)
        actions, _, _, hidden = self.algo.acting.act(
            policy, self.head, obs, mask, hidden, jnp.asarray(reset), key
        )
        return actions, self.head.to_env(actions, mask), hidden

    def _rollout(self, params, runner: Runner, key: jax.Array):
        env, algo, head = self.env, self.algo, self.head
        policy = self.actor.step(params["actor"])
        k_reset, k_steps = jax.random.split(key)
        env_state = jax.vmap(env.refresh)(
            runner.env_state, jax.random.split(k_reset, self.local_envs)
        )

        def step(carry, k):
            env_state, ts, h = carry
            mask, first = self.action_mask(ts.action_mask), ts.done
            actions, logp, actor_in, h_new = algo.acting.act(
                policy, head, ts.obs, mask, h, first, k
            )
            env_state, nts = jax.vmap(env.step)(env_state, head.to_env(actions, mask))
            tr = Transition(
                actor_in, mask, actions, logp, ts.obs, ts.global_state, first, h,
                nts.final_obs, nts.final_global_state, nts.reward, nts.terminated,
                nts.truncated, env_state.returned_return, ts.alive, nts.won, nts.restarts,
            )  # fmt: skip
            return (env_state, nts, h_new), tr

        keys = jax.random.split(k_steps, self.cfg.ppo.rollout_len)
        init = (env_state, runner.timestep, runner.actor_h)
        (env_state, ts, actor_h), traj = jax.lax.scan(step, init, keys)
        return runner._replace(env_state=env_state, timestep=ts, actor_h=actor_h), traj

    def critic_values(self, critic_params, h0, obs, global_state, action, actor_in, first):
        """The critic unrolled over [L, B, ...] inputs from memories h0 [B, N, H]:
        (values [L, B, N], h_in [L, B, N, H], h_last)."""
        step, x = self._critic_step(critic_params, obs, global_state, action, actor_in)
        out, h_in, h_last = unroll(step, h0, x, first)
        return out[..., 0], h_in, h_last

    def _critic_step(self, critic_params, obs, global_state, action, actor_in):
        """(the critic's step, its inputs): with a global state, the first layer's
        pre-activation with that state's product once per state, not once per agent
        (`BoundStep.pre_activation`), and the step from there; else the concatenated inputs."""
        step = self.critic.step(critic_params)
        parts = getattr(self.algo.critic, "input_parts", None)
        z = parts and step.pre_activation(*parts(obs, global_state, action, actor_in))
        if z is not None:
            return step.after_first(), z
        return step, self.algo.critic.inputs(obs, global_state, action, actor_in)

    def bootstrap_values(self, critic_params, h, final_obs, final_global_state):
        """B_t, the values of the states after each step (`Critic.bootstrap_inputs`), from the
        memories h: every agent's through `_critic_step` where the critic splits its inputs (its
        bootstrap inputs are then its inputs without actions), or agent `bootstrap_agent`'s."""
        critic, k = self.algo.critic, self.algo.critic.bootstrap_agent
        if k is None and hasattr(critic, "input_parts"):
            step, x = self._critic_step(critic_params, final_obs, final_global_state, None, None)
            return step(h, x, False)[1][..., 0]
        x = critic.bootstrap_inputs(final_obs, final_global_state)
        return self.critic.apply(critic_params, h, x, False, k)[1][..., 0]

    def prefix_sensitivity(self, critic_params, traj, values, h_in, stride: int = 16):
        """How much the chained critic's value moves with its prefix (the `prefix_sens` metric):
        at every stride-th step of the rollout, the mean |V(x, i, a_<i) - V(x, i, a'_<i)| over
        agents i >= 1, where a' are the actions of the neighbouring environment of the batch
        (a counterfactual prefix; with `acpo.critic_prefix=predicted` its predicted prefix),
        divided by the standard deviation of V over those samples. 0: the prefix is ignored."""
        pick = lambda x: x[::stride]  # noqa: E731
        other = lambda x: jnp.roll(pick(x), 1, axis=1)  # noqa: E731
        step, x = self._critic_step(  # as `critic_values` computes the values it compares with
            critic_params,
            pick(traj.obs),
            pick(traj.global_state),
            other(traj.action),
            other(traj.actor_in),
        )
        v = step(pick(h_in), x, pick(traj.first))[1][..., 0]
        ref = pick(values)[..., 1:]
        _, var = L.moments(ref, None, AXIS)
        change = jax.lax.pmean(jnp.mean(jnp.abs(v[..., 1:] - ref)), AXIS)
        return change / (jnp.sqrt(var) + 1e-8)

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
        ppo = self.cfg.ppo
        out, h = self.actor_outputs(policy, batch)
        dist = self.head.dist(out, batch.mask)
        valid = batch.alive if self.spec.agents_die else None  # death masking
        pg, stats = L.ppo_surrogate(
            dist.log_prob(batch.action), batch.logp, batch.adv, ppo.clip_eps, weight, valid
        )
        stats["entropy"] = L.masked_mean(dist.entropy(), valid)

        def policy_out(x):  # x [C, L, ..., N, D] at the batch's memories
            hb = jnp.expand_dims(h, tuple(range(2, x.ndim - 2)))  # agent i's memory, every query
            hb = jnp.broadcast_to(hb, (*x.shape[:-1], h.shape[-1]))
            return policy(hb, x, jnp.asarray(False))[1]

        aux = self.algo.acting.aux_loss(policy_out, self.head, batch)
        stats["aux_loss"] = aux
        return pg + L.entropy_loss(stats["entropy"], ppo.ent_coef) + aux, stats

    def value_loss(self, critic_params, batch: Batch, value_norm: L.ValueNorm):
        """MAPPO's value loss on the (normalized) targets, averaged over samples and agents."""
        ppo = self.cfg.ppo
        tm = time_major
        v, _, _ = self.critic_values(
            critic_params, batch.critic_h0, tm(batch.obs), tm(batch.global_state),
            tm(batch.action), tm(batch.actor_in), tm(batch.first),
        )  # fmt: skip
        target = value_norm.normalize(batch.target) if ppo.value_norm else batch.target
        return L.value_loss(
            tm(v), target, batch.old_v, ppo.value_loss, ppo.huber_delta, ppo.value_clip
        )

    def _loss(self, params, batch: Batch, value_norm: L.ValueNorm):
        loss, stats = self.actor_loss(self.actor.step(params["actor"]), batch)
        vl = self.value_loss(params["critic"], batch, value_norm)
        return loss + vl, dict(stats, value_loss=vl)

    def sgd(self, loss_fn, optimizer, params, opt_state, data, key):
        """`epochs x minibatches` steps of `optimizer` on loss_fn(params, minibatch) -> (loss, aux)
        over the local data (leading chunk axis), gradients averaged over the devices.
        `key` is the same on every device; each device shuffles its own chunks. Returns
        (params, opt_state, aux with leading [epochs, minibatches] axes and grad_norm)."""
        ppo = self.cfg.ppo
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

    def ppo_epochs(self, params, opt_state, batch, value_norm, key):
        """The optimization phase of MAPPO, IPPO and ACPO: actor and critic together."""
        loss_fn = lambda p, mb: self._loss(p, mb, value_norm)  # noqa: E731
        return self.sgd(loss_fn, self.optimizer, params, opt_state, batch, key)

    def _chunks(self, traj: Transition, adv, targets, old_v, critic_h) -> Batch:
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

    def _update_swept(self, learner: Learner, runner: Runner, hparams: dict):
        """One update of one run with its values of the swept keys (`swept`)."""
        with self.swept(hparams):
            return self._update(learner, runner)

    def _update(self, learner: Learner, runner: Runner):
        ppo, algo = self.cfg.ppo, self.algo
        key, k_roll, k_opt = jax.random.split(learner.key, 3)
        k_roll = jax.random.fold_in(k_roll, jax.lax.axis_index(AXIS))
        params = learner.params
        critic_h0 = runner.critic_h
        runner, traj = self._rollout(params, runner, k_roll)

        # values of every state and of the state after every step, denormalized
        value_norm = learner.value_norm
        denorm = value_norm.denormalize if ppo.value_norm else (lambda v: v)
        old_v, critic_h, critic_last = self.critic_values(
            params["critic"], critic_h0, traj.obs, traj.global_state, traj.action,
            traj.actor_in, traj.first,
        )  # fmt: skip
        # the memory after step t (for the value of the state after it: no reset in between)
        h_after = jnp.concatenate([critic_h[1:], critic_last[None]], axis=0)
        k = algo.critic.bootstrap_agent
        h_boot = h_after if k is None else h_after[..., k, :]
        boot = self.bootstrap_values(
            params["critic"], h_boot, traj.final_obs, traj.final_global_state
        )
        adv, targets = algo.advantages(
            traj.reward, denorm(old_v), denorm(boot), traj.terminated, traj.truncated
        )
        if ppo.value_norm:
            value_norm = value_norm.update(targets, axis_name=AXIS)
        # diagnostics: each agent's variance of the raw advantages over the batch
        _, adv_var = L.moments(adv, tuple(range(adv.ndim - 1)), AXIS)
        diag = {"adv_var": jnp.mean(adv_var), "adv_var_ratio": adv_var[-1] / adv_var[0]}
        if "prefix_sens" in self.metric_names:
            diag["prefix_sens"] = self.prefix_sensitivity(params["critic"], traj, old_v, critic_h)
        if ppo.adv_norm:  # over the whole batch (all devices), jointly or per agent
            adv = L.normalize_advantages(adv, ppo.adv_norm_per_agent, axis_name=AXIS)
        batch = self._chunks(traj, adv, targets, old_v, critic_h)
        runner = runner._replace(critic_h=critic_last)
        # the optimization phase (the algorithm's piece; by default `Trainer.ppo_epochs`)
        params, opt_state, aux = algo.optimization.optimize(
            self, params, learner.opt_state, batch, value_norm, k_opt
        )
        done = jnp.logical_or(traj.terminated, traj.truncated)
        episodes = jax.lax.psum(jnp.sum(done), AXIS)
        ret_sum = jax.lax.psum(jnp.sum(jnp.where(done, traj.episode_return, 0.0)), AXIS)
        # float statistics are averaged; integer entries (HAPPO's agent order) pass as they are
        metrics = {
            k: jax.lax.pmean(jnp.mean(v), AXIS) if jnp.issubdtype(v.dtype, jnp.floating) else v
            for k, v in aux.items()
        }
        metrics.update(diag)
        metrics["episodes"] = episodes.astype(jnp.float32)
        metrics["episode_return"] = jnp.where(
            episodes > 0, ret_sum / jnp.maximum(episodes, 1), jnp.nan
        )
        if "win_rate" in self.spec.metrics:
            won = jax.lax.psum(jnp.sum(done & traj.won), AXIS)
            metrics["win_rate"] = jnp.where(episodes > 0, won / jnp.maximum(episodes, 1), jnp.nan)
        if "pred_match" in self.metric_names:  # the belief chain's predictions, discrete
            match = prediction_match(traj.actor_in, traj.action, self.head, self.spec.num_agents)
            metrics["pred_match"] = jax.lax.pmean(match, AXIS)
        if "restarts" in self.spec.metrics:
            restarts = jax.lax.psum(jnp.sum(traj.restarts), AXIS)
            metrics["restarts"] = restarts.astype(jnp.float32)
        learner = Learner(params, opt_state, value_norm, key, learner.update + 1)
        return learner, runner, metrics

    # ------------------------------------------------------------------ chunks
    def _chunk_fn(self, size: int, specs: tuple[P, Any]):
        """The program of a chunk: up to `size` updates, as many as its traced `count` argument
        (a loop with a dynamic trip count), so that every call of a run, the shorter ones
        included, is one compiled program. Metrics [runs, size]: columns >= count stay zero.
        `specs`: `Trainer.specs`. When whole runs split over the devices, each device's runs see
        a device axis of size 1 (reductions over it are the identity, its index 0): a run
        computes there exactly what it computes on one device."""

        # jitted, so that the loop body reuses the trace that gave the metrics' shapes
        update = jax.jit(self._update_swept)

        def per_run(learner, runner, hparams, count):
            shapes = jax.eval_shape(update, learner, runner, hparams)[2]
            rows = jax.tree.map(lambda s: jnp.zeros((size, *s.shape), s.dtype), shapes)

            def body(i, carry):
                learner, runner, rows = carry
                learner, runner, metrics = update(learner, runner, hparams)
                rows = jax.tree.map(lambda buf, x: buf.at[i].set(x), rows, metrics)
                return learner, runner, rows

            return jax.lax.fori_loop(0, count, body, (learner, runner, rows))

        runs = jax.vmap(per_run, in_axes=(0, 0, 0, None))
        if self.split == "runs":
            one = lambda tree: jax.tree.map(lambda x: x[None], tree)  # noqa: E731
            dev = jax.vmap(runs, in_axes=(0, 0, 0, None), axis_name=AXIS)

            def chunk(learner, runner, hparams, count):
                out = dev(one(learner), one(runner), one(hparams), count)
                return jax.tree.map(lambda x: x[0], out)
        else:
            chunk = runs
        per_run_spec, runner_spec = specs
        return jax.shard_map(
            chunk,
            mesh=self.mesh,
            in_specs=(per_run_spec, runner_spec, per_run_spec, P()),
            out_specs=(per_run_spec, runner_spec, per_run_spec),
            check_vma=False,  # Jumanji mixes device-varying and replicated values internally
        )

    def program_size(self, k: int) -> int:
        """The updates the compiled program of a call of k updates holds: updates_per_call
        (capped at the run's updates) for every call of a run, k itself when it is larger."""
        return max(k, min(self.cfg.updates_per_call, self.num_updates))

    def compile(self, learner, runner, k: int):
        """fn(learner, runner) -> (learner, runner, metrics [runs, k]) doing k updates: one
        AOT-compiled program of `program_size(k)` updates for these shapes serves every k up to
        that size (the surplus updates are skipped, not computed), cached."""
        size = self.program_size(k)
        if size not in self._compiled:
            ls, rs = self.shardings(learner, runner)  # explicit: also for empty (H = 0) memories
            rep = NamedSharding(self.mesh, P())
            specs = self.specs(runner)
            hp = self.hparams()
            hparams = place(hp, jax.tree.map(lambda _: NamedSharding(self.mesh, specs[0]), hp))
            chunk = self._chunk_fn(size, specs)
            fn = jax.jit(chunk, donate_argnums=(0, 1), out_shardings=(ls, rs, rep))
            count = place(np.asarray(size, np.int32), rep)
            compiled = fn.lower(learner, runner, hparams, count).compile()
            counts = {}

            def call(learner, runner, k):
                if k not in counts:
                    counts[k] = place(np.asarray(k, np.int32), rep)
                return compiled(learner, runner, hparams, counts[k])

            self._compiled[size] = call
        call = self._compiled[size]
        if k == size:
            return lambda learner, runner: call(learner, runner, k)
        first = self._first_columns(k)

        def shorter(learner, runner):
            learner, runner, metrics = call(learner, runner, k)
            return learner, runner, first(metrics)

        return shorter

    def _first_columns(self, k: int):
        """metrics [runs, size] -> [runs, k] (a small jitted slice, replicated)."""
        if k not in self._slices:
            rep = NamedSharding(self.mesh, P())
            self._slices[k] = jax.jit(
                lambda m: jax.tree.map(lambda x: x[:, :k], m), out_shardings=rep
            )
        return self._slices[k]

    def chunk_sizes(self, start_update: int = 0) -> list[int]:
        """Updates per call from start_update to the end (fixed K, a shorter first call when a
        resumed run starts between multiples of K, a shorter last call); every size runs the
        same compiled program (`compile`)."""
        k = min(self.cfg.updates_per_call, self.num_updates)
        sizes, u = [], start_update
        while u < self.num_updates:
            step = k - (u % k) if u % k else k
            step = min(step, self.num_updates - u)
            sizes.append(step)
            u += step
        return sizes


def place(tree, shardings):
    """Put arrays that every process computed alike onto (possibly multi-process) shardings."""
    if all(s.is_fully_addressable for s in jax.tree.leaves(shardings)):
        return jax.device_put(tree, shardings)
    # a process can only fill its own devices: each takes its slices of the host value
    host = jax.device_get(tree)
    return jax.tree.map(
        lambda x, s: jax.make_array_from_callback(x.shape, s, lambda idx: x[idx]), host, shardings
    )


def local_value(tree):
    """A replicated output on the host (a process reads its own copy; no cross-process fetch)."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def make_trainer(cfg: Config, devices: list | None = None, env=None) -> Trainer:
    """The trainer for cfg (env: a world object instead of cfg.env's, e.g. a test world)."""
    if algos.REGISTRY[cfg.algo].off_policy:
        from acjax.offpolicy import OffPolicyTrainer

        return OffPolicyTrainer(cfg, devices, env)
    return Trainer(cfg, devices, env)
