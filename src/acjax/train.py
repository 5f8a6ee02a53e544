"""The fused trainer: rollout, advantages and PPO epochs in one compiled update.

`make_trainer(cfg)` builds
    init()                      -> (learner, runner)   every leaf has a leading seed axis
    chunk(learner, runner)      -> (learner, runner, metrics [seeds, K])
where one chunk scans K PPO updates. Seeds are a vmapped axis of the whole program; the env axis
of the runner is sharded over the mesh axis 'd' (all devices that divide num_envs) with
`shard_map`; gradients, value statistics and metrics are averaged over 'd', so every device holds
the same learner. The host loop (`train`) only logs, checkpoints and checks signals between
chunks.

Multi-process (`jax.distributed`, docs/distributed.md): the mesh spans every process's devices
(`jax.devices()`), each process drives its own and holds its slice of the env axis; every process
runs the same host loop in lockstep, process 0 alone writes the run's files (Orbax checkpoints
are written by all of them together).

The optimization phase of an update is the algorithm's hook `algo.optimize(trainer, params,
opt_state, batch, vn_stats, key)` (with `algo.make_optimizer(trainer)` for its optimizer): by
default `Trainer.ppo_epochs`, epochs x minibatches of PPO on actor and critic together; HAPPO
trains the agents one after another and then the critic, with the same `Trainer.sgd` loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from acjax import algos
from acjax.config import Config, ConfigError
from acjax.envs.registry import make as make_env
from acjax.envs.wrappers import AutoReset, EpisodeStats
from acjax.nets import make_nets, masked_categorical

AXIS = "d"


class ValueNorm(NamedTuple):
    """MAPPO's running mean/variance of value targets (debiased EMA, beta = 0.99999)."""

    mean: jax.Array
    mean_sq: jax.Array
    debias: jax.Array

    @staticmethod
    def create() -> ValueNorm:
        z = jnp.zeros((), jnp.float32)
        return ValueNorm(z, z, z)

    def stats(self) -> tuple[jax.Array, jax.Array]:
        d = jnp.maximum(self.debias, 1e-5)
        mean = self.mean / d
        var = jnp.maximum(self.mean_sq / d - mean**2, 1e-2)
        return mean, jnp.sqrt(var)

    def update(self, x: jax.Array, beta: float = 0.99999) -> ValueNorm:
        m = jax.lax.pmean(jnp.mean(x), AXIS)
        m2 = jax.lax.pmean(jnp.mean(x**2), AXIS)
        return ValueNorm(
            beta * self.mean + (1 - beta) * m,
            beta * self.mean_sq + (1 - beta) * m2,
            beta * self.debias + (1 - beta),
        )


class Learner(NamedTuple):
    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    value_norm: ValueNorm
    key: jax.Array
    update: jax.Array  # number of updates done


class Runner(NamedTuple):
    env_state: Any
    timestep: Any


class Transition(NamedTuple):
    actor_in: jax.Array  # [E, N, Din]: exactly the policy inputs used when acting
    mask: jax.Array  # [E, N, A]
    action: jax.Array  # [E, N]
    logp: jax.Array  # [E, N]
    obs: jax.Array  # [E, N, O]
    global_state: jax.Array  # [E, S]
    final_obs: jax.Array
    final_global_state: jax.Array
    reward: jax.Array  # [E]
    terminated: jax.Array
    truncated: jax.Array
    episode_return: jax.Array  # return of the episode that ended at this step (where done)


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
)


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, limit + 1) if n % d == 0)


class Trainer:
    """Compiled training programs for one config (see the module docstring)."""

    def __init__(self, cfg: Config, devices: list | None = None):
        self.cfg = cfg
        self.env = EpisodeStats(AutoReset(make_env(cfg.env)))
        self.spec = self.env.spec
        self.algo = algos.make(cfg, self.spec)
        self.actor, self.critic = make_nets(self.spec.num_agents, self.spec.num_actions, cfg.net)
        # every process's devices (the local ones in a single process)
        devices = devices if devices is not None else jax.devices()
        if jax.process_count() > 1:  # the mesh must hold every process's devices
            n = len(devices)
            where = f"the {n} devices of {jax.process_count()} processes"
            if cfg.devices not in (0, n):
                raise ConfigError(f"config key 'devices': must be 0 or {n} ({where})")
            if cfg.num_envs % n:
                raise ConfigError(
                    f"config key 'num_envs': {cfg.num_envs} does not split over {where}"
                )
            n_dev = n
        elif cfg.devices:
            if cfg.devices > len(devices):
                raise ConfigError(
                    f"config key 'devices': {cfg.devices} but only {len(devices)} are available"
                )
            if cfg.num_envs % cfg.devices:
                raise ConfigError(
                    f"config key 'num_envs': {cfg.num_envs} does not split over "
                    f"devices={cfg.devices}"
                )
            n_dev = cfg.devices
        else:
            n_dev = _largest_divisor(cfg.num_envs, len(devices))
        self.mesh = Mesh(np.array(devices[:n_dev]), (AXIS,))
        self.n_devices = n_dev
        self.local_envs = cfg.num_envs // n_dev
        ppo = cfg.ppo
        self.steps_per_update = cfg.num_envs * ppo.rollout_len
        self.num_updates = cfg.num_updates
        self.optimizer = self.algo.make_optimizer(self)
        self._compiled: dict[int, Any] = {}

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
        spec = self.spec
        obs = jnp.zeros((spec.num_agents, spec.obs_dim), jnp.float32)
        actor_in = self.algo.actor_inputs(obs)
        view = self.algo.critic_view(obs, jnp.zeros((spec.state_dim,), jnp.float32))
        critic_in = self.algo.critic_inputs(
            view, jnp.zeros((spec.num_agents,), jnp.int32), actor_in
        )
        params = {
            "actor": self.actor.init(k_actor, actor_in.shape[-1]),
            "critic": self.critic.init(k_critic, critic_in.shape[-1]),
        }
        return Learner(
            params,
            self.optimizer.init(params),
            ValueNorm.create(),
            k_learn,
            jnp.zeros((), jnp.int32),
        )

    def _init_envs(self, key: jax.Array) -> Runner:
        k_env = jax.random.fold_in(key, 1)
        env_state, ts = jax.vmap(self.env.reset)(jax.random.split(k_env, self.cfg.num_envs))
        return Runner(env_state, ts)

    def seed_keys(self) -> jax.Array:
        return jnp.stack([jax.random.PRNGKey(self.cfg.seed + s) for s in range(self.cfg.num_seeds)])

    def shardings(self, learner, runner):
        rep = NamedSharding(self.mesh, P())
        env = NamedSharding(self.mesh, P(None, AXIS))
        return jax.tree.map(lambda _: rep, learner), jax.tree.map(lambda _: env, runner)

    def init(self) -> tuple[Learner, Runner]:
        """Initial learner and runner for every seed: seed index s runs seed `cfg.seed + s`, so a
        vmapped sweep reproduces the runs of its seeds one by one."""
        keys = self.seed_keys()
        learners = [self._init_params(k) for k in keys]  # not vmapped: see AgentNet.init
        learner = jax.tree.map(lambda *xs: jnp.stack(xs), *learners)
        runner = jax.jit(jax.vmap(self._init_envs))(keys)
        ls, rs = self.shardings(learner, runner)
        return place(learner, ls), place(runner, rs)

    # ------------------------------------------------------------------ one update
    def _rollout(self, params, runner: Runner, key: jax.Array):
        env, algo, actor = self.env, self.algo, self.actor
        k_reset, k_steps = jax.random.split(key)
        env_state = jax.vmap(env.refresh)(
            runner.env_state, jax.random.split(k_reset, self.local_envs)
        )

        def step(carry, k):
            env_state, ts = carry
            actions, logp, actor_in = algo.act(actor, params["actor"], ts.obs, ts.action_mask, k)
            env_state, nts = jax.vmap(env.step)(env_state, actions)
            tr = Transition(
                actor_in,
                ts.action_mask,
                actions,
                logp,
                ts.obs,
                ts.global_state,
                nts.final_obs,
                nts.final_global_state,
                nts.reward,
                nts.terminated,
                nts.truncated,
                env_state.returned_return,
            )
            return (env_state, nts), tr

        keys = jax.random.split(k_steps, self.cfg.ppo.rollout_len)
        (env_state, ts), traj = jax.lax.scan(step, (env_state, runner.timestep), keys)
        return Runner(env_state, ts), traj

    def _values(self, critic_params, view, actions, actor_in):
        return self.critic.apply(critic_params, self.algo.critic_inputs(view, actions, actor_in))[
            ..., 0
        ]

    def policy_loss(self, logits, mb, weight=1.0):
        """PPO's clipped surrogate -mean(w * min(r A, clip(r, 1 +- eps) A)) and its statistics;
        w is HAPPO's factor M (1 for the other algorithms)."""
        eps = self.cfg.ppo.clip_eps
        dist = masked_categorical(logits, mb["mask"])
        log_ratio = dist.log_prob(mb["action"]) - mb["logp"]
        ratio = jnp.exp(log_ratio)
        adv = mb["adv"]
        pg = -jnp.mean(weight * jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - eps, 1 + eps) * adv))
        stats = dict(
            actor_loss=pg,
            entropy=jnp.mean(dist.entropy()),
            approx_kl=jnp.mean((ratio - 1) - log_ratio),
            clip_frac=jnp.mean(jnp.abs(ratio - 1) > eps),
        )
        return pg, stats

    def value_loss(self, critic_params, mb, vn_stats):
        """MAPPO's value loss on the (normalized) targets, averaged over samples and agents."""
        algo, ppo = self.algo, self.cfg.ppo
        view = algo.critic_view(mb["obs"], mb["global_state"])
        v = self._values(critic_params, view, mb["action"], mb["actor_in"])
        mean, std = vn_stats
        target = (mb["target"] - mean) / std if ppo.value_norm else mb["target"]
        err = v - target
        if ppo.value_clip > 0:
            v_clip = mb["old_v"] + jnp.clip(v - mb["old_v"], -ppo.value_clip, ppo.value_clip)
            err = jnp.where(jnp.abs(v_clip - target) > jnp.abs(err), v_clip - target, err)
        if ppo.value_loss == "huber":
            return jnp.mean(optax.huber_loss(err, delta=ppo.huber_delta))
        return 0.5 * jnp.mean(err**2)

    def _loss(self, params, mb, vn_stats):
        algo, ppo = self.algo, self.cfg.ppo
        pg, aux = self.policy_loss(self.actor.apply(params["actor"], mb["actor_in"]), mb)
        vl = self.value_loss(params["critic"], mb, vn_stats)
        aux_loss = algo.aux_loss(self.actor, params["actor"], mb)
        loss = pg - ppo.ent_coef * aux["entropy"] + vl + aux_loss
        return loss, dict(aux, value_loss=vl, aux_loss=aux_loss)

    def sgd(self, loss_fn, optimizer, params, opt_state, batch, key):
        """`epochs x minibatches` steps of `optimizer` on loss_fn(params, minibatch) -> (loss, aux)
        over the flat local batch (leading sample axis), gradients averaged over the devices.
        `key` is the same on every device; each device shuffles its own samples. Returns
        (params, opt_state, aux with leading [epochs, minibatches] axes and grad_norm)."""
        ppo = self.cfg.ppo
        n_samples = jax.tree.leaves(batch)[0].shape[0]
        mb_size = n_samples // ppo.num_minibatches
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def minibatch(carry, idx):
            params, opt_state = carry
            mb = jax.tree.map(lambda x: jnp.take(x, idx, axis=0), batch)
            (_, aux), grads = grad_fn(params, mb)
            grads = jax.lax.pmean(grads, AXIS)
            aux["grad_norm"] = optax.tree.norm(grads)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        def epoch(carry, k):
            perm = jax.random.permutation(k, n_samples).reshape(ppo.num_minibatches, mb_size)
            return jax.lax.scan(minibatch, carry, perm)

        key = jax.random.fold_in(key, jax.lax.axis_index(AXIS))
        (params, opt_state), aux = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, ppo.epochs)
        )
        return params, opt_state, aux

    def ppo_epochs(self, params, opt_state, batch, vn_stats, key):
        """The optimization phase of MAPPO, IPPO and ACPO: actor and critic together."""
        loss_fn = lambda p, mb: self._loss(p, mb, vn_stats)  # noqa: E731
        return self.sgd(loss_fn, self.optimizer, params, opt_state, batch, key)

    def _update(self, learner: Learner, runner: Runner):
        ppo, algo = self.cfg.ppo, self.algo
        key, k_roll, k_opt = jax.random.split(learner.key, 3)
        k_roll = jax.random.fold_in(k_roll, jax.lax.axis_index(AXIS))
        params = learner.params
        runner, traj = self._rollout(params, runner, k_roll)

        # values of every state and of the state after every step, denormalized
        mean, std = learner.value_norm.stats() if ppo.value_norm else (0.0, 1.0)
        view = algo.critic_view(traj.obs, traj.global_state)
        old_v = self._values(params["critic"], view, traj.action, traj.actor_in)
        boot_in = algo.bootstrap_inputs(algo.critic_view(traj.final_obs, traj.final_global_state))
        boot = self.critic.apply(params["critic"], boot_in, algo.bootstrap_agent)[..., 0]
        adv, targets = algo.advantages(
            traj.reward, old_v * std + mean, boot * std + mean, traj.terminated, traj.truncated
        )
        value_norm = learner.value_norm.update(targets) if ppo.value_norm else learner.value_norm
        if ppo.adv_norm:  # over the whole batch (all devices), jointly or per agent
            axes = (0, 1) if ppo.adv_norm_per_agent else None
            m = jax.lax.pmean(jnp.mean(adv, axis=axes), AXIS)
            s = jnp.sqrt(jax.lax.pmean(jnp.mean((adv - m) ** 2, axis=axes), AXIS))
            adv = (adv - m) / (s + 1e-8)
        vn_stats = value_norm.stats()

        batch = dict(
            actor_in=traj.actor_in,
            mask=traj.mask,
            action=traj.action,
            logp=traj.logp,
            obs=traj.obs,
            global_state=traj.global_state,
            adv=adv,
            target=targets,
            old_v=old_v,
        )
        n_samples = ppo.rollout_len * self.local_envs
        batch = jax.tree.map(lambda x: x.reshape(n_samples, *x.shape[2:]), batch)
        # the optimization phase (the algorithm's hook; by default `Trainer.ppo_epochs`)
        params, opt_state, aux = algo.optimize(
            self, params, learner.opt_state, batch, vn_stats, k_opt
        )
        done = jnp.logical_or(traj.terminated, traj.truncated)
        episodes = jax.lax.psum(jnp.sum(done), AXIS)
        ret_sum = jax.lax.psum(jnp.sum(jnp.where(done, traj.episode_return, 0.0)), AXIS)
        # float statistics are averaged; integer entries (HAPPO's agent order) pass as they are
        metrics = {
            k: jax.lax.pmean(jnp.mean(v), AXIS) if jnp.issubdtype(v.dtype, jnp.floating) else v
            for k, v in aux.items()
        }
        metrics["episodes"] = episodes.astype(jnp.float32)
        metrics["episode_return"] = jnp.where(
            episodes > 0, ret_sum / jnp.maximum(episodes, 1), jnp.nan
        )
        learner = Learner(params, opt_state, value_norm, key, learner.update + 1)
        return learner, runner, metrics

    # ------------------------------------------------------------------ chunks
    def _chunk_fn(self, k: int):
        def per_seed(learner, runner):
            def body(carry, _):
                learner, runner, metrics = self._update(*carry)
                return (learner, runner), metrics

            (learner, runner), metrics = jax.lax.scan(body, (learner, runner), None, length=k)
            return learner, runner, metrics

        def chunk(learner, runner):
            return jax.vmap(per_seed)(learner, runner)

        return jax.shard_map(
            chunk,
            mesh=self.mesh,
            in_specs=(P(), P(None, AXIS)),
            out_specs=(P(), P(None, AXIS), P()),
            check_vma=False,  # Jumanji mixes device-varying and replicated values internally
        )

    def compile(self, learner, runner, k: int):
        """AOT-compile the chunk of k updates for these shapes (cached)."""
        if k not in self._compiled:
            fn = jax.jit(self._chunk_fn(k), donate_argnums=(0, 1))
            self._compiled[k] = fn.lower(learner, runner).compile()
        return self._compiled[k]

    def chunk_sizes(self, start_update: int = 0) -> list[int]:
        """Updates per call from start_update to the end (fixed K, one shorter last call)."""
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


def make_trainer(cfg: Config, devices: list | None = None) -> Trainer:
    return Trainer(cfg, devices)


# ---------------------------------------------------------------------- host loop
class NonFiniteLoss(RuntimeError):
    pass


class _StopFlag:
    """SIGINT/SIGTERM ask the loop to stop after the current call; a second SIGINT aborts."""

    def __init__(self):
        self.requested = False
        self._old: dict = {}

    def __enter__(self):
        import signal

        def handler(signum, frame):
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True
            print(f"\n{signal.Signals(signum).name}: stopping after the current call", flush=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)


def _agree(*flags: bool) -> tuple[bool, ...]:
    """Each flag or-ed over all processes (a tiny blocking collective between calls)."""
    from jax.experimental import multihost_utils

    mine = np.array(flags, np.int32)
    every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, len(flags))
    return tuple(bool(x) for x in every.max(axis=0))


def _final_returns(
    rows: list[dict], seeds: list[int], last_frac: float = 0.1
) -> list[float | None]:
    """Per seed: mean episode return over the last 10% of the updates that finished episodes."""
    out = []
    for s in seeds:
        rets = [r["episode_return"] for r in rows if r["seed"] == s]
        vals = [x for x in rets if x is not None]
        tail = vals[-max(1, int(len(vals) * last_frac)) :]
        out.append(float(np.mean(tail)) if tail else None)
    return out


def _device_name(trainer: Trainer) -> str:
    d = trainer.mesh.devices.flat[0]
    return f"{trainer.n_devices}x {d.platform}:{getattr(d, 'device_kind', '')}"


def train(cfg: Config) -> dict:
    """Train to cfg.total_timesteps in cfg.run_dir (resuming from its last checkpoint when
    cfg.resume is set); returns the summary written to summary.json.

    In a multi-process run every process calls this with the same config: all of them compute,
    checkpoint (Orbax coordinates them) and stop at the same call boundary; only process 0
    writes config.yaml, the metrics, summary.json and the progress bar."""
    import json
    import sys
    import time
    from pathlib import Path

    import yaml

    from acjax.checkpoint import Checkpointer
    from acjax.config import to_dict
    from acjax.logging import MetricsWriter, Progress

    t_start = time.perf_counter()
    primary = jax.process_index() == 0
    multi = jax.process_count() > 1
    run_dir = Path(cfg.resume or cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if primary:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    trainer = make_trainer(cfg)
    learner, runner = trainer.init()
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.keep_checkpoints)
    writer = MetricsWriter(run_dir, METRIC_NAMES, files=primary)
    start = 0
    if cfg.resume:
        last = ckpt.latest()
        if last is None:
            raise FileNotFoundError(f"resume: no checkpoint in {run_dir / 'checkpoints'}")
        learner, runner = ckpt.restore(last, (learner, runner))
        start = last
    writer.truncate(start)

    steps_per_update = trainer.steps_per_update
    progress = Progress(
        trainer.num_updates * steps_per_update, start * steps_per_update, cfg.progress and primary
    )
    compile_s, run_s, saved_at, update = 0.0, 0.0, time.perf_counter(), start
    status = "finished"
    with _StopFlag() as stop:
        for k in trainer.chunk_sizes(start):
            t0 = time.perf_counter()
            fn = trainer.compile(learner, runner, k)
            t1 = time.perf_counter()
            compile_s += t1 - t0
            new_learner, new_runner, metrics = fn(learner, runner)
            # waiting here keeps one multi-device program in flight at a time (XLA:CPU can
            # deadlock collectives of several queued programs on a small thread pool); metrics
            # are replicated: each process reads its own copy
            metrics = local_value(metrics)
            run_s += time.perf_counter() - t1
            losses = np.stack([metrics[n] for n in ("actor_loss", "value_loss", "grad_norm")])
            if not np.all(np.isfinite(losses)):
                bad = int(np.argwhere(~np.isfinite(losses))[0][2]) + update + 1
                last = ckpt.latest()
                progress.close()
                ckpt.close()
                raise NonFiniteLoss(
                    f"non-finite loss at update {bad}; stopped. The last good checkpoint is "
                    f"update {last} in {run_dir / 'checkpoints'} (resume={run_dir})"
                )
            learner, runner = new_learner, new_runner
            rows = []
            for i in range(k):
                u = update + i + 1
                for s in range(cfg.num_seeds):
                    row = {"seed": cfg.seed + s, "update": u, "env_steps": u * steps_per_update}
                    row.update({n: float(metrics[n][s, i]) for n in METRIC_NAMES})
                    rows.append(row)
            update += k
            writer.write(rows)
            rets = [r["episode_return"] for r in rows[-cfg.num_seeds :]]
            rets = [x for x in rets if np.isfinite(x)]
            progress.update(
                update * steps_per_update, float(np.mean(rets)) if rets else None, run_s
            )
            done = update >= trainer.num_updates
            stopping = stop.requested
            save = done or stopping or time.perf_counter() - saved_at > cfg.checkpoint_interval_s
            if multi:  # a signal or a due checkpoint on any process: all act on it, here
                stopping, save = _agree(stopping, save)
            if save:
                ckpt.save(update, (learner, runner))
                saved_at = time.perf_counter()
            if stopping and not done:
                status = "interrupted"
                break
    progress.close()
    ckpt.close()

    rows = writer.read()
    finals = _final_returns(rows, [cfg.seed + s for s in range(cfg.num_seeds)])
    vals = [x for x in finals if x is not None]
    steps_run = (update - start) * steps_per_update * cfg.num_seeds
    summary = {
        "env": cfg.env,
        "algo": cfg.algo,
        "num_seeds": cfg.num_seeds,
        "num_envs": cfg.num_envs,
        "total_timesteps": cfg.total_timesteps,
        "updates": update,
        "env_steps": update * steps_per_update,
        "status": status,
        "final_returns": finals,
        "final_return_mean": float(np.mean(vals)) if vals else None,
        "steps_per_second": steps_run / run_s if run_s > 0 else None,
        "compile_seconds": compile_s,
        "wall_seconds": time.perf_counter() - t_start,
        "device": _device_name(trainer),
        "devices": trainer.n_devices,
        "processes": jax.process_count(),
    }
    if not primary:
        return summary
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if status == "interrupted":
        print(
            f"interrupted at update {update}/{trainer.num_updates}; checkpoint saved. "
            f"Resume with: acjax train resume={run_dir}",
            file=sys.stderr,
        )
    return summary
