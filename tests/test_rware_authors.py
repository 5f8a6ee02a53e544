"""The warehouse as the authors of ACPO ran it: rware 1.0.1's layout at column height 1, the
team reward sum / N (`rware-<size>-<N>ag[-easy|-hard]-c1-v1-mean`), and 2.0.0's layout at other
column heights (`-c<C>`), against the original rware 2.0.0.

rware 1.0.1 and 2.0.0 step with the same code; they differ in the highway rule (1.0.1 keeps
column height 8 in it) and in where their random numbers come from (docs/references.md). So the
port at 1.0.1's layout is checked transition by transition against rware 2.0.0 given that
layout as a layout string (`Layout.to_rware_string`), with the harness of test_rware_port.py.
The layout pictures below are rware 1.0.1's own (`Warehouse._is_highway` at column height 1);
tests/test_rware101.py checks the port against rware 1.0.1 itself where it is importable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acjax.envs import warehouse_rware as wr
from acjax.envs.external import make_rware
from acjax.envs.registry import AUTHORS_RWARE, make

pytest.importorskip("rware")

from test_external_rware_port import MAX_STEPS, assert_same_statistics  # noqa: E402
from test_rware_port import (  # noqa: E402
    build_state,
    original,
    pair,
    run_random_states,
    run_rollout,
    shelf_at,
)

# rware 1.0.1 at column height 1 (X shelf, . highway, g goal), printed from rware 1.0.1
AUTHORS_LAYOUTS = {
    "tiny": """\
..........
.XX....XX.
.XX....XX.
....gg....""",
    "small": """\
..........
.XX....XX.
.XX....XX.
.XX....XX.
.XX....XX.
....gg....""",
}
AUTHORS = {"column_height": 1, "version": 1}


def test_layout_sizes_at_column_height_1():
    """Grid (height x width) and shelves: the authors' maps and rware 2.0.0's at height 1."""
    sizes = {}
    for size in ("tiny", "small"):
        for version in (1, 2):
            lay = wr.Layout.from_params(*wr.SIZES[size], 1, version)
            sizes[size, version] = (lay.height, lay.width, lay.num_shelves)
    assert sizes == {
        ("tiny", 1): (4, 10, 8),
        ("tiny", 2): (4, 10, 4),
        ("small", 1): (6, 10, 16),
        ("small", 2): (6, 10, 10),
    }
    for size, picture in AUTHORS_LAYOUTS.items():
        assert wr.Layout.from_params(*wr.SIZES[size], 1, 1).to_rware_string() == picture
    # at the registered height 8 the two rules are one
    for size in wr.SIZES:
        v1, v2 = (wr.Layout.from_params(*wr.SIZES[size], 8, v) for v in (1, 2))
        np.testing.assert_array_equal(v1.highways, v2.highways)


@pytest.mark.parametrize("version", [1, 2])
def test_layouts_equal_the_originals(version):
    """Highways, shelf order and goals of the port's layout against rware 2.0.0's own: built
    from `column_height` (version 2) or from the port's layout string (version 1)."""
    for size in wr.SIZES:
        for height in (1, 2, 3, 5, 8, 11):
            lay = wr.Layout.from_params(*wr.SIZES[size], height, version)
            o = original(size, 2, "normal", 1, height, version)
            o.reset(seed=0)
            np.testing.assert_array_equal(lay.highways, o.highways.astype(bool))
            home = np.array([[s.x, s.y] for s in o.shelfs]).reshape(-1, 2)
            np.testing.assert_array_equal(lay.shelf_home, home)
            np.testing.assert_array_equal(lay.goals, np.array(o.goals))


@pytest.mark.parametrize(
    "size,n,difficulty,count,steps",
    [("tiny", 4, "normal", 80, 150), ("tiny", 12, "hard", 60, 120), ("small", 8, "hard", 60, 0)],
    ids=["tiny-4ag", "tiny-12ag-hard", "small-8ag-hard"],
)
def test_authors_layout_matches_original(size, n, difficulty, count, steps):
    """Exact transitions (random states, and a rollout from the original's reset) with the
    team mean on: states, observations, rewards (sum / N each) and truncation agree."""
    p = run_random_states(size, n, count, seed=n, difficulty=difficulty, **AUTHORS, team_mean=True)
    if steps:
        run_rollout(size, n, steps, seed=n, difficulty=difficulty, **AUTHORS, team_mean=True)
    assert p.env.spec.name == f"rware-{size}-{n}ag{wr.name_suffix(difficulty, 1, 1, True)}"
    assert p.transitions >= count + steps


def test_rollouts_in_the_dense_map_deliver_and_collide():
    p = pair("tiny", 12, "hard", **AUTHORS, team_mean=True)
    before = p.deliveries
    run_rollout("tiny", 12, 200, seed=5, difficulty="hard", eps=0.2, **AUTHORS, team_mean=True)
    assert p.deliveries > before


def test_column_height_1_of_rware_2_matches_original():
    run_random_states("small", 4, 60, seed=1, column_height=1)
    p = run_rollout("tiny", 2, 120, seed=2, column_height=1)
    assert p.env.spec.name == "rware-tiny-2ag-c1" and p.env.layout.num_shelves == 4


def test_team_mean_reward_is_the_sum_over_n():
    """A delivery in the authors' tiny map: +1 for the deliverer in rware, 1/4 for every agent
    and as the team reward with the team mean."""
    p = pair("tiny", 4, **AUTHORS, team_mean=True)
    env = p.env
    s0, s1 = shelf_at(env, 1, 1), shelf_at(env, 2, 1)
    agents = [(4, 2, wr.DIR_DOWN), (0, 0, wr.DIR_UP), (9, 0, wr.DIR_UP), (9, 3, wr.DIR_UP)]
    state = build_state(env, agents, carrying={0: s0}, queue=[s0, s1, 5, 6])
    _, ts = p.transition(state, [wr.FORWARD, wr.NOOP, wr.NOOP, wr.NOOP])
    assert np.asarray(ts.agent_rewards).tolist() == [0.25] * 4 and float(ts.reward) == 0.25
    plain = wr.make("tiny", 4, column_height=1, version=1)
    _, ts = jax.jit(plain.step)(state, jnp.asarray([wr.FORWARD, 0, 0, 0]))
    assert np.asarray(ts.agent_rewards).tolist() == [1.0, 0, 0, 0] and float(ts.reward) == 1.0


def test_world_names():
    shelves = {"tiny": 8, "small": 16}
    assert len(AUTHORS_RWARE) == 8
    for name in AUTHORS_RWARE:
        env = make(name)
        assert env.spec.name == name and env.team_mean and env.version == 1
        assert env.layout.num_shelves == shelves[env.size] and env.layout.height < 7
    assert make("rware-medium-4ag-c3").layout.height == 4 * 2 + 2
    assert make("rware-tiny-4ag-v1").spec.name == "rware-tiny-4ag-v1"
    assert make("rware-tiny-4ag-mean").spec.name == "rware-tiny-4ag-mean"
    for bad, message in [
        ("rware-tiny-4ag-c8", "column height 8 is the default"),
        ("rware-tiny-4ag-c0", "column_height must be an int in 1..20"),
        ("rware-tiny-4ag-c21", "column_height must be an int in 1..20"),
        ("jumanji-rware-tiny-2ag-c1-v1", "options of rware-\\* worlds"),
        ("rware-tiny-4ag-easy-c1-v1", "rware-tiny-c1-v1 has 8 shelves: a request queue of 8"),
        ("rware-tiny-12ag-hard-c1", "rware-tiny-c1 has 4 shelves"),
        ("rware-tiny-4ag-v1-c1", "unknown env"),
    ]:
        with pytest.raises(ValueError, match=message) as err:
            make(bad)
        assert "\n" not in str(err.value)


def test_external_adapter_at_the_authors_layout():
    """The original through the adapter (rware 2.0.0 given the layout string, its team reward
    scaled by 1 / N): the port's sizes, layout and delivery reward."""
    name = "rware-tiny-4ag-c1-v1-mean"
    port, ext = make(name), make(f"external-{name}")
    assert ext.spec.name == f"external-{name}"
    fields = ("num_agents", "obs_dim", "state_dim", "num_actions", "max_steps")
    assert [getattr(ext.spec, f) for f in fields] == [getattr(port.spec, f) for f in fields]
    instance = ext.pool.factory()
    instance.reset(seed=0)
    w = instance.env.unwrapped
    np.testing.assert_array_equal(w.highways.astype(bool), port.layout.highways)
    assert len(w.shelfs) == 8 and w.grid_size == (4, 10)
    s0 = shelf_at(port, 1, 1)
    agents = [(4, 2, wr.DIR_DOWN), (0, 0, wr.DIR_UP), (9, 0, wr.DIR_UP), (9, 3, wr.DIR_UP)]
    wr.write_state_to_rware(instance.env, build_state(port, agents, {0: s0}, queue=[s0, 1, 5, 6]))
    *_, reward, terminated, truncated = instance.step([wr.FORWARD, 0, 0, 0])
    assert (reward, terminated, truncated) == (0.25, False, False)


@pytest.mark.slow
def test_external_adapter_at_the_authors_layout_agrees_with_the_port():
    """A random policy's statistics in the port and through the adapter agree within sampling
    error (test_external_rware_port.py's comparison) at the authors' layout."""
    layout = {**AUTHORS, "team_mean": True, "max_steps": MAX_STEPS}
    worlds = {
        "port": wr.make("tiny", 4, **layout),
        "external": make_rware("tiny", 4, "normal", **layout),
    }
    stats = assert_same_statistics(worlds)
    # the dense map delivers under a random policy too, and the team mean scales the reward
    rewards = stats["port"]["team reward per step"]
    assert rewards.mean() > 0 and np.all(np.isin(np.round(rewards * 4 * MAX_STEPS, 6) % 1, 0))


@pytest.mark.slow
@pytest.mark.parametrize("task", AUTHORS_RWARE)
def test_authors_tasks_full_episodes_match_original(task):
    """Each of the authors' eight tasks: a full 500-step episode and 200 random states."""
    env = make(task)
    size, n, difficulty = env.size, env.num_agents, env.difficulty
    run_rollout(size, n, 500, seed=n, difficulty=difficulty, **AUTHORS, team_mean=True)
    p = run_random_states(size, n, 200, seed=n, difficulty=difficulty, **AUTHORS, team_mean=True)
    assert p.transitions >= 700 and p.deliveries > 0
