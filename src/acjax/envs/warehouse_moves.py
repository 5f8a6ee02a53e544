"""Step 2 of the warehouse (`acjax.envs.warehouse_rware`): resolving the requested moves.

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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_M64 = (1 << 64) - 1
_SET_SIZES = (8, 32)  # CPython's PySet_MINSIZE, and the size it grows to
_SET_RESIZE_AT = 5  # an 8-slot set grows to 32 slots when its 5th entry arrives (fill*5 >= 21)


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


class MoveResolution:
    """rware's move resolution as methods of the warehouse (`acjax.envs.warehouse_rware.RwareEnv`
    mixes it in; `num_agents` is the world's)."""

    num_agents: int

    def _init_moves(self, n_agents: int, height: int, width: int) -> None:
        """The CPython set tables of the grid's cells and the largest component to replay."""
        self._probe8, self._probe32 = _cell_probe_tables(height, width)
        # the largest tree component whose networkx order is a set order: 2 m < |G| <= 2N + 2 - m
        self._max_set_component = (2 * n_agents + 1) // 3

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
