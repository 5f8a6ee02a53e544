"""The compiled programs the throughput suite times: a trainer's chunk of updates
(`train_program`), its rollout alone (`rollout_program`) and raw env stepping (`env_program`)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from bench_timing import Budget, Program, timed_compile


def _trainer(env: str, algo: str, num_envs: int, rollout: int, hidden, overrides: list[str]):
    """A trainer for (env, algo) at this batch, its initial state and its config."""
    from acjax.config import load_config
    from acjax.harness import make_trainer

    h = "[" + ",".join(map(str, hidden)) + "]"
    cfg = load_config(
        None,
        [
            f"env={env}",
            f"algo={algo}",
            f"num_envs={num_envs}",
            f"total_timesteps={num_envs * rollout * 1000}",
            f"ppo.rollout_len={rollout}",
            f"net.actor_hidden={h}",
            f"net.critic_hidden={h}",
            "progress=false",
            *overrides,
        ],
    )
    tr = make_trainer(cfg)
    learner, runner = tr.init()
    jax.block_until_ready((learner, runner))
    return cfg, tr, learner, runner


def _stepper(fn, learner, runner):
    """A call that runs fn(learner, runner) -> (learner, runner, out) on carried state."""
    state = [learner, runner]

    def call():
        learner, runner, out = fn(*state)
        jax.block_until_ready((learner, runner, out))
        state[:] = [learner, runner]

    return call


def _note_compile(budget, compile_s: float) -> None:
    if budget is not None:
        budget.max_compile = max(budget.max_compile, compile_s)


def train_program(
    section: str,
    algo: str,
    env: str,
    num_envs: int,
    devices: int = 0,
    num_seeds: int = 1,
    k: int = 1,
    rollout: int = 128,
    epochs: int = 4,
    minibatches: int = 2,
    hidden: tuple[int, ...] = (128, 128),
    extra: tuple[str, ...] = (),
    budget: Budget | None = None,
) -> Program:
    """The trainer's compiled chunk of k PPO updates (rollout + advantages + epochs)."""
    started = time.perf_counter()
    overrides = [
        f"num_seeds={num_seeds}",
        f"devices={devices}",
        f"updates_per_call={k}",
        f"ppo.epochs={epochs}",
        f"ppo.num_minibatches={minibatches}",
        *extra,
    ]
    cfg, tr, learner, runner = _trainer(env, algo, num_envs, rollout, hidden, overrides)
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(lambda: tr.compile(learner, runner, k))
    _note_compile(budget, compile_s)
    call = _stepper(fn, learner, runner)

    record = dict(
        section=section,
        algo=algo,
        env=env,
        n_agents=tr.spec.num_agents,
        num_envs=num_envs,
        num_seeds=num_seeds,
        devices=tr.n_devices,
        rollout_len=rollout,
        epochs=epochs,
        num_minibatches=minibatches,
        updates_per_call=k,
        actor_hidden=list(cfg.net.actor_hidden),
        critic_hidden=list(cfg.net.critic_hidden),
        share_params=cfg.net.share_params,
        lr=cfg.ppo.lr,
        what="training (rollout + update)",
    )
    record["runs"] = tr.num_runs  # seeds x swept values
    record["split"] = tr.split  # whole runs per device, or each run's envs over all
    return Program(
        record, call, k * tr.steps_per_update * tr.num_runs, compile_s, setup, 0.0, [], started
    )


def rollout_program(
    section: str,
    algo: str,
    env: str,
    num_envs: int,
    rollout: int = 128,
    hidden: tuple[int, ...] = (128, 128),
    budget: Budget | None = None,
) -> Program:
    """The trainer's rollout alone on one device (act + env step, trajectory reduced), no
    update: what training would cost if learning were free."""
    started = time.perf_counter()
    _, tr, learner, runner = _trainer(env, algo, num_envs, rollout, hidden, ["devices=1"])

    def roll(learner, runner):
        def one(lr, rn):
            k1, k2 = jax.random.split(lr.key)
            rn, traj, _ = tr.rollout(lr.params, rn, k2)
            acc = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(traj))
            return lr._replace(key=k1), rn, acc

        return jax.vmap(one)(learner, runner)

    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(
        lambda: jax.jit(roll, donate_argnums=(0, 1)).lower(learner, runner).compile()
    )
    _note_compile(budget, compile_s)
    call = _stepper(fn, learner, runner)

    record = dict(
        section=section,
        algo=algo,
        env=env,
        n_agents=tr.spec.num_agents,
        num_envs=num_envs,
        num_seeds=1,
        devices=1,
        rollout_len=rollout,
        variant="rollout_only",
        what="rollout only: act + AutoReset env step, no update",
    )
    return Program(record, call, num_envs * rollout, compile_s, setup, 0.0, [], started)


def _env_fns(base, variant: str):
    """(reset(key) -> (state, mask), step(state, actions) -> (state, mask, what to sum), the
    AutoReset refresh or None) of an `env_program` variant."""
    from acjax.envs.wrappers import AutoReset

    if variant.startswith("jumanji"):
        from jumanji.wrappers import AutoResetWrapper

        jenv = base._env  # the RobotWarehouse with acjax's generator for this task
        if variant == "jumanji_autoreset":
            jenv = AutoResetWrapper(jenv)

        def reset(key):
            s, ts = jenv.reset(key)
            return s, ts.observation.action_mask

        def step(s, actions):
            s, ts = jenv.step(s, actions)
            o = ts.observation
            return s, o.action_mask, jnp.sum(o.agents_view) + ts.reward

        return reset, step, None
    if variant.startswith("jaxmarl"):
        return _jaxmarl_fns(base, variant)
    env = AutoReset(base) if variant == "autoreset" else base

    def reset(key):
        s, ts = env.reset(key)
        return s, ts.action_mask

    def step(s, actions):
        s, ts = env.step(s, actions)
        return s, ts.action_mask, jnp.sum(ts.obs) + ts.reward

    return reset, step, (env.refresh if variant == "autoreset" else None)


def _jaxmarl_fns(base, variant: str):
    """JaxMARL's world of a `jaxmarl:`/`smax-` world stepped directly, its own way: actions as a
    dictionary, a key split per step, observations, rewards and available actions summed from
    its dictionaries. jaxmarl_no_reset: `step_env` (no reset); jaxmarl_autoreset: JaxMARL's
    `step`, which resets inside every step where an episode ended."""
    jenv, agents = base.env, base.agents
    stepper = jenv.step if variant == "jaxmarl_autoreset" else jenv.step_env

    def mask_of(world):
        if not base.has_mask:
            return jnp.ones((len(agents), base.num_actions), bool)
        avail = jenv.get_avail_actions(world)
        return jnp.stack([avail[a] for a in agents]).astype(bool)

    def reset(key):
        k_world, k_next = jax.random.split(key)
        _, world = jenv.reset(k_world)
        return (world, k_next), mask_of(world)

    def step(s, actions):
        world, key = s
        key, k_step = jax.random.split(key)
        act = {a: actions[i] for i, a in enumerate(agents)}
        obs, world, rew, _, _ = stepper(k_step, world, act)
        total = sum(jnp.sum(obs[a]) + rew[a] for a in agents)
        return (world, key), mask_of(world), total

    return reset, step, None


ENV_VARIANTS = ("no_reset", "autoreset", "jumanji_no_reset", "jumanji_autoreset")
JAXMARL_VARIANTS = ("no_reset", "jaxmarl_no_reset", "autoreset", "jaxmarl_autoreset")


def env_program(
    section: str,
    variant: str,
    env_name: str,
    num_envs: int,
    scan: int,
    budget: Budget | None = None,
    options: tuple[str, ...] = (),
) -> Program:
    """Raw stepping: a jitted `lax.scan` of `scan` steps of `num_envs` vmapped envs with random
    valid actions (sampled from the action mask; uniform in the bounds for continuous worlds);
    observations and rewards are summed so the compiler cannot drop them. `options`: config
    overrides of the world (`mamujoco.backend=spring`). Variants:
      no_reset           acjax's env interface, episodes never reset
      autoreset          acjax's AutoReset, `refresh` once per scan (as the trainer per rollout)
      jumanji_no_reset   Jumanji's RobotWarehouse itself, no reset
      jumanji_autoreset  jumanji.wrappers.AutoResetWrapper(RobotWarehouse)
    """
    from acjax.config import load_config
    from acjax.envs.registry import make

    started = time.perf_counter()
    base = make(env_name, load_config(None, [f"env={env_name}", *options]))
    spec = base.spec
    n, a = spec.num_agents, spec.num_actions

    def sample(key, mask):
        if spec.continuous:
            u = jax.random.uniform(key, mask.shape, minval=spec.action_low, maxval=spec.action_high)
            return jnp.where(mask, u, 0.0)
        logits = jnp.where(mask, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)

    reset, step, refresh = _env_fns(base, variant)

    def roll(carry, key):
        s, mask, acc = carry
        k_ref, k_steps = jax.random.split(key)
        if refresh is not None:
            s = jax.vmap(refresh)(s, jax.random.split(k_ref, num_envs))

        def body(c, k):
            s, mask, acc = c
            s, mask, out = jax.vmap(step)(s, sample(k, mask))
            return (s, mask, acc + jnp.sum(out)), None

        (s, mask, acc), _ = jax.lax.scan(body, (s, mask, acc), jax.random.split(k_steps, scan))
        return (s, mask, acc), jax.random.split(key)[0]

    s, mask = jax.jit(jax.vmap(reset))(jax.random.split(jax.random.key(0), num_envs))
    carry = (s, mask, jnp.zeros((), jnp.float32))
    key = jax.random.key(1)
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(
        lambda: jax.jit(roll, donate_argnums=(0,)).lower(carry, key).compile()
    )
    _note_compile(budget, compile_s)
    state = [carry, key]

    def call():
        state[:] = list(jax.block_until_ready(fn(*state)))

    record = dict(
        section=section,
        algo="none",
        env=env_name,
        n_agents=n,
        num_envs=num_envs,
        num_seeds=1,
        devices=1,
        variant=variant,
        scan=scan,
        num_actions=a,
        what="raw env stepping, random valid actions",
    )
    return Program(record, call, num_envs * scan, compile_s, setup, 0.0, [], started)
