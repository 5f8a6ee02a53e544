"""The replay buffer of the off-policy algorithms (acjax.buffer): insertion order, wrap-around,
uniform sampling of windows, no sample from an empty slot or across the write position."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acjax.buffer import make_buffer, make_episode_buffer, sample_added

ENVS, CAP, WINDOW = 2, 8, 3


def _steps(buf, state, start, count):
    """Add `count` steps; transition t of env e holds x = 100 e + t."""
    for t in range(start, start + count):
        x = jnp.asarray([[100.0 * e + t] for e in range(ENVS)])  # [envs, T=1]
        state = buf.add(state, {"x": x})
    return state


def test_insertion_order_and_wrap_around():
    buf = make_buffer(ENVS, CAP, batch=4, window=WINDOW)
    state = buf.init({"x": jnp.zeros(())})
    state = _steps(buf, state, 0, 5)
    x = np.asarray(state.experience["x"])
    assert x.shape == (ENVS, CAP)
    assert x[0, :5].tolist() == [0, 1, 2, 3, 4] and x[1, :5].tolist() == [100, 101, 102, 103, 104]
    assert int(state.current_index) == 5 and not bool(state.is_full)
    state = _steps(buf, state, 5, 6)  # 11 steps: 8 slots, the first 3 overwritten
    x = np.asarray(state.experience["x"])
    assert x[0].tolist() == [8, 9, 10, 3, 4, 5, 6, 7]
    assert int(state.current_index) == 3 and bool(state.is_full)
    with pytest.raises(ValueError, match="capacity 2 per environment < window 3"):
        make_buffer(ENVS, 2, batch=4, window=3)


def _sample_starts(buf, state, draws):
    f = jax.jit(jax.vmap(lambda k: buf.sample(state, k).experience["x"]))
    xs = np.asarray(f(jax.random.split(jax.random.PRNGKey(0), draws))).reshape(-1, WINDOW)
    assert (np.diff(xs, axis=1) == 1).all()  # consecutive transitions of one environment
    return xs


def test_sampling_uses_written_slots_only_and_is_uniform():
    buf = make_buffer(ENVS, CAP, batch=64, window=WINDOW)
    state = buf.init({"x": jnp.full((), -1.0)})
    assert not bool(buf.can_sample(state))
    state = _steps(buf, state, 0, 5)  # 5 written steps: windows start at t = 0, 1, 2
    starts = _sample_starts(buf, state, 200)[:, 0]
    valid = [100 * e + t for e in range(ENVS) for t in range(3)]
    assert set(np.unique(starts)) == set(valid)  # never an empty slot (-1)
    counts = np.array([(starts == v).sum() for v in valid])
    expected = len(starts) / len(valid)  # 2133 each: uniform within 5% (about 3 sigma)
    assert np.abs(counts - expected).max() < 0.05 * expected


def test_sampling_after_wrap_never_crosses_the_write_position():
    buf = make_buffer(ENVS, CAP, batch=64, window=WINDOW)
    state = _steps(buf, buf.init({"x": jnp.zeros(())}), 0, 11)  # the ring holds t = 3..10
    starts = _sample_starts(buf, state, 100)[:, 0] % 100
    assert set(np.unique(starts)) == {3, 4, 5, 6, 7, 8}  # windows of the 8 newest steps


def test_sample_added_equals_sampling_the_added_replay():
    """sample_added(old, episode) draws what sample(add(old, episode)) draws, bit for bit, before
    the ring is full, when it fills and after it wraps (the trainer's replay of episodes)."""
    buf = make_episode_buffer(3, 4, batch=16)
    state = buf.init({"x": jnp.zeros((2,)), "n": jnp.zeros((), jnp.int32)})
    same = jax.jit(
        lambda old, ep, k: (
            sample_added(buf, old, ep, k),
            jax.tree.map(lambda x: x[:, 0], buf.sample(buf.add(old, ep), k).experience),
        )
    )
    for i in range(9):
        ep = {
            "x": jnp.arange(3.0)[:, None, None] * 100 + i + jnp.zeros((3, 1, 2)),
            "n": jnp.full((3, 1), i, jnp.int32),
        }
        got, want = same(state, ep, jax.random.PRNGKey(i))
        jax.tree.map(np.testing.assert_array_equal, got, want)
        assert i in set(np.asarray(got["n"]).tolist()) or i == 0  # the new episodes are drawn
        state = buf.add(state, ep)
