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

The graph is resolved with arrays. Each agent has one out-edge, so the graph is functional: a
component holds at most one cycle, found by powers of the successor map (pointer doubling); a
component without a cycle is a tree towards one empty cell, and its longest path is found from
each agent's height (longest chain of agents queued behind it). Where two chains are equally
long, networkx keeps the predecessor that comes first in the component subgraph's adjacency
order. That order is either the order in which rware added the nodes to the graph or, when the
component has fewer than half of the graph's nodes (`FilterAdjacency.__iter__` in networkx 3.x),
the iteration order of a Python `set` of (x, y) tuples built by `_plain_bfs` and copied once by
`show_nodes`. The port reproduces both: it replays the breadth-first search and CPython's set
insertion (open addressing, the same probe sequence and resizes, with the tuple hashes of every
cell taken from the running interpreter when the world is built), so ties resolve exactly as in
rware with networkx 3.x on 64-bit CPython. Such a component has at most (2N + 1) // 3 nodes,
which bounds the replay.

Replacement draws use the state's key (uniform over the shelves not in the queue, not rware's
numpy stream). `step_with_draws(state, actions, draws)` lets a caller force them: `draws` int32
[2], `draws[k]` the index (0-based, rware's shelf id - 1) of the shelf that replaces the k-th
delivery of this step, or -1 for a draw from the key. The differential tests read the shelves
the original drew and force the same ones.

Layouts (`Layout.from_params`): rware 2.0.0 places the horizontal highways and the queue
cells by the column height; rware 1.0.1 (`version=1`) computes the grid size from the column
height too, but its highway rule is written for height 8 (`y % 9 == 0`, queue `y > H - 11`).
Both agree at height 8; at height 1 the authors of ACPO ran 1.0.1's rule: tiny 4x10 with 8
shelves, small 6x10 with 16 (2.0.0's rule at height 1: 4 and 10 shelves). Everything else in
a step is the same code in both versions (docs/references.md, "rware 1.0.1 and 2.0.0, and the
authors' warehouse").

Observations: rware's flattened vector (`observe`), 8 + 7 (2r + 1)^2 floats (71 for sensor range
r = 1); the global state is the concatenation of all agents' observations. Rewards:
`agent_rewards` [N] are rware's individual rewards, `reward` their sum; with `team_mean` every
agent gets the sum / N, and so does `reward` (as the authors of ACPO trained). Nothing
terminates an episode; the step limit is reported as truncation. rware has no action masks:
all actions are always available. `state_from_rware` and `write_state_to_rware` convert between
an original `rware.Warehouse` and `RwareState` (for the tests).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, TimeStep, World, make_timestep

NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD = range(5)
# rware's Direction values
DIR_UP, DIR_DOWN, DIR_LEFT, DIR_RIGHT = range(4)

SIZES = {"tiny": (1, 3), "small": (2, 3), "medium": (2, 5), "large": (3, 5)}
DIFFICULTY = {"easy": 2.0, "normal": 1.0, "hard": 0.5}
COLUMN_HEIGHT = 8  # rware's registered tasks; 1.0.1's highway rule holds it fixed
MAX_COLUMN_HEIGHT = 20
MAX_AGENTS = 20
NUM_ACTIONS = 5

# rware's Agent.req_direction: wraplist [UP, RIGHT, DOWN, LEFT], indexed by Direction value
_TURN_RIGHT = np.array([DIR_RIGHT, DIR_LEFT, DIR_UP, DIR_DOWN], np.int32)
_TURN_LEFT = np.array([DIR_LEFT, DIR_RIGHT, DIR_DOWN, DIR_UP], np.int32)

_M64 = (1 << 64) - 1
_SET_SIZES = (8, 32)  # CPython's PySet_MINSIZE, and the size it grows to
_SET_RESIZE_AT = 5  # an 8-slot set grows to 32 slots when its 5th entry arrives (fill*5 >= 21)


def request_queue_size(n_agents: int, difficulty: str) -> int:
    """rware's registration: int(N * {easy 2, normal 1, hard 0.5}), no minimum."""
    return int(n_agents * DIFFICULTY[difficulty])


def name_suffix(
    difficulty: str, column_height: int = COLUMN_HEIGHT, version: int = 2, team_mean: bool = False
) -> str:
    """The end of a warehouse world's name after `<N>ag`: `[-easy|-hard][-c<C>][-v1][-mean]`."""
    return (
        ("" if difficulty == "normal" else f"-{difficulty}")
        + ("" if column_height == COLUMN_HEIGHT else f"-c{column_height}")
        + ("-v1" if version == 1 else "")
        + ("-mean" if team_mean else "")
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """rware's `_make_layout_from_params` as numpy constants; positions are (x, y)."""

    height: int
    width: int
    highways: np.ndarray  # bool [H, W]
    shelf_home: np.ndarray  # int32 [S, 2] (x, y), rware's shelf order (id - 1)
    goals: np.ndarray  # int32 [2, 2] (x, y)

    @property
    def num_shelves(self) -> int:
        return int(self.shelf_home.shape[0])

    @staticmethod
    def from_params(
        shelf_rows: int, shelf_columns: int, column_height: int, version: int = 2
    ) -> Layout:
        """rware 2.0.0's layout, or 1.0.1's (`version=1`: `Warehouse._is_highway` with the
        column height 8 written into it, the grid sized by `column_height`)."""
        if shelf_columns % 2 != 1:
            raise ValueError("only odd numbers of shelf columns exist in rware")
        h = (column_height + 1) * shelf_rows + 2
        w = 3 * shelf_columns + 1
        rule = COLUMN_HEIGHT if version == 1 else column_height
        ys, xs = np.indices((h, w))
        vertical = xs % 3 == 0
        horizontal = ys % (rule + 1) == 0
        delivery = ys == h - 1
        queue = (ys > h - (rule + 3)) & ((xs == w // 2 - 1) | (xs == w // 2))
        highways = vertical | horizontal | delivery | queue
        flat_y, flat_x = ys.reshape(-1), xs.reshape(-1)
        keep = ~highways.reshape(-1)
        shelf_home = np.stack([flat_x[keep], flat_y[keep]], axis=1).astype(np.int32)
        goals = np.array([[w // 2 - 1, h - 1], [w // 2, h - 1]], np.int32)
        return Layout(h, w, highways, shelf_home, goals)

    def to_rware_string(self) -> str:
        """The layout as rware 2.0.0's `layout` argument (X shelf, . corridor, g goal), which
        gives the same grid, highways, shelf order and goal order."""
        rows = [["." if hw else "X" for hw in row] for row in self.highways]
        for gx, gy in self.goals:
            rows[gy][gx] = "g"
        return "\n".join("".join(row) for row in rows)


def _probe_order(h: int, size: int) -> list[int]:
    """The slots CPython's set visits for hash `h` in a table of `size` slots (setobject.c:
    linear probes of 9 when they fit, then i = 5 i + 1 + perturb, perturb >>= 5), deduplicated."""
    mask = size - 1
    h &= _M64
    i, perturb, order = h & mask, h, []
    while len(order) < size:
        for j in range(10 if i + 9 <= mask else 1):
            if i + j not in order:
                order.append(i + j)
        perturb >>= 5
        i = (i * 5 + 1 + perturb) & mask
    return order


def _cell_probe_tables(height: int, width: int) -> tuple[np.ndarray, ...]:
    """[H * W, size] probe orders of the Python tuple (x, y) of every cell, per table size."""
    hashes = [hash((x, y)) for y in range(height) for x in range(width)]
    return tuple(np.array([_probe_order(h, size) for h in hashes], np.int32) for size in _SET_SIZES)


class RwareState(NamedTuple):
    """One warehouse (rware's attributes; indices are 0-based: rware's id - 1)."""

    agent_xy: jax.Array  # int32 [N, 2] (x, y)
    agent_dir: jax.Array  # int32 [N] rware Direction: UP 0, DOWN 1, LEFT 2, RIGHT 3
    carrying: jax.Array  # int32 [N] index of the carried shelf, -1 for none
    shelf_xy: jax.Array  # int32 [S, 2] (x, y)
    request_queue: jax.Array  # int32 [Q] shelf indices, in rware's queue order
    step_count: jax.Array  # int32 []
    key: jax.Array  # PRNG key for the replacement draws


class RwareEnv(World):
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
        self._probe8, self._probe32 = _cell_probe_tables(lay.height, lay.width)
        # the largest tree component whose networkx order is a set order: 2 m < |G| <= 2N + 2 - m
        self._max_set_component = (2 * n_agents + 1) // 3
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
        new_cell = new_xy[:, 1] * lay.width + new_xy[:, 0]
        agent_grid = jnp.full((hw,), -1, jnp.int32).at[new_cell].set(idx)
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

    # -------------------------------------------------------- move resolution
    def _resolve(self, cell: jax.Array, tcell: jax.Array, nxt: jax.Array) -> jax.Array:
        """rware's committed agents (bool [N]) for requested cells `tcell`; `nxt[i]` is the agent
        on agent i's requested cell (i itself for a self-loop) or -1 for an empty cell."""
        n = self.num_agents
        idx = jnp.arange(n)
        root = nxt < 0  # asks for an empty cell: the end of a tree component
        f = jnp.where(root, idx, nxt)  # roots become fixed points
        powers = [idx]  # powers[k] = f^k, k = 0..n, by doubling
        while len(powers) < n + 1:
            fl = f[powers[-1]]
            powers = powers + [fl[p] for p in powers]
        pw = jnp.stack(powers[: n + 1])  # [n+1, n]
        tree = root[pw[n]]
        on_cycle = ~tree & jnp.any(pw[1:] == idx[None], axis=0)
        swap = ~tree & (f[f] == idx) & (f != idx)
        commit_cycle = on_cycle & ~swap

        # tree components: heights and the longest path with networkx's tie-break
        depth = jnp.sum(~root[pw[:n]], axis=0)  # edges from a tree agent to its root agent
        anc = jnp.any(pw[:, :, None] == idx[None, None, :], axis=0)  # anc[j, i]: i on j's chain
        anc = anc & tree[:, None]
        up = jnp.max(jnp.where(anc, depth[:, None] - depth[None, :], 0), axis=0)
        key = self._tie_keys(cell, tcell, nxt, root, tree, pw[n])
        score = up * 64 - key  # larger wins; keys < 64
        same_sink = root[:, None] & root[None, :] & (tcell[:, None] == tcell[None, :])
        same_target = (nxt[:, None] == nxt[None, :]) & ~root[:, None]
        rivals = jnp.where(root[:, None], same_sink, same_target)
        best = jnp.all(~rivals | (score[:, None] >= score[None, :]), axis=1)
        chosen = tree & jnp.all(best[pw], axis=0)
        return commit_cycle | chosen

    def _tie_keys(self, cell, tcell, nxt, root, tree, root_of) -> jax.Array:
        """Each agent's position among its component's nodes in networkx's adjacency order,
        the order `dag_longest_path` breaks ties by (smaller first)."""
        n = self.num_agents
        idx = jnp.arange(n)
        big = jnp.int32(1 << 20)
        # graph node order: add_edge(start_i, target_i) for i = 0..N-1
        pointed = nxt[:, None] == idx[None, :]  # pointed[i, j]: i asks for j's cell
        key_graph = jnp.minimum(2 * idx, jnp.min(jnp.where(pointed, 2 * idx[:, None] + 1, big), 0))
        same_sink = root[:, None] & root[None, :] & (tcell[:, None] == tcell[None, :])
        first_root = root & ~jnp.any(same_sink & (idx[None, :] < idx[:, None]), axis=1)
        n_nodes = n + jnp.sum(first_root)
        sink_cell = tcell[root_of]
        comp = tree[:, None] & tree[None, :] & (sink_cell[:, None] == sink_cell[None, :])
        m = jnp.sum(comp, axis=1) + 1  # nodes of a tree component: its agents and its sink
        set_regime = tree & (2 * m < n_nodes)
        if self._max_set_component < 3:  # a tie needs two agents queued at one node
            return key_graph
        key_set = self._set_keys(cell, tcell, nxt, root, tree, first_root, key_graph, root_of)
        return jnp.where(set_regime, key_set, key_graph)

    def _set_keys(self, cell, tcell, nxt, root, tree, first_root, key_graph, root_of):
        """Slots of the agents' cells in the `show_nodes` set of their (tree) component: replay
        `_plain_bfs` (the insertion order of its set), that set, and its copy."""
        n = self.num_agents
        nn = 2 * n  # nodes: agents' cells 0..N-1, then N + i for the empty cell root i asks for
        idx = jnp.arange(n)
        nodes = jnp.arange(nn)
        same_sink = root[:, None] & root[None, :] & (tcell[:, None] == tcell[None, :])
        canon = jnp.argmax(same_sink, axis=1)  # the first root asking for the same cell
        succ = jnp.where(root, n + canon, nxt)  # successor node of each agent node
        succ = jnp.concatenate([succ, jnp.full((n,), nn, jnp.int32)])  # sinks have none
        # tree components, named by their first root; n = not a tree component
        comp = jnp.concatenate([jnp.where(tree, canon[root_of], n), jnp.where(first_root, idx, n)])
        member = comp < n
        same = member[:, None] & member[None, :] & (comp[:, None] == comp[None, :])
        node_key = jnp.concatenate([key_graph, 2 * idx + 1])  # order of the graph's nodes
        # _plain_bfs from each component's first node, all components at once; the node popped
        # at step t is the one found t-th (its `pos`), so no queue is needed. Pairwise masks
        # instead of gathers and scatters: they vectorize better.
        seen = member & jnp.all(~same | (node_key[:, None] <= node_key[None, :]), axis=1)
        pos = jnp.zeros((nn,), jnp.int32)
        for t in range(self._max_set_component - 1):
            popped = same & (seen & (pos == t))[None, :]  # [w, u]: u is w's component's pop
            is_succ = jnp.any(popped & (succ[None, :] == nodes[:, None]), axis=1)
            is_pred = jnp.any(popped & (succ[:, None] == nodes[None, :]), axis=1)
            new = member & ~seen & (is_succ | is_pred)
            found = jnp.sum(same & seen[None, :], axis=1)
            prio = jnp.where(is_succ, -1, nodes)  # successor first, then predecessors in order
            rank = jnp.sum(same & new[None, :] & (prio[None, :] < prio[:, None]), axis=1)
            pos = jnp.where(new, found + rank, pos)
            seen = seen | new
        # each component's nodes in insertion order: cells [n, K] (components named by root)
        steps = self._max_set_component
        node_cell = jnp.concatenate([cell, tcell])
        comps = jnp.arange(n)
        at = (comp[None, None, :] == comps[:, None, None]) & (
            pos[None, None, :] == jnp.arange(steps)[None, :, None]
        )  # [n, K, nn]: node w is component c's k-th
        seq_cell = jnp.sum(jnp.where(at, node_cell[None, None, :], 0), axis=2)
        comp_size = jnp.sum(comp[None, :] == comps[:, None], axis=1)
        valid = jnp.arange(steps)[None, :] < comp_size[:, None]  # [n, K]
        slot1 = self._replay_set(seq_cell, valid, comp_size)
        # `show_nodes` copies the set in its slot order
        order2 = jnp.sum(
            valid[:, None, :] & (slot1[:, None, :] < slot1[:, :, None]), axis=2
        )  # [n, K]: where the k-th node goes in the copy
        moves = (order2[:, :, None] == jnp.arange(steps)[None, None, :]) & valid[:, :, None]
        seq2_cell = jnp.sum(jnp.where(moves, seq_cell[:, :, None], 0), axis=1)
        slot2 = self._replay_set(seq2_cell, valid, comp_size)
        final = jnp.sum(jnp.where(moves, slot2[:, None, :], 0), axis=2)  # [n, K] by BFS position
        return final[jnp.minimum(comp[:n], n - 1), jnp.minimum(pos[:n], steps - 1)]

    def _replay_set(self, seq_cell, valid, comp_size) -> jax.Array:
        """Slots [n, K] of each component's nodes (cells `seq_cell` [n, K], inserted in that
        order; `valid`: k < component size) in an empty CPython set after all insertions. Each
        component's table is a bit mask; the k-th insertion finds a free slot among its first
        k + 1 probes."""
        steps = seq_cell.shape[1]
        probe8 = jnp.asarray(self._probe8)
        probe32 = jnp.asarray(self._probe32)

        def insert(table, probe, mask):
            free = ((table[:, None] >> probe.astype(jnp.uint32)) & 1) == 0
            first = jnp.argmax(free, axis=1)
            width = probe.shape[1]
            s = jnp.sum(jnp.where(jnp.arange(width)[None] == first[:, None], probe, 0), axis=1)
            table = table | jnp.where(
                mask, jnp.left_shift(jnp.uint32(1), s.astype(jnp.uint32)), jnp.uint32(0)
            )
            return table, s

        table = jnp.zeros(seq_cell.shape[:1], jnp.uint32)
        slots = []
        for k in range(min(steps, _SET_RESIZE_AT)):
            table, s = insert(table, probe8[seq_cell[:, k], : k + 1], valid[:, k])
            slots.append(s)
        slot8 = jnp.stack(slots, axis=1)
        if steps < _SET_RESIZE_AT:
            return slot8
        # the 5th entry grows the table to 32 slots: old entries move over in slot order
        r = _SET_RESIZE_AT
        rank = jnp.sum(slot8[:, None, :] < slot8[:, :, None], axis=2)  # [n, 5]
        moves = rank[:, :, None] == jnp.arange(r)[None, None, :]  # [n, k, j]
        cell_r = jnp.sum(jnp.where(moves, seq_cell[:, :r, None], 0), axis=1)  # [n, j]
        table = jnp.zeros(seq_cell.shape[:1], jnp.uint32)
        slots_r = []
        for j in range(r):
            table, s = insert(table, probe32[cell_r[:, j], : j + 1], valid[:, r - 1])
            slots_r.append(s)
        slot32 = [jnp.sum(jnp.where(moves, jnp.stack(slots_r, 1)[:, None, :], 0), axis=2)]
        for k in range(r, steps):
            table, s = insert(table, probe32[seq_cell[:, k], : k + 1], valid[:, k])
            slot32.append(s[:, None])
        slot32 = jnp.concatenate(slot32, axis=1)
        pad = jnp.zeros((seq_cell.shape[0], steps - r), jnp.int32)
        slot8 = jnp.concatenate([slot8, pad], axis=1)
        return jnp.where((comp_size >= r)[:, None], slot32, slot8)


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


def task_layout(
    size: str, n_agents: int, difficulty: str, column_height: int, version: int
) -> Layout:
    """The task's layout, checked: a column height in 1..MAX_COLUMN_HEIGHT, version 1 or 2,
    and a shelf left to draw when a requested one is delivered."""
    if not isinstance(column_height, int | np.integer) or not (
        1 <= column_height <= MAX_COLUMN_HEIGHT
    ):
        raise ValueError(
            f"rware column_height must be an int in 1..{MAX_COLUMN_HEIGHT}, got {column_height!r}"
        )
    if version not in (1, 2):
        raise ValueError(f"rware version must be 1 (rware 1.0.1's layout) or 2, got {version!r}")
    layout = Layout.from_params(*SIZES[size], column_height, version)
    queue = request_queue_size(n_agents, difficulty)
    if queue >= layout.num_shelves:
        # rware cannot reset (queue > shelves) or fails at its first delivery (queue = shelves)
        where = f"rware-{size}{name_suffix('normal', column_height, version)}"
        raise ValueError(
            f"{where} has {layout.num_shelves} shelves: a request queue of "
            f"{queue} ({n_agents} agents, {difficulty}) leaves none to draw"
        )
    return layout


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
