"""JaxMARL's worlds (`jaxmarl:<env_id>`, `smax-<scenario>`) against stepping JaxMARL directly
with the same keys and actions; SMAX's death masking and win flag; short training runs; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

import acjax.envs.mamujoco  # noqa: E402, F401  (MUJOCO_GL is read when jaxmarl imports MuJoCo)

pytest.importorskip("jaxmarl")

from acjax.envs.registry import make  # noqa: E402
from acjax.envs.wrappers import AutoReset  # noqa: E402

STOP = 4  # SMAX's stop action: the only one a dead agent has


class Kw:
    def __init__(self, **kwargs):
        self.env_kwargs = kwargs


def _rollout(world, steps, policy, seed=0):
    """`steps` steps of `AutoReset(world)` from PRNGKey(seed), actions from policy(mask, key)."""
    env = AutoReset(world)

    def body(carry, k):
        st, ts = carry
        a = policy(ts.action_mask, k)
        st, nts = env.step(st, a)
        return (st, nts), (a, nts)

    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(seed))
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), steps)
    _, (actions, out) = jax.jit(lambda c, ks: jax.lax.scan(body, c, ks))((state, ts), keys)
    return ts, np.asarray(actions), jax.tree.map(np.asarray, out)


def _focus_fire(mask, key):
    """Attack the first enemy in range, else mostly move east (SMAX's action 1), toward them."""
    idx = jnp.arange(mask.shape[-1])
    attack = mask & (idx >= 5)
    first = jnp.argmax(attack, axis=-1)[..., None]
    bonus = 10.0 * (idx == first) * attack.any(-1, keepdims=True) + 3.0 * (idx == 1)
    return jax.random.categorical(key, jnp.where(mask, bonus, -jnp.inf))


class Direct:
    """The JaxMARL world stepped directly, replaying the adapter's keys: reset from split(k)[0]
    with the key chain split(k)[1]; each step `step_env(k_step, ...)` with k_step the chain's
    split; the pre-generated reset state of `AutoReset` (its key k1) after an episode. Where an
    episode ends, JaxMARL's own auto-resetting `step` with the same key resets to a state of its
    own: checked to give the next episode's first observation of `reset`."""

    def __init__(self, env, key):
        self.env, self.step_fn, self.step_env = env, jax.jit(env.step), jax.jit(env.step_env)
        k0, k1 = jax.random.split(key)
        self.state, self.key, self.first_obs = self._reset(k0)
        self.reset_state, self.reset_key, self.reset_obs = self._reset(k1)

    def _reset(self, key):
        k_world, k_next = jax.random.split(key)
        obs, state = jax.jit(self.env.reset)(k_world)
        return state, k_next, obs

    def step(self, actions: dict):
        self.key, k_step = jax.random.split(self.key)
        obs, state, rew, dones, info = self.step_env(k_step, self.state, actions)
        if bool(dones["__all__"]):  # JaxMARL's own step resets to reset(split(k)[1])'s state
            k_reset = jax.random.split(k_step)[1]
            own, _, _, _, _ = self.step_fn(k_step, self.state, actions)
            first, _ = jax.jit(self.env.reset)(k_reset)
            for a in self.env.agents:
                np.testing.assert_allclose(own[a], first[a], atol=1e-6)
        self.state = state
        return obs, state, rew, dones

    def restart(self):
        self.state, self.key = self.reset_state, self.reset_key
        return self.reset_obs


def _stack(d, agents, alive=None):
    x = np.stack([np.asarray(d[a], np.float32).reshape(-1) for a in agents])
    return x if alive is None else x * alive[:, None]


def test_smax_steps_like_jaxmarl_with_death_masking_and_wins():
    """3m with a 15-step limit: wins, losses and time limits, agents dying."""
    world = make("smax-3m", Kw(max_steps=14))
    s = world.spec
    assert (s.num_agents, s.obs_dim, s.state_dim, s.num_actions, s.max_steps) == (3, 75, 72, 8, 15)
    assert s.agents_die and s.metrics == ("win_rate",)
    steps = 160
    ts0, actions, out = _rollout(world, steps, _focus_fire, seed=2)
    env, agents = world.env, world.agents
    ref = Direct(env, jax.random.PRNGKey(2))
    np.testing.assert_allclose(ts0.obs, _stack(ref.first_obs, agents), atol=1e-5)
    t_ep, seen = 0, {"won": 0, "lost": 0, "limit": 0}
    for t in range(steps):
        obs, state, rew, dones = ref.step({a: actions[t, i] for i, a in enumerate(agents)})
        t_ep += 1
        units = np.asarray(state.state.unit_alive)
        alive = units[:3]
        np.testing.assert_allclose(out.reward[t], rew["ally_0"], atol=1e-6)
        np.testing.assert_allclose(out.agent_rewards[t], _stack(rew, agents)[:, 0], atol=1e-6)
        np.testing.assert_allclose(out.final_obs[t], _stack(obs, agents, alive), atol=1e-5)
        np.testing.assert_allclose(out.final_global_state[t], obs["world_state"], atol=1e-5)
        done = bool(dones["__all__"])
        limit = done and t_ep == 15 and alive.any() and units[3:].any()
        assert (bool(out.truncated[t]), bool(out.terminated[t])) == (limit, done and not limit)
        # the win flag: JaxMARL's own (SMAXLogWrapper: the won_battle_bonus of 1 in the reward)
        assert bool(out.won[t]) == (done and float(rew["ally_0"]) >= 1.0)
        if done:
            seen["won" if out.won[t] else "limit" if limit else "lost"] += 1
            obs, t_ep = ref.restart(), 0
            alive = np.ones(3, bool)
        np.testing.assert_allclose(out.obs[t], _stack(obs, agents, alive), atol=1e-5)
        mask = env.get_avail_actions(ref.state)
        np.testing.assert_array_equal(out.action_mask[t], _stack(mask, agents) > 0)
        np.testing.assert_array_equal(out.alive[t], alive)
    assert min(seen.values()) >= 1, seen
    # death masking: a dead agent sees zeros and may only stop
    dead = ~out.alive
    assert dead.sum() > 20
    assert not out.obs[dead].any()
    np.testing.assert_array_equal(out.action_mask[dead], np.eye(8, dtype=bool)[[STOP] * dead.sum()])


def _random(mask, key):
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf))


@pytest.mark.parametrize("continuous", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mpe_steps_like_jaxmarl(continuous):
    """MPE's simple spread: its 25-step limit (26 steps) is a truncation; the final observation
    is kept across the reset; the team reward is the sum of the agents' rewards."""
    kw = {"action_type": "Continuous"} if continuous else {}
    world = make("jaxmarl:MPE_simple_spread_v3", Kw(**kw))
    s = world.spec
    assert (s.num_agents, s.obs_dim, s.state_dim, s.max_steps) == (3, 18, 54, 26)
    assert s.continuous == continuous and s.num_actions == 5 and not s.agents_die
    if continuous:
        assert (s.action_low, s.action_high) == (0.0, 1.0)
        policy = lambda m, k: jax.random.uniform(k, m.shape)  # noqa: E731
    else:
        policy = _random
    steps = 60
    ts0, actions, out = _rollout(world, steps, policy, seed=3)
    agents = world.agents
    ref = Direct(world.env, jax.random.PRNGKey(3))
    np.testing.assert_allclose(ts0.obs, _stack(ref.first_obs, agents), atol=1e-5)
    for t in range(steps):
        obs, _, rew, dones = ref.step({a: actions[t, i] for i, a in enumerate(agents)})
        r = _stack(rew, agents)[:, 0]
        np.testing.assert_allclose(out.agent_rewards[t], r, atol=1e-5)
        np.testing.assert_allclose(out.reward[t], r.sum(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out.final_obs[t], _stack(obs, agents), atol=1e-5)
        assert bool(out.truncated[t]) == bool(dones["__all__"]) == ((t + 1) % 26 == 0)
        assert not out.terminated[t]
        if dones["__all__"]:
            obs = ref.restart()
        np.testing.assert_allclose(out.obs[t], _stack(obs, agents), atol=1e-5)
        np.testing.assert_allclose(out.global_state[t], _stack(obs, agents).reshape(-1), atol=1e-5)
    assert out.action_mask.all()


def test_mpe_trains_and_reports_returns(tmp_path):
    from acjax.run import train

    cfg = tiny_config("env=jaxmarl:MPE_simple_spread_v3", "algo=mappo", f"run_dir={tmp_path}")
    summary = train(cfg)
    assert summary["status"] == "finished"
    import json

    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["episodes"] for r in rows) > 0
    ret = [r["episode_return"] for r in rows if r["episodes"]]
    assert all(np.isfinite(ret)) and max(ret) < 0  # simple spread: distances are penalties


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["mappo", "ippo", "happo", "acpo"])
def test_smax_trains_and_reports_the_win_rate(algo, tmp_path):
    from acjax.run import train

    cfg = tiny_config(
        "env=smax-smacv2_5_units", f"algo={algo}", "net.rnn=gru", "ppo.chunk_len=4",
        "ppo.rollout_len=32", f"run_dir={tmp_path}",
    )  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "finished"
    rates = [x for x in summary["final_win_rates"] if x is not None]
    assert rates and all(0 <= x <= 1 for x in rates)


@pytest.mark.slow
def test_mpe_trains_with_every_on_policy_family(tmp_path):
    from acjax.run import train

    for algo in ("ippo", "happo", "acpo"):
        cfg = tiny_config(
            "env=jaxmarl:MPE_simple_spread_v3", f"algo={algo}", f"run_dir={tmp_path / algo}"
        )
        assert train(cfg)["status"] == "finished"


@pytest.mark.parametrize(
    "args, words",
    [
        (["env=jaxmarl:MPE_simple_spred_v3"], ["did you mean 'jaxmarl:MPE_simple_spread_v3'"]),
        (["env=smax-3mm"], ["did you mean 'smax-3m'"]),
        (["env=jaxmarl:SMAX", "env_kwargs.num_enemies=3"], ["different action spaces"]),
        (["env=jaxmarl:switch_riddle"], ["MultiDiscrete"]),
        (["env=smax-3m", "env_kwargs.no_such_option=1"], ["env_kwargs", "no_such_option"]),
        (["env=jaxmarl:HeuristicEnemySMAX", "env_kwargs.scenario=4m"], ["unknown scenario"]),
    ],
)
def test_bad_ids_and_unsupported_worlds_are_one_line_errors(args, words, capsys):
    from acjax import cli

    assert cli.main(["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.slow
def test_smax_episodes_render_headless(tmp_path):
    """SMAX's own drawing through `acjax.recording.frames_of` (what `acjax render` calls)."""
    from acjax.envs.render import write_gif
    from acjax.recording import frames_of

    world = make("smax-3m")
    state, ts = jax.jit(world.reset)(jax.random.PRNGKey(0))
    step, states = jax.jit(world.step), []
    for t in range(4):
        states.append(state)
        state, ts = step(state, _focus_fire(ts.action_mask, jax.random.PRNGKey(t)))
    frames, fps = frames_of(world, states)
    assert len(frames) == 4 and fps > 0
    assert all(f.dtype == np.uint8 and f.shape == frames[0].shape for f in frames)
    assert np.abs(frames[0].astype(int) - frames[-1]).sum() > 0  # the units moved
    assert write_gif(None, frames, tmp_path / "smax.gif", fps=4).stat().st_size > 0
