"""A JAX port of the original robotic warehouse, faithful to `rware` 2.0.0.

`make(size, n_agents, difficulty)` builds the world that rware registers as
`rware-{size}-{N}ag[-easy|-hard]-v2` (default flattened observations, INDIVIDUAL rewards,
500-step limit, sensor range 1) as a pure, jittable and vmappable acjax world. Layout: shelf
rows x columns tiny (1,3), small (2,3), medium (2,5), large (3,5), column height 8 (or
`column_height`); request queue
size int(N * {easy 2, normal 1, hard 0.5}) exactly as rware registers it (no minimum: hard with
one agent has an empty queue and never rewards, as in the original). N runs from 1 to 20 (rware
registers 1 to 19); a queue as large as the number of shelves is refused (the original cannot
reset, or fails at its first delivery, with one: tiny has 32 shelves, so tiny-16ag-easy and up).

One step follows `Warehouse.step` line by line:

1. every agent asks for a cell (FORWARD: the next cell in its direction, clamped to the grid;
   anything else: its own cell); a carrying agent that asks for a cell holding a shelf, unless the
   agent there is itself carrying, is cancelled (NOOP);
2. the moves are resolved on rware's graph of cells (one edge start -> target per agent): in each
   weakly connected component a cycle commits its agents unless it is a swap (2-cycle); a
   component without a cycle commits the agents on `networkx.dag_longest_path`; every other
   FORWARD becomes NOOP;
3. in agent order: moves (a carried shelf moves along), turns, pick-ups (from the grid as it was
   before the step) and drops (not on a highway);
4. for the two goal cells in order: a requested shelf there is delivered, replaced in the queue by
   a shelf drawn uniformly among those not in the queue (so the second goal can deliver a shelf
   the first goal's draw has just requested), and +1 goes to the agent on the goal;
5. observations from the new grid; `truncated` once the step count reaches `max_steps`.

The graph is resolved with arrays, ties broken exactly as networkx 3.x breaks them on
64-bit CPython (`acjax.envs.warehouse_moves`).

Replacement draws use the state's key (uniform over the shelves not in the queue, not rware's
numpy stream). `step_with_draws(state, actions, draws)` lets a caller force them: `draws` int32
[2], `draws[k]` the index (0-based, rware's shelf id - 1) of the shelf that replaces the k-th
delivery of this step, or -1 for a draw from the key. The differential tests read the shelves
the original drew and force the same ones.

Layouts (`acjax.envs.warehouse_layout`): rware 2.0.0's, or with `version=1` rware 1.0.1's
highway rule (the authors of ACPO ran it at column height 1); everything else in a step is
the same code in both versions.

Observations: rware's flattened vector (`observe`), 8 + 7 (2r + 1)^2 floats (71 for sensor range
r = 1); the global state is the concatenation of all agents' observations. Rewards:
`agent_rewards` [N] are rware's individual rewards, `reward` their sum; with `team_mean` every
agent gets the sum / N, and so does `reward` (as the authors of ACPO trained). Nothing
terminates an episode; the step limit is reported as truncation. rware has no action masks:
all actions are always available. `state_from_rware` and `write_state_to_rware` convert between
an original `rware.Warehouse` and `RwareState` (for the tests).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, TimeStep, World, make_timestep
from acjax.envs.warehouse_layout import (  # noqa: F401  (Layout re-exported)
    COLUMN_HEIGHT,
    DIFFICULTY,
    MAX_AGENTS,
    SIZES,
    Layout,
    name_suffix,
    request_queue_size,
    task_layout,
)
from acjax.envs.warehouse_moves import MoveResolution

NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD = range(5)
# rware's Direction values
DIR_UP, DIR_DOWN, DIR_LEFT, DIR_RIGHT = range(4)

NUM_ACTIONS = 5

# rware's Agent.req_direction: wraplist [UP, RIGHT, DOWN, LEFT], indexed by Direction value
_TURN_RIGHT = np.array([DIR_RIGHT, DIR_LEFT, DIR_UP, DIR_DOWN], np.int32)
_TURN_LEFT = np.array([DIR_LEFT, DIR_RIGHT, DIR_DOWN, DIR_UP], np.int32)


class RwareState(NamedTuple):
    """One warehouse (rware's attributes; indices are 0-based: rware's id - 1)."""

    agent_xy: jax.Array  # int32 [N, 2] (x, y)
    agent_dir: jax.Array  # int32 [N] rware Direction: UP 0, DOWN 1, LEFT 2, RIGHT 3
    carrying: jax.Array  # int32 [N] index of the carried shelf, -1 for none
    shelf_xy: jax.Array  # int32 [S, 2] (x, y)
    request_queue: jax.Array  # int32 [Q] shelf indices, in rware's queue order
    step_count: jax.Array  # int32 []
    key: jax.Array  # PRNG key for the replacement draws


class RwareEnv(MoveResolution, World):
    """The original warehouse as a pure JAX world (see the module docstring)."""

    def __init__(
        self,
        size: str,
        n_agents: int,
        difficulty: str = "normal",
        sensor_range: int = 1,
        max_steps: int = 500,
        column_height: int = COLUMN_HEIGHT,
        version: int = 2,
        team_mean: bool = False,
    ):
        _check(size, n_agents, difficulty, sensor_range, max_steps)
        self.size = size
        self.difficulty = difficulty
        self.column_height = column_height
        self.version = version
        self.team_mean = bool(team_mean)
        self.layout = task_layout(size, n_agents, difficulty, column_height, version)
        self.num_agents = n_agents
        self.sensor_range = sensor_range
        self.max_steps = max_steps
        self.queue_size = request_queue_size(n_agents, difficulty)
        self.obs_dim = 8 + 7 * (2 * sensor_range + 1) ** 2
        suffix = name_suffix(difficulty, column_height, version, team_mean)
        self.spec = EnvSpec(
            name=f"rware-{size}-{n_agents}ag{suffix}",
            num_agents=n_agents,
            obs_dim=self.obs_dim,
            state_dim=n_agents * self.obs_dim,
            num_actions=NUM_ACTIONS,
            max_steps=max_steps,
        )
        lay = self.layout
        self._goal_cells = tuple(int(gy * lay.width + gx) for gx, gy in lay.goals)
        self._init_moves(n_agents, lay.height, lay.width)
        r = sensor_range
        dy, dx = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
        self._win_dy = dy.reshape(-1).astype(np.int32)
        self._win_dx = dx.reshape(-1).astype(np.int32)

    def __repr__(self) -> str:
        return f"RwareEnv({self.spec.name!r}, sensor_range={self.sensor_range})"

    # ------------------------------------------------------------------ reset
    def reset(self, key: jax.Array) -> tuple[RwareState, TimeStep]:
        """rware's reset distribution: agents on distinct cells (any cell, shelves included),
        uniform directions, shelves at home, a queue of distinct shelves."""
        lay, n = self.layout, self.num_agents
        key, k_cells, k_dirs, k_queue = jax.random.split(key, 4)
        cells = jax.random.choice(k_cells, lay.height * lay.width, (n,), replace=False)
        agent_xy = jnp.stack([cells % lay.width, cells // lay.width], axis=1).astype(jnp.int32)
        agent_dir = jax.random.randint(k_dirs, (n,), 0, 4, dtype=jnp.int32)
        queue = jax.random.choice(k_queue, lay.num_shelves, (self.queue_size,), replace=False)
        state = RwareState(
            agent_xy=agent_xy,
            agent_dir=agent_dir,
            carrying=jnp.full((n,), -1, jnp.int32),
            shelf_xy=jnp.asarray(lay.shelf_home, jnp.int32),
            request_queue=queue.astype(jnp.int32),
            step_count=jnp.zeros((), jnp.int32),
            key=key,
        )
        return state, self._timestep(state, jnp.zeros((n,), jnp.float32))

    # ------------------------------------------------------------------- step
    def step(self, state: RwareState, actions: jax.Array) -> tuple[RwareState, TimeStep]:
        """One step of every agent (actions int32 [N]: NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD)."""
        return self.step_with_draws(state, actions, None)

    def step_with_draws(
        self, state: RwareState, actions: jax.Array, draws: jax.Array | None
    ) -> tuple[RwareState, TimeStep]:
        """`step` with the replacement draws forced: `draws` int32 [2] (see the module doc)."""
        lay, n = self.layout, self.num_agents
        hw = lay.height * lay.width
        idx = jnp.arange(n)
        actions = jnp.asarray(actions, jnp.int32)
        x, y = state.agent_xy[:, 0], state.agent_xy[:, 1]
        d = state.agent_dir
        cell = y * lay.width + x
        agent_grid = jnp.full((hw,), -1, jnp.int32).at[cell].set(idx)
        shelf_cell = state.shelf_xy[:, 1] * lay.width + state.shelf_xy[:, 0]
        shelf_grid = jnp.full((hw,), -1, jnp.int32).at[shelf_cell].set(jnp.arange(lay.num_shelves))
        carrying = state.carrying >= 0

        # 1. requested cells (Agent.req_location) and the carrying-into-a-shelf cancel
        fwd = actions == FORWARD
        tx = jnp.where(d == DIR_LEFT, jnp.maximum(x - 1, 0), x)
        tx = jnp.where(d == DIR_RIGHT, jnp.minimum(x + 1, lay.width - 1), tx)
        ty = jnp.where(d == DIR_UP, jnp.maximum(y - 1, 0), y)
        ty = jnp.where(d == DIR_DOWN, jnp.minimum(y + 1, lay.height - 1), ty)
        tcell = jnp.where(fwd, ty * lay.width + tx, cell)
        occupant = agent_grid[tcell]
        occupant_carries = (occupant >= 0) & carrying[jnp.maximum(occupant, 0)]
        cancel = carrying & (tcell != cell) & (shelf_grid[tcell] >= 0) & ~occupant_carries
        act = jnp.where(cancel, NOOP, actions)
        tcell = jnp.where(cancel, cell, tcell)

        # 2. graph resolution
        commit = self._resolve(cell, tcell, agent_grid[tcell])
        moved = commit & (act == FORWARD)

        # 3. moves, turns, loads (in agent order; they do not interact within a step)
        new_xy = jnp.where(
            moved[:, None], jnp.stack([tcell % lay.width, tcell // lay.width], 1), state.agent_xy
        )
        turn_r = jnp.asarray(_TURN_RIGHT)[d]
        turn_l = jnp.asarray(_TURN_LEFT)[d]
        new_dir = jnp.where(act == RIGHT, turn_r, jnp.where(act == LEFT, turn_l, d))
        toggle = act == TOGGLE_LOAD
        here_shelf = shelf_grid[cell]
        pick = toggle & ~carrying & (here_shelf >= 0)
        highways = jnp.asarray(lay.highways)
        drop = toggle & carrying & ~highways[y, x]
        new_carrying = jnp.where(pick, here_shelf, jnp.where(drop, -1, state.carrying))
        carried = jnp.where(carrying, state.carrying, lay.num_shelves)
        shelf_xy = state.shelf_xy.at[carried].set(new_xy, mode="drop")

        # 4. deliveries on the two goals, in rware's order
        queue, rewards, key = self._deliver(state, new_xy, shelf_xy, draws)

        new_state = RwareState(
            agent_xy=new_xy.astype(jnp.int32),
            agent_dir=new_dir.astype(jnp.int32),
            carrying=new_carrying.astype(jnp.int32),
            shelf_xy=shelf_xy,
            request_queue=queue,
            step_count=state.step_count + 1,
            key=key,
        )
        return new_state, self._timestep(new_state, rewards)

    def _deliver(self, state: RwareState, new_xy, shelf_xy, draws) -> tuple[jax.Array, ...]:
        """Step 4 on the grid after the moves: the request queue, the rewards [N] and the key."""
        lay, n = self.layout, self.num_agents
        hw = lay.height * lay.width
        new_cell = new_xy[:, 1] * lay.width + new_xy[:, 0]
        agent_grid = jnp.full((hw,), -1, jnp.int32).at[new_cell].set(jnp.arange(n))
        shelf_cell = shelf_xy[:, 1] * lay.width + shelf_xy[:, 0]
        shelf_grid = jnp.full((hw,), -1, jnp.int32).at[shelf_cell].set(jnp.arange(lay.num_shelves))
        key, k_draw = jax.random.split(state.key)
        noise = jax.random.uniform(k_draw, (2, lay.num_shelves))
        queue = state.request_queue
        rewards = jnp.zeros((n,), jnp.float32)
        n_delivered = jnp.zeros((), jnp.int32)
        for g, goal_cell in enumerate(self._goal_cells):
            shelf = shelf_grid[goal_cell]
            match = (queue == shelf) & (shelf >= 0)
            delivered = jnp.any(match)
            in_queue = jnp.zeros((lay.num_shelves,), bool).at[queue].set(True)
            drawn = jnp.argmax(jnp.where(in_queue, -1.0, noise[g])).astype(jnp.int32)
            if draws is not None:
                forced = jnp.where(n_delivered == 0, draws[0], draws[1]).astype(jnp.int32)
                drawn = jnp.where(forced >= 0, forced, drawn)
            queue = jnp.where(match, drawn, queue)
            # rware indexes rewards[agent_id - 1]: no agent on the goal would reward the last one
            receiver = agent_grid[goal_cell]
            receiver = jnp.where(receiver < 0, n - 1, receiver)
            rewards = rewards.at[receiver].add(delivered.astype(jnp.float32))
            n_delivered = n_delivered + delivered.astype(jnp.int32)
        return queue, rewards, key

    # ----------------------------------------------------------- observations
    def observe(self, state: RwareState) -> jax.Array:
        """rware's flattened observation [N, obs_dim]: self [x, y, carrying, direction one-hot,
        on_highway], then per cell of the (2r+1)^2 window, row by row: [has_agent, direction
        one-hot (UP for an empty cell), has_shelf, shelf_requested]; outside the map is empty."""
        lay, n, r = self.layout, self.num_agents, self.sensor_range
        x, y = state.agent_xy[:, 0], state.agent_xy[:, 1]
        ph, pw = lay.height + 2 * r, lay.width + 2 * r
        agents = jnp.full((ph, pw), -1, jnp.int32).at[y + r, x + r].set(jnp.arange(n))
        sx, sy = state.shelf_xy[:, 0], state.shelf_xy[:, 1]
        shelves = (
            jnp.full((ph, pw), -1, jnp.int32).at[sy + r, sx + r].set(jnp.arange(lay.num_shelves))
        )
        requested = jnp.zeros((lay.num_shelves,), bool).at[state.request_queue].set(True)
        wy = y[:, None] + r + jnp.asarray(self._win_dy)[None]
        wx = x[:, None] + r + jnp.asarray(self._win_dx)[None]
        wa, ws = agents[wy, wx], shelves[wy, wx]
        has_agent = wa >= 0
        wdir = jnp.where(has_agent, state.agent_dir[jnp.maximum(wa, 0)], DIR_UP)
        has_shelf = ws >= 0
        req = has_shelf & requested[jnp.maximum(ws, 0)]
        cells = jnp.concatenate(
            [
                has_agent[..., None],
                jax.nn.one_hot(wdir, 4, dtype=bool),
                has_shelf[..., None],
                req[..., None],
            ],
            axis=-1,
        ).astype(jnp.float32)
        highways = jnp.asarray(lay.highways)
        own = jnp.concatenate(
            [
                state.agent_xy.astype(jnp.float32),
                (state.carrying >= 0).astype(jnp.float32)[:, None],
                jax.nn.one_hot(state.agent_dir, 4, dtype=jnp.float32),
                highways[y, x].astype(jnp.float32)[:, None],
            ],
            axis=-1,
        )
        return jnp.concatenate([own, cells.reshape(n, -1)], axis=-1)

    def _timestep(self, state: RwareState, rewards: jax.Array) -> TimeStep:
        obs = self.observe(state)
        mask = jnp.ones((self.num_agents, NUM_ACTIONS), bool)
        truncated = (state.step_count >= self.max_steps) if self.max_steps else False
        team = jnp.sum(rewards)
        if self.team_mean:  # every agent gets the sum / N
            team = team / self.num_agents
            rewards = jnp.broadcast_to(team, rewards.shape)
        return make_timestep(obs, obs.reshape(-1), mask, team, rewards, False, truncated)


def _check(size: str, n_agents: int, difficulty: str, sensor_range: int, max_steps: int) -> None:
    if size not in SIZES:
        raise ValueError(f"unknown rware size {size!r}; expected one of {list(SIZES)}")
    if not isinstance(n_agents, int | np.integer) or not 1 <= n_agents <= MAX_AGENTS:
        raise ValueError(f"rware n_agents must be an int in 1..{MAX_AGENTS}, got {n_agents!r}")
    if difficulty not in DIFFICULTY:
        raise ValueError(f"unknown rware difficulty {difficulty!r}; expected easy, normal or hard")
    if not isinstance(sensor_range, int | np.integer) or not 0 <= sensor_range <= 10:
        raise ValueError(f"rware sensor_range must be an int in 0..10, got {sensor_range!r}")
    if not isinstance(max_steps, int | np.integer) or max_steps < 0:
        raise ValueError(f"rware max_steps must be an int >= 0 (0: no limit), got {max_steps!r}")


def make(
    size: str,
    n_agents: int,
    difficulty: str = "normal",
    sensor_range: int = 1,
    max_steps: int = 500,
    column_height: int = COLUMN_HEIGHT,
    version: int = 2,
    team_mean: bool = False,
) -> RwareEnv:
    """The world rware registers as `rware-{size}-{N}ag[-easy|-hard]-v2`, at `column_height`
    with rware `version`'s layout rule, the team reward the sum or (`team_mean`) the sum / N."""
    return RwareEnv(
        size, n_agents, difficulty, sensor_range, max_steps, column_height, version, team_mean
    )


# ----------------------------------------------------------- original rware interop (tests)
def state_from_rware(env: Any, key: jax.Array) -> RwareState:
    """The JAX state of an original `rware.Warehouse` (or a wrapper around one) as it is now."""
    w = env.unwrapped
    agents = w.agents
    return RwareState(
        agent_xy=jnp.asarray([[int(a.x), int(a.y)] for a in agents], jnp.int32),
        agent_dir=jnp.asarray([a.dir.value for a in agents], jnp.int32),
        carrying=jnp.asarray(
            [-1 if a.carrying_shelf is None else a.carrying_shelf.id - 1 for a in agents],
            jnp.int32,
        ),
        shelf_xy=jnp.asarray([[int(s.x), int(s.y)] for s in w.shelfs], jnp.int32).reshape(-1, 2),
        request_queue=jnp.asarray([s.id - 1 for s in w.request_queue], jnp.int32),
        step_count=jnp.asarray(w._cur_steps, jnp.int32),
        key=key,
    )


def write_state_to_rware(env: Any, state: RwareState) -> None:
    """Put an original `rware.Warehouse` (already reset once) into `state` (one environment)."""
    from rware.warehouse import Direction

    w = env.unwrapped
    agent_xy = np.asarray(state.agent_xy)
    shelf_xy = np.asarray(state.shelf_xy)
    carrying = np.asarray(state.carrying)
    for s, (sx, sy) in zip(w.shelfs, shelf_xy, strict=True):
        s.x, s.y = int(sx), int(sy)
    for a, (ax, ay), d, c in zip(
        w.agents, agent_xy, np.asarray(state.agent_dir), carrying, strict=True
    ):
        a.x, a.y, a.dir = int(ax), int(ay), Direction(int(d))
        a.carrying_shelf = None if c < 0 else w.shelfs[int(c)]
    w.request_queue = [w.shelfs[int(i)] for i in np.asarray(state.request_queue)]
    w._cur_steps = int(state.step_count)
    w._recalc_grid()
