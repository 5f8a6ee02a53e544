"""The JAX port at the authors' layout against rware 1.0.1 itself, the version ACPO's authors
ran (`rware-<size>-<N>ag[-easy|-hard]-c1-v1[-mean]`). Skipped unless the `rware` importable is
1.0.1; rware 1.0.1 needs the old `gym` (0.21 or older: later ones refuse its empty message
space), so it lives in a folder of its own, put first on the path:

    bash benchmarks/rware101_setup.sh /tmp/rware101
    PYTHONPATH=/tmp/rware101:src .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_rware101.py

The original is built as the authors' `RLlibRWARE` builds it (`Warehouse(**env_config)` with
the settings of their `rware.yaml`: column height 1, INDIVIDUAL rewards, 500 steps, fast
observations). Exact transitions as in test_rware_port.py: the original's replacement draws
(from numpy's global generator in 1.0.1) are read and forced on the port. With gym 0.20 / 0.21
rware 1.0.1's observation is longer than the 71 features it writes (gym counts its
MultiDiscrete spaces one-hot): the tail is checked to be zeros and cut off.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from acjax.envs import warehouse_rware as wr

rware = pytest.importorskip("rware")
if importlib.metadata.version("rware") != "1.0.1":
    pytest.skip("needs rware 1.0.1 (see this module's doc)", allow_module_level=True)

import rware.warehouse as rw  # noqa: E402
from test_rware_port import Pair, run_random_states, run_rollout  # noqa: E402

# the authors' tasks (condor-scripts/main_condor_rware.py; their "medium" is rware's normal)
TASKS = [
    ("tiny", 2, "easy"),
    ("tiny", 4, "normal"),
    ("tiny", 8, "hard"),
    ("small", 2, "easy"),
    ("small", 4, "normal"),
    ("small", 8, "hard"),
    ("tiny", 12, "hard"),
    ("small", 12, "hard"),
]
AUTHORS = {"column_height": 1, "version": 1, "team_mean": True}


class _Random:
    """numpy.random for rware.warehouse, recording the shelves `step` draws to replace a
    delivered one (`np.random.choice(candidates)`, the only call with one argument)."""

    def __init__(self):
        self.drawn: list[int] = []

    def choice(self, a, *args, **kwargs):
        out = np.random.choice(a, *args, **kwargs)
        if not args and not kwargs:
            self.drawn.append(out.id - 1)
        return out

    def __getattr__(self, name):
        return getattr(np.random, name)


class _Numpy:
    def __init__(self):
        self.random = _Random()

    def __getattr__(self, name):
        return getattr(np, name)


rw.np = _Numpy()


def authors_warehouse(size: str, n: int, difficulty: str) -> rw.Warehouse:
    """RLlibRWARE's construction with the authors' rware.yaml."""
    rows, cols = wr.SIZES[size]
    return rw.Warehouse(
        n_agents=n,
        column_height=1,
        max_inactivity_steps=None,
        max_steps=500,
        fast_obs=True,
        msg_bits=0,
        sensor_range=1,
        shelf_rows=rows,
        shelf_columns=cols,
        request_queue_size=int(n * {"easy": 2, "normal": 1, "hard": 0.5}[difficulty]),
        reward_type=rw.RewardType.INDIVIDUAL,
    )


def _obs(obs) -> np.ndarray:
    obs = np.stack(obs)
    assert not obs[:, 71:].any()
    return obs[:, :71]


class Pair101(Pair):
    def make_original(self):
        env = self.env
        assert (env.column_height, env.version) == (1, 1)
        orig = authors_warehouse(env.size, env.num_agents, env.difficulty)
        orig.reset()
        return orig

    def reset_original(self, seed: int) -> wr.RwareState:
        import jax

        np.random.seed(seed)
        obs = _obs(self.orig.reset())
        state = wr.state_from_rware(self.orig, jax.random.key(seed))
        np.testing.assert_array_equal(np.asarray(self.observe(state)), obs)
        return state

    def original_step(self, actions):
        rw.np.random.drawn = []
        obs, rewards, dones, _ = self.orig.step([int(a) for a in actions])
        assert len(set(dones)) == 1
        return _obs(obs), rewards, dones[0], rw.np.random.drawn


@pytest.fixture(autouse=True)
def _pairs_of_rware101(monkeypatch):
    import test_rware_port

    monkeypatch.setattr(test_rware_port, "Pair", Pair101)
    test_rware_port._pair.cache_clear()
    np.random.seed(0)
    yield
    test_rware_port._pair.cache_clear()


@pytest.mark.parametrize("size", list(wr.SIZES))
def test_highway_rule_of_rware101_at_every_column_height(size):
    """rware 1.0.1's `_is_highway` and shelf order against the port's version-1 layout."""
    for height in range(1, 13):
        lay = wr.Layout.from_params(*wr.SIZES[size], height, 1)
        rows, cols = wr.SIZES[size]
        w = rw.Warehouse(cols, height, rows, 1, 0, 1, 0, None, 500, rw.RewardType.INDIVIDUAL)
        w.reset()
        assert w.grid_size == (lay.height, lay.width)
        highways = [[w._is_highway(x, y) for x in range(lay.width)] for y in range(lay.height)]
        np.testing.assert_array_equal(np.array(highways, bool), lay.highways)
        np.testing.assert_array_equal(np.array([[s.x, s.y] for s in w.shelfs]), lay.shelf_home)
        np.testing.assert_array_equal(np.array(w.goals), lay.goals)


@pytest.mark.parametrize("size,n,difficulty", TASKS, ids=lambda v: str(v))
def test_authors_tasks_match_rware101(size, n, difficulty):
    p = run_random_states(size, n, 150, seed=n, difficulty=difficulty, **AUTHORS)
    for episode in range(2):
        run_rollout(size, n, 500, seed=100 * n + episode, difficulty=difficulty, **AUTHORS)
    assert isinstance(p, Pair101) and p.transitions >= 1150
    print(f"{p.env.spec.name}: {p.transitions} transitions, {p.deliveries} deliveries")
    assert p.deliveries > 0
