"""Pictures of the worlds: the warehouse port and multi-agent MuJoCo (no display needed).

`render_rgb(env, state)` draws one warehouse (the port's or Jumanji's) in the original rware
viewer's colours: goals dark grey, shelves slate blue, requested shelves teal, agents dark orange
(red when carrying) with a black line towards their direction.
`write_gif(env, states_or_frames, path)` writes an episode.

`mujoco_frames(world, qpos)` renders a multi-agent MuJoCo episode with MuJoCo's own renderer
(offscreen through EGL where no display is set: MUJOCO_GL=egl), a camera tracking the torso,
every agent's limbs in its own colour. `write_gif(None, frames, path)` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

_BACKGROUND = (255, 255, 255)
_GRID = (0, 0, 0)
_SHELF = (72, 61, 139)
_SHELF_REQUESTED = (0, 128, 128)
_AGENT = (255, 140, 0)
_AGENT_LOADED = (255, 0, 0)
_AGENT_DIRECTION = (0, 0, 0)
_GOAL = (60, 60, 60)
_SHELF_PADDING = 2
# rware Direction values UP, DOWN, LEFT, RIGHT -> (dx, dy) in image coordinates
_DIRECTION_STEP = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}


@dataclass(frozen=True)
class WarehouseView:
    """What a warehouse picture shows, in the port's conventions: (x, y) cells with y downwards,
    directions as rware's (UP, DOWN, LEFT, RIGHT), per agent whether it carries a shelf, per
    shelf whether it is requested."""

    width: int
    height: int
    goals: np.ndarray  # [G, 2]
    agent_xy: np.ndarray  # [N, 2]
    agent_dir: np.ndarray  # [N]
    carrying: np.ndarray  # [N] bool
    shelf_xy: np.ndarray  # [S, 2]
    requested: np.ndarray  # [S] bool


def warehouse_view(env: Any, state: Any) -> WarehouseView:
    """The view of one warehouse state of either world (Jumanji's converts its own state)."""
    if hasattr(env, "warehouse_view"):
        return env.warehouse_view(state)
    lay = env.layout
    shelf_xy = np.asarray(state.shelf_xy)
    queue = np.asarray(state.request_queue)
    return WarehouseView(
        width=lay.width,
        height=lay.height,
        goals=np.asarray(lay.goals),
        agent_xy=np.asarray(state.agent_xy),
        agent_dir=np.asarray(state.agent_dir),
        carrying=np.asarray(state.carrying) >= 0,
        shelf_xy=shelf_xy,
        requested=np.isin(np.arange(len(shelf_xy)), queue),
    )


def render_rgb(env: Any, state: Any, cell: int = 24) -> np.ndarray:
    """One warehouse (an unbatched state of `rware-*` or `jumanji-rware-*`) as an RGB image
    [H, W, 3] uint8."""
    v = warehouse_view(env, state)
    if v.agent_xy.ndim != 2:
        raise ValueError(f"render_rgb draws one warehouse; got agents of shape {v.agent_xy.shape}")
    width, height = v.width * cell + 1, v.height * cell + 1
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    for gx, gy in v.goals:
        draw.rectangle([gx * cell, gy * cell, (gx + 1) * cell, (gy + 1) * cell], fill=_GOAL)
    for (sx, sy), requested in zip(v.shelf_xy, v.requested, strict=True):
        colour = _SHELF_REQUESTED if requested else _SHELF
        p = _SHELF_PADDING
        draw.rectangle(
            [sx * cell + p + 1, sy * cell + p + 1, (sx + 1) * cell - p, (sy + 1) * cell - p],
            fill=colour,
        )
    for x in range(v.width + 1):
        draw.line([(x * cell, 0), (x * cell, height - 1)], fill=_GRID)
    for y in range(v.height + 1):
        draw.line([(0, y * cell), (width - 1, y * cell)], fill=_GRID)
    radius = cell / 3
    for (ax, ay), d, c in zip(v.agent_xy, v.agent_dir, v.carrying, strict=True):
        cx, cy = (ax + 0.5) * cell, (ay + 0.5) * cell
        colour = _AGENT_LOADED if c else _AGENT
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
        dx, dy = _DIRECTION_STEP[int(d)]
        draw.line(
            [(cx, cy), (cx + dx * radius, cy + dy * radius)],
            fill=_AGENT_DIRECTION,
            width=max(1, cell // 12),
        )
    return np.asarray(image, dtype=np.uint8)


# one colour per agent (tab10), the root and unowned bodies keep the model's colours
AGENT_COLOURS = [
    (0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16),
    (0.58, 0.4, 0.74), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5),
    (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
]  # fmt: skip


def agent_of_body(world: Any) -> np.ndarray:
    """[nbody] the agent whose joints move each body (through its nearest ancestor with an
    actuated joint); -1 for the world, the torso and anything not below an agent's joint."""
    model = world.brax.sys.mj_model
    owner = np.full(model.nbody, -1)
    for i, joints in enumerate(world.agents):
        owner[world.graph.body[joints]] = i
    for b in range(1, model.nbody):  # parents come before their children in MuJoCo's order
        if owner[b] < 0:
            owner[b] = owner[model.body_parentid[b]]
    return owner


def mujoco_frames(
    world: Any,
    qpos: np.ndarray,
    width: int = 480,
    height: int = 320,
    colour_agents: bool = True,
    distance: float | None = None,
) -> list[np.ndarray]:
    """Frames [H, W, 3] uint8 of a multi-agent MuJoCo world (`acjax.envs.mamujoco.MaMuJoCo`) at
    each row of qpos [T, nq] (the brax pipeline states' `q`), seen from the side by a camera
    that follows the torso."""
    import copy

    import mujoco

    model = copy.deepcopy(world.brax.sys.mj_model)
    if colour_agents:
        owner = agent_of_body(world)
        for g in range(model.ngeom):
            a = owner[model.geom_bodyid[g]]
            if a >= 0:
                model.geom_rgba[g, :3] = AGENT_COLOURS[a % len(AGENT_COLOURS)]
    data = mujoco.MjData(model)
    if distance is None:  # 2.5x the robot's radius around the torso (planes left out)
        mujoco.mj_forward(model, data)
        solid = model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE
        reach = np.linalg.norm(data.geom_xpos[solid] - data.xpos[1], axis=1)
        distance = 2.5 * float(np.max(reach + model.geom_rbound[solid]))
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = 1
    camera.distance = distance
    camera.azimuth, camera.elevation = 90.0, -15.0
    frames = []
    with mujoco.Renderer(model, height, width) as renderer:
        for q in np.asarray(qpos):
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera)
            frames.append(renderer.render().copy())
    return frames


def _frames(env: Any, states_or_frames: Any, cell: int) -> list[np.ndarray]:
    if isinstance(states_or_frames, np.ndarray) and states_or_frames.dtype == np.uint8:
        return list(states_or_frames)  # [T, H, W, 3]
    if isinstance(states_or_frames, Sequence) and not hasattr(states_or_frames, "agent_xy"):
        items = list(states_or_frames)
        if items and isinstance(items[0], np.ndarray) and items[0].dtype == np.uint8:
            return items
        return [render_rgb(env, s, cell) for s in items]
    # a state with a leading time axis (for instance the states of a lax.scan)
    length = np.asarray(states_or_frames.agent_xy).shape[0]
    leaves = {
        f: np.asarray(getattr(states_or_frames, f))
        for f in ("agent_xy", "agent_dir", "carrying", "shelf_xy", "request_queue")
    }
    return [
        render_rgb(env, _Slice({f: v[t] for f, v in leaves.items()}), cell) for t in range(length)
    ]


class _Slice:
    def __init__(self, fields: dict[str, np.ndarray]):
        self.__dict__.update(fields)


def write_gif(
    env: Any, states_or_frames: Any, path: str | Path, fps: int = 8, cell: int = 24
) -> Path:
    """Write an episode as a GIF: a list of states, a state with a leading time axis, or
    frames (a list of [H, W, 3] uint8 images or one [T, H, W, 3] array)."""
    frames = _frames(env, states_or_frames, cell)
    if not frames:
        raise ValueError("write_gif needs at least one frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0
    )
    return path
