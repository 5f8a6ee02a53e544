"""JaxMARL's worlds (the `jaxmarl` package, 0.2.0) inside the compiled program, pure JAX.

Names `jaxmarl:<env_id>` (any JaxMARL world whose agents share their observation and action
spaces; the config's `env_kwargs` are JaxMARL's keyword arguments) and `smax-<scenario>` (SMAX
against its heuristic enemy, `HeuristicEnemySMAX` on one of SMAX's scenarios).

The translation (`JaxMARLWorld`):
- per-agent dictionaries become the agent axis in `env.agents` order; observations are
  flattened to float32, actions go back as a dictionary of each agent's row;
- the action mask is the world's `get_avail_actions` where it has one (all actions otherwise,
  and the true dimensions for continuous actions);
- the global state is the world's `world_state` (SMAX's `get_world_state`, returned with its
  observations) where it gives one, else the concatenated observations;
- the team reward is the world's `rewards["__all__"]` where it gives one (multi-agent Brax),
  else the sum of the agents' rewards (as `pettingzoo:` worlds have it), and `agent_rewards`
  the agents' own; SMAX's allies share one team reward, which is the team's;
- the world is stepped by `step_env` (no reset inside the step: acjax's `AutoReset` starts the
  next episode and keeps the true final observation), with one key split per step from the key
  the adapter's state carries (split from the reset's key);
- JaxMARL's `dones["__all__"]` is split in two: an episode that ends when the world's time limit
  is reached is truncated, any other end a termination. MPE and SMAX compare their step counter
  with `max_steps` before counting the step, so their episodes last `max_steps + 1` steps; that
  is `EnvSpec.max_steps` for them (`episode_limit`). A world without `max_steps` has no limit:
  every end is a termination. For other worlds an episode that ends for a task reason on the
  limit's step counts as truncated. Multi-agent Brax passes brax's own `truncation` on, and is
  built with `auto_reset=False` unless `env_kwargs` say otherwise.

SMAX (`SMAXWorld`, for `HeuristicEnemySMAX` and any world with SMAX's enemy team): as acjax's
SMACv2 path (`acjax.envs.external.smac.SmacStyleInstance`), dead allies are reported in
`alive` and their observations zeroed (death masking), and the win rate is a metric. A dead
agent's only available action is SMAX's stop action (index 4; SMAC's no-op is index 0). The
battle is over when every ally or every enemy is dead: that is a termination, also on the time
limit's step; an episode that reaches the limit with both teams alive is truncated. The win
flag is SMAX's own condition for its `won_battle_bonus`: every enemy dead and an ally alive.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, TimeStep, World, make_timestep

JAXMARL_VERSION = "0.2.0"
# SMAX's scenarios (jaxmarl.environments.smax.smax_env.MAP_NAME_TO_SCENARIO), named here so that
# listing and suggesting names need no import of jaxmarl
SMAX_SCENARIOS = (
    "3m", "2s3z", "25m", "3s5z", "8m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m", "3s5z_vs_3s6z",
    "3s_vs_5z", "6h_vs_8z", "smacv2_5_units", "smacv2_10_units", "smacv2_20_units",
)  # fmt: skip
MABRAX = ("ant_4x2", "halfcheetah_6x1", "hopper_3x1", "humanoid_9|8", "walker2d_2x3")
INSTALL = f"install JaxMARL: pip install jaxmarl=={JAXMARL_VERSION}"


def import_jaxmarl():
    """The `jaxmarl` package, imported quietly: its import prints to the standard output and
    its multi-agent Brax module resets `sys.stdout`/`sys.stderr` (a few seconds, once)."""
    if "jaxmarl" in sys.modules:
        return sys.modules["jaxmarl"]
    out, err = sys.stdout, sys.stderr
    for stream in (out, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            # jaxmarl imports brax and so MuJoCo, which reads MUJOCO_GL once: acjax's default first
            import jaxmarl

            import acjax.envs.mamujoco  # noqa: F401
    finally:
        if sys.__stdout__ is not None:
            sys.__stdout__.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        sys.stdout, sys.stderr = out, err
    return jaxmarl


class JaxMARLState(NamedTuple):
    world: Any  # JaxMARL's state
    key: jax.Array  # the world's randomness (acjax's `step` takes no key)
    t: jax.Array  # steps since the episode began


def _describe(space, name: str, agent: str) -> tuple:
    """A space as a comparable tuple: ("discrete", n) or ("box", shape, low, high)."""
    kind = type(space).__name__
    if kind == "Discrete":
        return ("discrete", int(space.n))
    if kind == "Box":
        shape = tuple(int(s) for s in np.atleast_1d(space.shape))
        low, high = np.broadcast_to(space.low, shape), np.broadcast_to(space.high, shape)
        return ("box", shape, tuple(np.asarray(low).ravel()), tuple(np.asarray(high).ravel()))
    raise ValueError(f"{name}: {agent}'s space is a {kind}; acjax takes Discrete and Box spaces")


def shared_spaces(env, name: str) -> tuple[tuple, tuple]:
    """The observation and action spaces every agent shares; a ValueError naming the first agent
    that differs otherwise."""
    first = env.agents[0]
    obs0 = _describe(env.observation_space(first), name, first)
    act0 = _describe(env.action_space(first), name, first)
    for agent in env.agents[1:]:
        for what, ref, space in (
            ("observation", obs0, env.observation_space(agent)),
            ("action", act0, env.action_space(agent)),
        ):
            if _describe(space, name, agent) != ref:
                raise ValueError(
                    f"{name}: {first} and {agent} have different {what} spaces; acjax takes "
                    f"JaxMARL worlds whose agents share their observation and action spaces"
                )
    return obs0, act0


def episode_limit(env) -> int:
    """Steps an episode lasts when the world's time limit ends it (0: no limit). MPE and SMAX
    test `step >= max_steps` before counting the step: their episodes last max_steps + 1."""
    limit = int(getattr(env, "max_steps", 0) or getattr(env, "episode_length", 0) or 0)
    from jaxmarl.environments.mpe.simple import SimpleMPE
    from jaxmarl.environments.smax.heuristic_enemy_smax_env import EnemySMAX
    from jaxmarl.environments.smax.smax_env import SMAX

    return limit + 1 if limit and isinstance(env, SimpleMPE | SMAX | EnemySMAX) else limit


class JaxMARLWorld(World):
    """A JaxMARL `MultiAgentEnv` whose agents share their spaces, as an acjax world (see the
    module docstring)."""

    agents_die = False
    metrics: tuple[str, ...] = ()

    def __init__(self, env, name: str):
        from jaxmarl.environments.multi_agent_env import MultiAgentEnv as Base

        self.env, self.agents = env, list(env.agents)
        obs_space, act_space = shared_spaces(env, name)
        self.continuous = act_space[0] == "box"
        if self.continuous:
            if len(act_space[1]) != 1 or np.ptp(act_space[2]) or np.ptp(act_space[3]):
                raise ValueError(
                    f"{name}: continuous actions must be one vector with the same bounds in "
                    f"every dimension, got shape {act_space[1]}"
                )
            self.num_actions = act_space[1][0]
            low, high = float(act_space[2][0]), float(act_space[3][0])
        else:
            self.num_actions, (low, high) = act_space[1], (-1.0, 1.0)
        self.has_mask = type(env).get_avail_actions is not Base.get_avail_actions
        self.limit = episode_limit(env)
        _, ts = jax.eval_shape(self.reset, jax.random.PRNGKey(0))
        self.spec = EnvSpec(
            name,
            num_agents=len(self.agents),
            obs_dim=int(ts.obs.shape[1]),
            state_dim=int(ts.global_state.shape[0]),
            num_actions=self.num_actions,
            max_steps=self.limit,
            action_type="continuous" if self.continuous else "discrete",
            action_low=low,
            action_high=high,
            agents_die=self.agents_die,
            metrics=self.metrics,
        )

    # what differs between worlds (SMAX overrides these)
    def alive(self, world) -> jax.Array:
        return jnp.ones((len(self.agents),), bool)

    def ends(self, world, dones, info, t) -> tuple[jax.Array, jax.Array]:
        """(terminated, truncated) of a step that gave `dones` and `info`, `t` steps into the
        episode: brax's `truncation` where the world passes it on (multi-agent Brax), else the
        time limit."""
        done = jnp.asarray(dones["__all__"], bool)
        if isinstance(info, dict) and "truncation" in info:
            truncated = done & jnp.asarray(info["truncation"], bool)
        else:
            truncated = done & (t >= self.limit) if self.limit else jnp.zeros((), bool)
        return done & ~truncated, truncated

    def won(self, world) -> jax.Array:
        return jnp.zeros((), bool)

    def team_reward(self, rewards: dict, agent_rewards: jax.Array) -> jax.Array:
        """The world's team reward where it gives one (`rewards["__all__"]`), else the sum."""
        if "__all__" in rewards:
            return jnp.asarray(rewards["__all__"], jnp.float32)
        return jnp.sum(agent_rewards)

    def _mask(self, world) -> jax.Array:
        if self.continuous or not self.has_mask:
            return jnp.ones((len(self.agents), self.num_actions), bool)
        avail = self.env.get_avail_actions(world)
        return jnp.stack([jnp.asarray(avail[a]) for a in self.agents]).astype(bool)

    def _timestep(self, obs, world, rewards=None, ends=(False, False)) -> TimeStep:
        alive = self.alive(world)
        o = jnp.stack([jnp.asarray(obs[a], jnp.float32).reshape(-1) for a in self.agents])
        if self.agents_die:
            o = o * alive[:, None]
        state = obs["world_state"].reshape(-1) if "world_state" in obs else o.reshape(-1)
        if rewards is None:  # a reset
            agent_rewards, reward = jnp.zeros((len(self.agents),), jnp.float32), 0.0
        else:
            agent_rewards = jnp.stack([jnp.asarray(rewards[a], jnp.float32) for a in self.agents])
            reward = self.team_reward(rewards, agent_rewards)
        return make_timestep(
            o, state, self._mask(world), reward, agent_rewards,
            *ends, alive=alive, won=self.won(world) & ends[0],
        )  # fmt: skip

    def reset(self, key: jax.Array) -> tuple[JaxMARLState, TimeStep]:
        k_world, k_next = jax.random.split(key)
        obs, world = self.env.reset(k_world)
        return JaxMARLState(world, k_next, jnp.zeros((), jnp.int32)), self._timestep(obs, world)

    def actions(self, actions: jax.Array) -> dict:
        """acjax's actions [N] or [N, A] as JaxMARL's dictionary."""
        dtype = jnp.float32 if self.continuous else jnp.int32
        return {a: actions[i].astype(dtype) for i, a in enumerate(self.agents)}

    def step(self, state: JaxMARLState, actions: jax.Array) -> tuple[JaxMARLState, TimeStep]:
        key, k_env = jax.random.split(state.key)
        act = self.actions(actions)
        obs, world, rewards, dones, info = self.env.step_env(k_env, state.world, act)
        t = state.t + 1
        ts = self._timestep(obs, world, rewards, self.ends(world, dones, info, t))
        return JaxMARLState(world, key, t), ts


class SMAXWorld(JaxMARLWorld):
    """SMAX against a scripted or learned enemy team: death masking and the win rate."""

    agents_die = True
    metrics = ("win_rate",)

    def _units(self, world):
        """SMAX's own state: alive flags of the allies, then the enemies."""
        return world.state.unit_alive

    def alive(self, world) -> jax.Array:
        return self._units(world)[: len(self.agents)]

    def _over(self, world) -> tuple[jax.Array, jax.Array]:
        units = self._units(world)
        return ~jnp.any(units[: len(self.agents)]), ~jnp.any(units[len(self.agents) :])

    def ends(self, world, dones, info, t) -> tuple[jax.Array, jax.Array]:
        done = jnp.asarray(dones["__all__"], bool)
        allies_dead, enemies_dead = self._over(world)
        over = allies_dead | enemies_dead
        return done & over, done & ~over

    def won(self, world) -> jax.Array:
        allies_dead, enemies_dead = self._over(world)
        return enemies_dead & ~allies_dead

    def team_reward(self, rewards: dict, agent_rewards: jax.Array) -> jax.Array:
        return agent_rewards[0]  # every ally gets the team's reward


def smax_frames(world: SMAXWorld, states: list, width: int = 320, height: int = 320) -> list:
    """Frames [H, W, 3] uint8 of SMAX states (`JaxMARLState`s, one per env step) drawn by SMAX's
    own `init_render` (matplotlib, headless): allies blue, enemies green, the units shot at in
    light colours, each unit's type letter; one frame per env step (SMAX's world ticks between
    them are not drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inner = world.env._env  # SMAX under the enemy team's policy
    fig, ax = plt.subplots(1, 1, figsize=(width / 80, height / 80), dpi=80)
    frames = []
    try:
        for t, s in enumerate(states):
            units = jax.tree.map(np.asarray, s.world.state)
            shots = {a: int(units.prev_attack_actions[i]) for i, a in enumerate(inner.agents)}
            inner.init_render(ax, (None, units, shots), 0, t)
            for image in list(ax.images):  # SMAX overlays a copy of the canvas: not drawn here
                image.remove()
            fig.canvas.draw()
            frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    finally:
        plt.close(fig)
    return frames


def _plain(value: Any) -> Any:
    """A YAML list of numbers as a JAX array (SMAX indexes its unit tables with arrays)."""
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return jnp.asarray(value)
    return value


def _build(env_id: str, kwargs: dict, name: str):
    jaxmarl = import_jaxmarl()
    from jaxmarl.environments.smax import map_name_to_scenario

    kwargs = {k: _plain(v) for k, v in kwargs.items()}
    if env_id in MABRAX:  # acjax's AutoReset keeps the final observation; brax's would not
        kwargs.setdefault("auto_reset", False)
    scenario = kwargs.get("scenario")
    if isinstance(scenario, str):
        if scenario not in SMAX_SCENARIOS:
            from acjax.config_io import did_you_mean

            hint = did_you_mean(scenario, SMAX_SCENARIOS) or f"; one of {SMAX_SCENARIOS}"
            raise ValueError(f"{name}: env_kwargs.scenario: unknown scenario {scenario!r}{hint}")
        kwargs["scenario"] = map_name_to_scenario(scenario)
    try:
        return jaxmarl.make(env_id, **kwargs)
    except TypeError as e:  # a keyword its constructor does not take
        raise ValueError(f"{name}: env_kwargs: {e}") from None
    except (ValueError, AssertionError, KeyError, NotImplementedError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{name}: JaxMARL refused it: {why}") from None


def make_jaxmarl(env_id: str, kwargs: dict | None = None, name: str | None = None) -> JaxMARLWorld:
    """`jaxmarl:<env_id>`: a JaxMARL world with `kwargs` (the config's `env_kwargs`)."""
    name = name or f"jaxmarl:{env_id}"
    try:
        jaxmarl = import_jaxmarl()
    except ImportError as e:
        raise ValueError(f"{name}: cannot import jaxmarl ({e}); {INSTALL}") from None
    if env_id not in jaxmarl.registered_envs:
        from acjax.config_io import did_you_mean

        hint = did_you_mean(env_id, jaxmarl.registered_envs, "jaxmarl:")
        raise ValueError(
            f"unknown JaxMARL world {env_id!r}"
            + (hint or f"; jaxmarl {jaxmarl.__version__} has {', '.join(jaxmarl.registered_envs)}")
        )
    env = _build(env_id, dict(kwargs or {}), name)
    from jaxmarl.environments.smax.heuristic_enemy_smax_env import EnemySMAX

    return (SMAXWorld if isinstance(env, EnemySMAX) else JaxMARLWorld)(env, name)


def make_smax(scenario: str, kwargs: dict | None = None) -> JaxMARLWorld:
    """`smax-<scenario>`: SMAX's scenario against its heuristic enemy (`HeuristicEnemySMAX`),
    `kwargs` (the config's `env_kwargs`) passed on to it."""
    name = f"smax-{scenario}"
    if scenario not in SMAX_SCENARIOS:
        from acjax.config_io import did_you_mean

        hint = did_you_mean(scenario, SMAX_SCENARIOS, "smax-")
        raise ValueError(
            f"unknown env {name!r}" + (hint or f"; SMAX's scenarios: {', '.join(SMAX_SCENARIOS)}")
        )
    kwargs = dict(kwargs or {})
    if "scenario" in kwargs:
        raise ValueError(f"{name}: the scenario is in the name; drop env_kwargs.scenario")
    return make_jaxmarl("HeuristicEnemySMAX", {**kwargs, "scenario": scenario}, name)
