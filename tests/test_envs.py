"""Interface conformance for every registered world, and the wrappers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acjax.envs.registry import make
from acjax.envs.warehouse_jumanji import JumanjiWarehouse
from acjax.envs.wrappers import AutoReset, EpisodeStats

WORLDS = [
    "jumanji-rware-tiny-2ag",
    "jumanji-rware-small-4ag-hard",
    "matrix-table1",
    "matrix-climbing",
    "matrix-penalty",
]


def random_actions(key, mask):
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


@pytest.mark.parametrize("name", WORLDS)
def test_world_conforms_to_interface(name):
    env = make(name)
    spec = env.spec
    assert spec.name == name
    n, e = spec.num_agents, 6
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), e))
    assert ts.obs.shape == (e, n, spec.obs_dim) and ts.obs.dtype == jnp.float32
    assert ts.global_state.shape == (e, spec.state_dim)
    assert ts.action_mask.shape == (e, n, spec.num_actions) and ts.action_mask.dtype == jnp.bool_
    assert ts.agent_rewards.shape == (e, n) and ts.reward.shape == (e,)
    assert not ts.terminated.any() and not ts.truncated.any()
    step = jax.jit(jax.vmap(env.step))
    key = jax.random.PRNGKey(1)
    for _ in range(3):
        key, k = jax.random.split(key)
        state, ts = step(state, random_actions(k, ts.action_mask))
        assert ts.obs.shape == (e, n, spec.obs_dim)
        assert ts.action_mask.any(-1).all(), "every agent has at least one available action"
        assert not (ts.terminated & ts.truncated).any()


def test_matrix_game_payoff_and_termination():
    env = make("matrix-table1")
    s, _ = env.reset(jax.random.PRNGKey(0))
    for a, b, r in [(0, 0, 5), (1, 1, 10), (2, 2, 20), (0, 2, -20)]:
        _, ts = env.step(s, jnp.array([a, b]))
        assert float(ts.reward) == r and bool(ts.terminated) and not bool(ts.truncated)
    with pytest.raises(ValueError, match="unknown env 'matrix-nope'"):
        make("matrix-nope")


def test_unknown_world_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown env 'rware-huge-2ag'"):
        make("rware-huge-2ag")
    with pytest.raises(ValueError, match="agents must be in 1..20"):
        make("jumanji-rware-tiny-21ag")


def test_jumanji_time_limit_is_truncation_and_collision_is_termination():
    env = JumanjiWarehouse("tiny", 2, max_steps=5)
    state, ts = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    for t in range(5):
        state, ts = step(state, jnp.zeros(2, jnp.int32))  # NOOP never collides
        assert bool(ts.truncated) == (t == 4) and not bool(ts.terminated)
    # random valid actions on tiny-4ag end most episodes early by collision (docs/references.md,
    # "Jumanji's RobotWarehouse")
    env = make("jumanji-rware-tiny-4ag")
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), 64))
    step = jax.jit(jax.vmap(env.step))
    key, ended = jax.random.PRNGKey(2), np.zeros(64, bool)
    for _ in range(60):
        key, k = jax.random.split(key)
        state, ts = step(state, random_actions(k, ts.action_mask))
        ended |= np.asarray(ts.terminated)
        assert not np.asarray(ts.truncated).any()
    assert ended.mean() > 0.2


@pytest.mark.parametrize("name", ["jumanji-rware-tiny-4ag", "matrix-climbing"])
def test_auto_reset_keeps_final_observation_and_starts_next_episode(name):
    inner = make(name)
    env = EpisodeStats(AutoReset(inner))
    e = 32
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), e))
    step = jax.jit(jax.vmap(env.step))
    raw_step = jax.jit(jax.vmap(inner.step))
    key, seen_done, returns = jax.random.PRNGKey(3), 0, np.zeros(e)
    for _ in range(40):
        key, k = jax.random.split(key)
        a = random_actions(k, ts.action_mask)
        _, raw = raw_step(state.inner.env_state, a)
        reset_obs = state.inner.reset_timestep.obs
        state, ts = step(state, a)
        done = np.asarray(ts.done)
        np.testing.assert_array_equal(ts.final_obs, raw.obs)
        np.testing.assert_array_equal(ts.final_global_state, raw.global_state)
        np.testing.assert_array_equal(ts.obs[done], np.asarray(reset_obs)[done])
        np.testing.assert_array_equal(ts.obs[~done], np.asarray(raw.obs)[~done])
        returns += np.asarray(raw.reward)
        np.testing.assert_allclose(np.asarray(state.returned_return)[done], returns[done])
        returns[done] = 0.0
        np.testing.assert_allclose(state.episode_return, returns, atol=1e-5)
        seen_done += done.sum()
    assert seen_done > 0


def test_render_draws_jumanji_warehouses():
    """Every agent's cell centre in its colour, goal cells grey, one teal shelf per request."""
    from acjax.envs.render import render_rgb

    world = make("jumanji-rware-tiny-2ag")
    state, _ = world.reset(jax.random.key(3))
    cell = 24
    frame = render_rgb(world, state, cell)
    rows, cols = world._env.grid_size
    assert frame.shape == (rows * cell + 1, cols * cell + 1, 3)
    pos = state.agents.position
    for r, c in zip(np.asarray(pos.x), np.asarray(pos.y), strict=True):  # (row, column)
        centre = (int(r * cell + cell // 2 + 4), int(c * cell + cell // 2 + 4))  # off the line
        assert tuple(frame[centre]) == (255, 140, 0)
    for gx, gy in np.asarray(world._env.goals):  # (column, row)
        assert tuple(frame[gy * cell + 3, gx * cell + 3]) == (60, 60, 60)
    shelves = state.shelves
    teal = 0
    for r, c in zip(np.asarray(shelves.position.x), np.asarray(shelves.position.y), strict=True):
        teal += tuple(frame[int(r * cell + 4), int(c * cell + 4)]) == (0, 128, 128)
    assert teal == int(np.sum(shelves.is_requested)) > 0
