"""Long differential checks of the JAX warehouse port against the original rware 2.0.0
(`pytest -m slow tests/test_rware_port_slow.py`): more than 20,000 compared transitions from
full 500-step episodes and random states, and thousands of random move graphs."""

from __future__ import annotations

import pytest
from test_rware_port import (
    _pair,
    compare_random_graphs,
    run_random_states,
    run_rollout,
)

pytestmark = pytest.mark.slow

TASKS = [
    ("tiny", 2),
    ("tiny", 3),
    ("tiny", 4),
    ("tiny", 6),
    ("tiny", 8),
    ("tiny", 12),
    ("small", 2),
    ("small", 4),
    ("small", 6),
    ("small", 8),
    ("small", 10),
    ("medium", 4),
    ("medium", 8),
    ("medium", 12),
]
EPISODES = 2  # full 500-step episodes per task: 14 * 2 * 500 = 14,000 transitions
RANDOM_STATES = 500  # per task: 7,000 transitions


@pytest.mark.parametrize("size,n", TASKS)
def test_full_episodes_match_original(size, n):
    for episode in range(EPISODES):
        p = run_rollout(size, n, 500, seed=1000 * n + episode, eps=0.15 + 0.2 * episode)
    assert p.transitions >= EPISODES * 500


@pytest.mark.parametrize("size,n", TASKS)
def test_random_states_match_original(size, n):
    p = run_random_states(size, n, RANDOM_STATES, seed=7 * n + len(size))
    assert p.transitions >= RANDOM_STATES


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_difficulties_match_original(difficulty):
    run_rollout("small", 4, 500, seed=5, difficulty=difficulty)
    run_random_states("tiny", 5, 300, seed=6, difficulty=difficulty)


@pytest.mark.parametrize("sensor_range", [2, 3])
def test_other_sensor_ranges_match_original(sensor_range):
    run_rollout("tiny", 4, 300, seed=sensor_range, sensor_range=sensor_range)
    run_random_states("small", 6, 200, seed=sensor_range, sensor_range=sensor_range)


def test_many_agents_match_original():
    run_rollout("medium", 20, 500, seed=20)
    run_random_states("tiny", 20, 300, seed=20, difficulty="hard")


def test_random_move_graphs_match_networkx():
    decided_by_set = compare_random_graphs(range(2, 21), reps=150, seed=1)
    print(f"{decided_by_set} of {19 * 150} random graphs decided by the set order")
    assert decided_by_set > 50


def test_large_matches_original():
    run_rollout("large", 8, 300, seed=8)
    run_random_states("large", 8, 200, seed=8)


def test_totals():
    """Runs last: how much was compared, and that the episodes delivered and moved."""
    pairs = [_pair(*args) for args in _all_pairs()]
    transitions = sum(p.transitions for p in pairs)
    deliveries = sum(p.deliveries for p in pairs)
    print(f"compared {transitions} transitions, {deliveries} deliveries")
    assert transitions >= 20_000
    assert deliveries >= 200


def _all_pairs():
    for size, n in TASKS:
        yield size, n, "normal", 1
    for d in ("easy", "hard"):
        yield "small", 4, d, 1
        yield "tiny", 5, d, 1
    for r in (2, 3):
        yield "tiny", 4, "normal", r
        yield "small", 6, "normal", r
    yield "medium", 20, "normal", 1
    yield "large", 8, "normal", 1
    yield "tiny", 20, "hard", 1
