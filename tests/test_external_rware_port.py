"""The JAX rware port (`rware-*`) against the original rware seen through the host-callback
adapter (`external-rware-*`), driven the same way (jit + vmap + lax.scan, `EpisodeStats` over
`AutoReset`), on the same task.

The two worlds draw their layouts from different random streams, so nothing is compared
trajectory by trajectory; what is compared is what must agree whatever the layout:

- sizes: the specs (agents, observation and state sizes, actions, time limit) and the shapes and
  dtypes of a reset TimeStep, for tiny-2ag and small-4ag;
- action meanings: a fixed action schedule from a reset, read off each agent's own observation
  features. LEFT / RIGHT as maps of the direction, FORWARD as the displacement per facing
  direction (and when it must or must not move), TOGGLE_LOAD as a map of (carrying, shelf under
  the agent, on a highway) to carrying afterwards; the tables of both worlds must be equal (a
  world with LEFT and RIGHT swapped fails) and equal to rware's documented meaning;
- a uniformly random policy: episode-start statistics, team reward per step, the fractions of
  agent-steps carrying a shelf, carrying a requested one and on a highway, the fractions of
  FORWARDs that moved and of TOGGLE_LOADs that changed the load agree within sampling error;
  both worlds end every episode at exactly `max_steps` by truncation, never by termination.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("rware")

from acjax.envs import warehouse_rware as wr  # noqa: E402
from acjax.envs.external import make_rware  # noqa: E402
from acjax.envs.registry import make  # noqa: E402
from acjax.envs.wrappers import AutoReset, EpisodeStats  # noqa: E402

NOOP, FORWARD, LEFT, RIGHT, TOGGLE = range(5)
UP, DOWN, LEFT_DIR, RIGHT_DIR = range(4)  # rware's Direction values (the one-hot order)
# an agent's own features: [x, y, carrying, direction one-hot (4), on_highway], then 7 per cell
# of the 3x3 window, row by row: [has_agent, direction one-hot (4), has_shelf, requested]
X, Y, CARRYING, HIGHWAY = 0, 1, 2, 7
DIRECTION = slice(3, 7)
CELL, HAS_AGENT, HAS_SHELF, REQUESTED = 7, 0, 5, 6
UNIT = {UP: (0, -1), DOWN: (0, 1), LEFT_DIR: (-1, 0), RIGHT_DIR: (1, 0)}  # (dx, dy)


def window_feature(obs: np.ndarray, dx, dy, feature: int) -> np.ndarray:
    """Feature of the window cell at offset (dx, dy) from the agent (sensor range 1)."""
    index = np.broadcast_to((np.asarray(dy) + 1) * 3 + (np.asarray(dx) + 1), obs.shape[:-1])
    return np.take_along_axis(obs, (8 + CELL * index + feature)[..., None], axis=-1)[..., 0]


def pair(size: str, n: int, max_steps: int) -> dict:
    """The port and the original (through the adapter) of one task with one time limit."""
    return {
        "port": wr.make(size, n, "normal", max_steps=max_steps),
        "external": make_rware(size, n, "normal", max_steps=max_steps),
    }


def rollout(world, key, num_envs: int, steps: int, policy):
    """`steps` steps of `num_envs` environments under EpisodeStats(AutoReset(world)), jitted,
    vmapped and scanned; `policy(t, key) -> int32 [num_envs, N]`. The reset states of AutoReset
    are refreshed every step, so every episode starts from its own fresh reset. Returns numpy:
    the reset TimeStep and per step the actions, the observation before and the true
    observation after the step (`final_obs`), reward, terminated, truncated and the length of
    the last finished episode."""
    env = EpisodeStats(AutoReset(world))

    def run(key):
        k_reset, k_run = jax.random.split(key)
        state, ts0 = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))

        def body(carry, xs):
            state, obs = carry
            t, k = xs
            k_act, k_refresh = jax.random.split(k)
            state = jax.vmap(env.refresh)(state, jax.random.split(k_refresh, num_envs))
            actions = policy(t, k_act)
            state, ts = jax.vmap(env.step)(state, actions)
            out = {
                "actions": actions,
                "before": obs,
                "after": ts.final_obs,
                "reward": ts.reward,
                "terminated": ts.terminated,
                "truncated": ts.truncated,
                "length": state.returned_length,
            }
            return (state, ts.obs), out

        xs = (jnp.arange(steps), jax.random.split(k_run, steps))
        _, out = jax.lax.scan(body, (state, ts0.obs), xs)
        return ts0, out

    ts0, out = jax.jit(run)(key)
    return jax.tree.map(np.asarray, ts0), jax.tree.map(np.asarray, out)


# ------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize("size,n", [("tiny", 2), ("small", 4)], ids=["tiny-2ag", "small-4ag"])
def test_sizes_and_reset_timestep_agree(size, n):
    port, ext = make(f"rware-{size}-{n}ag"), make(f"external-rware-{size}-{n}ag")
    assert port.spec.name == f"rware-{size}-{n}ag"
    assert ext.spec.name == f"external-rware-{size}-{n}ag"
    fields = ("num_agents", "obs_dim", "state_dim", "num_actions", "max_steps", "action_type")
    ps, es = port.spec, ext.spec
    assert [getattr(ps, f) for f in fields] == [getattr(es, f) for f in fields]
    assert (es.num_agents, es.obs_dim, es.state_dim, es.num_actions, es.max_steps) == (
        n,
        71,
        71 * n,
        5,
        500,
    )
    assert ps.obs_sizes == es.obs_sizes and ps.action_sizes == es.action_sizes
    height, width = port.layout.height, port.layout.width
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    out = {}
    for name, world in (("port", port), ("external", ext)):
        _, ts = jax.jit(jax.vmap(world.reset))(keys)
        ts = jax.tree.map(np.asarray, ts)
        out[name] = ts
        obs = ts.obs
        assert obs.shape == (3, n, 71) and ts.global_state.shape == (3, 71 * n), name
        np.testing.assert_array_equal(ts.global_state, obs.reshape(3, -1), err_msg=name)
        assert ts.action_mask.shape == (3, n, 5) and ts.action_mask.all(), name
        assert not ts.terminated.any() and not ts.truncated.any() and not ts.reward.any(), name
        # the own features are those of an agent on the grid, facing one way, not carrying
        assert ((obs[..., X] >= 0) & (obs[..., X] < width)).all(), name
        assert ((obs[..., Y] >= 0) & (obs[..., Y] < height)).all(), name
        np.testing.assert_array_equal(obs[..., DIRECTION].sum(-1), 1, err_msg=name)
        assert not obs[..., CARRYING].any(), name
        assert np.isin(obs[..., 2:], (0.0, 1.0)).all(), name
    p, e = out["port"], out["external"]
    for f in p._fields:
        a, b = getattr(p, f), getattr(e, f)
        assert (a.shape, a.dtype) == (b.shape, b.dtype), f


# ---------------------------------------------------------------------- action meanings
# every agent runs this cycle (from its own phase): picks up, carries forward (onto a highway or
# into a shelf it may not enter), drops or keeps its load, and turns both ways from every side
SCHEDULE = np.array(
    [TOGGLE, FORWARD, TOGGLE, LEFT, FORWARD, FORWARD, RIGHT, RIGHT, FORWARD, TOGGLE, RIGHT]
    + [NOOP, FORWARD, LEFT, TOGGLE, FORWARD, RIGHT, FORWARD],
    np.int32,
)
# rware's meaning: Agent.req_direction turns through [UP, RIGHT, DOWN, LEFT]
EXPECTED_TURNS = {
    (RIGHT, UP): RIGHT_DIR,
    (RIGHT, RIGHT_DIR): DOWN,
    (RIGHT, DOWN): LEFT_DIR,
    (RIGHT, LEFT_DIR): UP,
    (LEFT, UP): LEFT_DIR,
    (LEFT, LEFT_DIR): DOWN,
    (LEFT, DOWN): RIGHT_DIR,
    (LEFT, RIGHT_DIR): UP,
}
# TOGGLE_LOAD: (carrying, shelf under the agent, on a highway) -> carrying afterwards (a carried
# shelf is under its agent, and no shelf stands on a highway: these are all the cases)
EXPECTED_TOGGLE = {(0, 0, 0): 0, (0, 0, 1): 0, (0, 1, 0): 1, (1, 1, 0): 0, (1, 1, 1): 1}
# the cases the schedule must meet: all but an empty shelf cell (needs a shelf carried away)
TOGGLE_COVERED = {(0, 0, 1), (0, 1, 0), (1, 1, 0), (1, 1, 1)}


def action_tables(world, height: int, width: int, num_envs: int = 8, steps: int = 54) -> dict:
    """Run SCHEDULE (agent i of environment b at phase 3 i + 5 b) from a reset and read the
    meaning of each action off the agents' own features before and after each step."""
    n = world.spec.num_agents
    phase = 3 * np.arange(n)[None, :] + 5 * np.arange(num_envs)[:, None]

    def policy(t, _key):
        return jnp.asarray(SCHEDULE)[(t + jnp.asarray(phase)) % len(SCHEDULE)]

    _, out = rollout(world, jax.random.PRNGKey(11), num_envs, steps, policy)
    assert not (out["truncated"] | out["terminated"]).any()  # one episode: before/after chain
    a, before, after = out["actions"], out["before"], out["after"]
    x0, y0, x1, y1 = before[..., X], before[..., Y], after[..., X], after[..., Y]
    dx, dy = (x1 - x0).astype(int), (y1 - y0).astype(int)
    d0, d1 = before[..., DIRECTION].argmax(-1), after[..., DIRECTION].argmax(-1)
    c0, c1 = before[..., CARRYING].astype(int), after[..., CARRYING].astype(int)
    here = window_feature(before, 0, 0, HAS_SHELF).astype(int)
    hw = before[..., HIGHWAY].astype(int)

    # what does not change: only FORWARD moves; only LEFT/RIGHT turn; only TOGGLE loads
    assert not (dx[a != FORWARD].any() or dy[a != FORWARD].any())
    assert (d0 == d1)[(a != LEFT) & (a != RIGHT)].all()
    assert (c0 == c1)[a != TOGGLE].all()
    assert (np.abs(dx) + np.abs(dy) <= 1).all()

    tables = {"turn": {}, "forward": {}, "toggle": {}}
    for act, d, e in zip(a.ravel(), d0.ravel(), d1.ravel(), strict=True):
        if act in (LEFT, RIGHT):
            tables["turn"].setdefault((int(act), int(d)), set()).add(int(e))
    fwd = a == FORWARD
    moved = fwd & ((dx != 0) | (dy != 0))
    for d, mx, my in zip(d0[moved], dx[moved], dy[moved], strict=True):
        tables["forward"].setdefault(int(d), set()).add((int(mx), int(my)))
    tog = a == TOGGLE
    for key, c in zip(zip(c0[tog], here[tog], hw[tog], strict=True), c1[tog], strict=True):
        tables["toggle"].setdefault(tuple(int(k) for k in key), set()).add(int(c))

    # when FORWARD must and must not move (rware's rules, read off the window)
    ux = np.vectorize(lambda d: UNIT[int(d)][0])(d0)
    uy = np.vectorize(lambda d: UNIT[int(d)][1])(d0)
    tx, ty = x0 + ux, y0 + uy
    off_grid = (tx < 0) | (tx >= width) | (ty < 0) | (ty >= height)
    ahead_agent = window_feature(before, ux, uy, HAS_AGENT).astype(bool) & ~off_grid
    ahead_shelf = window_feature(before, ux, uy, HAS_SHELF).astype(bool) & ~off_grid
    into_shelf = c0.astype(bool) & ahead_shelf & ~ahead_agent  # a carried shelf cannot enter
    # another agent ending on the cell ahead (it won the cell, or did not leave it)
    other_there = np.zeros_like(fwd)
    for i in range(n):
        for j in range(n):
            if i != j:
                other_there[..., i] |= (x1[..., j] == tx[..., i]) & (y1[..., j] == ty[..., i])
    free = fwd & ~off_grid & ~ahead_agent & ~into_shelf
    assert not moved[fwd & off_grid].any()
    assert not moved[fwd & into_shelf].any()
    assert moved[free & ~other_there].all()
    tables["counts"] = {
        "forward_off_grid": int((fwd & off_grid).sum()),
        "forward_into_shelf": int((fwd & into_shelf).sum()),
        "forward_free": int(free.sum()),
        "forward_moved": int(moved.sum()),
    }
    return tables


def test_action_meanings_agree():
    worlds = pair("tiny", 2, max_steps=100)
    layout = worlds["port"].layout
    tables = {k: action_tables(w, layout.height, layout.width) for k, w in worlds.items()}
    port, ext = tables["port"], tables["external"]
    for name, t in tables.items():
        # every situation of the schedule was met (else the comparison below proves little)
        assert set(t["turn"]) == set(EXPECTED_TURNS), (name, t["turn"])
        assert set(t["forward"]) == set(UNIT), (name, t["forward"])
        assert TOGGLE_COVERED <= set(t["toggle"]) <= set(EXPECTED_TOGGLE), (name, t["toggle"])
        counts = t["counts"]
        assert counts["forward_off_grid"] and counts["forward_into_shelf"], (name, counts)
        assert counts["forward_free"] >= 10, (name, counts)
    # the two worlds give each action the same meaning (deterministic: one outcome per case)
    assert port["turn"] == ext["turn"]
    assert port["forward"] == ext["forward"]
    common = set(port["toggle"]) & set(ext["toggle"])
    assert {k: port["toggle"][k] for k in common} == {k: ext["toggle"][k] for k in common}
    # and it is rware's
    assert port["turn"] == {k: {v} for k, v in EXPECTED_TURNS.items()}
    assert port["forward"] == {d: {u} for d, u in UNIT.items()}
    for t in (port, ext):
        assert t["toggle"] == {k: {EXPECTED_TOGGLE[k]} for k in t["toggle"]}


# -------------------------------------------------------------- random-policy statistics
EPISODES, MAX_STEPS = 3, 100
# environments per world: the original costs ~0.2 ms per step on the host, the port ~nothing
ENVS = {"port": 128, "external": 32}


def episode_statistics(world, key, envs: int) -> dict:
    """Per-episode values [EPISODES * envs] of a uniformly random policy (all environments
    start together and every episode lasts MAX_STEPS, so episode e is steps e*T..(e+1)*T-1);
    also checks that every episode ended by truncation at exactly MAX_STEPS."""
    n = world.spec.num_agents

    def policy(_t, k):
        return jax.random.randint(k, (envs, n), 0, 5, dtype=jnp.int32)

    _, out = rollout(world, key, envs, EPISODES * MAX_STEPS, policy)
    t = np.arange(EPISODES * MAX_STEPS)
    last = (t % MAX_STEPS == MAX_STEPS - 1)[:, None]
    np.testing.assert_array_equal(out["truncated"], np.broadcast_to(last, out["truncated"].shape))
    assert not out["terminated"].any()
    assert (out["length"][out["truncated"]] == MAX_STEPS).all()  # EpisodeStats' length

    def per_episode(x):  # [T, B, ...] -> [EPISODES, MAX_STEPS, B, ...]
        return x.reshape(EPISODES, MAX_STEPS, *x.shape[1:])

    a = per_episode(out["actions"])
    before, after = per_episode(out["before"]), per_episode(out["after"])
    moved = (before[..., X] != after[..., X]) | (before[..., Y] != after[..., Y])
    loaded = before[..., CARRYING] != after[..., CARRYING]
    start = before[:, 0]  # [EPISODES, B, N]: the first observation of each episode

    def ratio(hit, of):  # per episode: hits among the steps counted
        return hit.sum((1, 3)) / np.maximum(of.sum((1, 3)), 1)

    stats = {
        "team reward per step": per_episode(out["reward"]).mean(1),
        "start: on a shelf": window_feature(start, 0, 0, HAS_SHELF).mean(-1),
        "start: on a highway": start[..., HIGHWAY].mean(-1),
        "start: facing up": start[..., 3].mean(-1),
        "start: x": start[..., X].mean(-1),
        "start: y": start[..., Y].mean(-1),
        "carrying a shelf": after[..., CARRYING].mean((1, 3)),
        "carrying a requested shelf": (
            after[..., CARRYING] * window_feature(after, 0, 0, REQUESTED)
        ).mean((1, 3)),
        "on a highway": after[..., HIGHWAY].mean((1, 3)),
        "FORWARD that moved": ratio(moved & (a == FORWARD), a == FORWARD),
        "TOGGLE_LOAD that changed the load": ratio(loaded & (a == TOGGLE), a == TOGGLE),
    }
    return {k: v.reshape(-1) for k, v in stats.items()}


def test_random_policy_statistics_agree_and_episodes_truncate_at_max_steps():
    worlds = pair("tiny", 2, max_steps=MAX_STEPS)
    assert worlds["port"].spec.max_steps == worlds["external"].spec.max_steps == MAX_STEPS
    assert_same_statistics(worlds)


def assert_same_statistics(worlds: dict) -> dict:
    """`episode_statistics` of the port and the external world (both with MAX_STEPS) agree
    within sampling error; returns them."""
    stats = {
        name: episode_statistics(w, jax.random.PRNGKey(seed), ENVS[name])
        for seed, (name, w) in enumerate(worlds.items())
    }
    # Tolerance. Every episode is independent (fresh reset key / fresh rware seed; the policy's
    # keys differ), so each world gives n = EPISODES * ENVS iid per-episode values of each
    # statistic (384 port, 96 external), and se = std(ddof=1) / sqrt(n) is the standard error
    # of its mean. If the two worlds have the same distribution, the difference of the means is
    # about normal with standard deviation sqrt(se_port^2 + se_ext^2) (central limit theorem), so
    # |diff| < 4 sigma fails by chance with probability ~6e-5 per statistic. The floor 1e-3
    # covers statistics with (almost) no variance, e.g. no delivery in either world.
    report, failures = [], []
    for k in stats["port"]:
        p, e = stats["port"][k], stats["external"][k]
        se = np.hypot(p.std(ddof=1) / np.sqrt(p.size), e.std(ddof=1) / np.sqrt(e.size))
        diff, tol = p.mean() - e.mean(), 4 * se + 1e-3
        line = f"{k}: port {p.mean():.4f} external {e.mean():.4f} diff {diff:+.4f} tol {tol:.4f}"
        report.append(line)
        if abs(diff) >= tol:
            failures.append(line)
    print("\n".join(report))
    assert not failures, "\n".join(failures)
    return stats
