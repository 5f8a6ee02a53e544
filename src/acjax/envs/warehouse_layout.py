"""The warehouse's layouts and task names, as rware builds them (numpy only).

Layouts (`Layout.from_params`): rware 2.0.0 places the horizontal highways and the queue
cells by the column height; rware 1.0.1 (`version=1`) computes the grid size from the column
height too, but its highway rule is written for height 8 (`y % 9 == 0`, queue `y > H - 11`).
Both agree at height 8; at height 1 the authors of ACPO ran 1.0.1's rule: tiny 4x10 with 8
shelves, small 6x10 with 16 (2.0.0's rule at height 1: 4 and 10 shelves). Everything else in
a step is the same code in both versions (docs/references.md, "rware 1.0.1 and 2.0.0, and the
authors' warehouse"). `task_layout` checks a task's layout options; `name_suffix` names them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SIZES = {"tiny": (1, 3), "small": (2, 3), "medium": (2, 5), "large": (3, 5)}
DIFFICULTY = {"easy": 2.0, "normal": 1.0, "hard": 0.5}
COLUMN_HEIGHT = 8  # rware's registered tasks; 1.0.1's highway rule holds it fixed
MAX_COLUMN_HEIGHT = 20
MAX_AGENTS = 20


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
