"""Multi-agent MuJoCo on brax: `mamujoco-<robot>-<partition>`.

A brax single-agent locomotion task split among agents, as Gymnasium-Robotics' MaMuJoCo v1 does
it, but derived from the model's kinematic tree (the MJCF that brax loads) instead of
hand-written index lists:

- **Joint graph** (`kinematic_graph`). Nodes are the actuated joints. Two joints are adjacent when
  they sit on the same body, or when the tree path between their bodies passes through no other
  body that carries an actuated joint (bodies without actuated joints, the torso among them,
  connect what hangs below them: HalfCheetah's two thighs, Ant's four hips).
- **Partition** (`split_joints`). The actuated joints in depth-first order of the tree, children
  visited in increasing number of actuated joints (ties in model order), cut into consecutive
  groups: `NxK` is N agents of K joints, `a|b|...` agents of a, b, ... joints
  (`mamujoco-humanoid-9x8` spells `-9|8` where | is awkward: shells, file names). Each agent
  controls the actuators of its joints.
- **Observation** (`observation_indices`), with `obsk` = k: the agent's own joints' qpos and qvel
  (depth 0), then qpos of the joints at graph distance 1..k, each level's joints sorted by name,
  then the global features: the root joints' positions (the ones the single-agent observation
  shows) and then their velocities. Every entry is an index into the single-agent observation,
  which is also the global state; so per-agent features are exactly the single-agent task's
  (Hopper's and Walker2d's velocity clipping included).
- **Episode**: the team reward is the single-agent reward; termination is the task's own
  (Ant, Hopper, Walker2d, Humanoid: unhealthy; HalfCheetah never terminates); the time limit
  (`max_steps`, 1000) is truncation. With `stagger` (default) the trainer starts each
  environment's first episode at a random step of the limit (`MaMuJoCo.stagger`), so that the
  environments of a batch do not all end their episodes in the same update.

Where Gymnasium-Robotics differs: its Ant and Humanoid add body features (cfrc_ext; cinert,
cvel, qfrc_actuator) at depth 0, which brax's observations do not have; and its hand-written
Humanoid graph links the hips and shoulders to all three abdomen joints, where the tree links
the hips to abdomen_x only (docs/mamujoco.md). The other robots match it in joint sets, partitions
and observation sizes (tests/test_mamujoco.py).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from acjax.envs.core import EnvSpec, TimeStep, World, make_timestep

# MuJoCo's renderer (acjax.envs.render.mujoco_frames) offscreen where there is no display; MuJoCo
# reads this when it is first imported
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULT_BACKEND = "positional"


@dataclass(frozen=True)
class Robot:
    """Facts of brax's single-agent task: its name, how many leading root positions its
    observation hides (the x, or x and y, position of the torso), and whether its step maps
    actions in [-1, 1] onto the actuators' control range itself (Humanoid's, [-0.4, 0.4])."""

    brax_env: str
    hidden_positions: int
    scales_actions: bool = False


ROBOTS = {
    "halfcheetah": Robot("halfcheetah", 1),
    "ant": Robot("ant", 2),
    "hopper": Robot("hopper", 1),
    "walker2d": Robot("walker2d", 1),
    "humanoid": Robot("humanoid", 2, scales_actions=True),
}
# the paper's and HARL's scenarios (any other split of the joints works as well)
SCENARIOS = (
    "halfcheetah-2x3",
    "halfcheetah-6x1",
    "ant-2x4",
    "ant-4x2",
    "hopper-3x1",
    "walker2d-2x3",
    "humanoid-9|8",
)
_NAME = re.compile(r"^mamujoco-([a-z0-9]+)-([0-9x|]+)$")
ALIASES = {("humanoid", "9x8"): ("humanoid", "9|8")}

_HINGE_OR_SLIDE = (2, 3)  # mjtJoint: slide, hinge
_JOINT_QPOS = {0: 7, 1: 4, 2: 1, 3: 1}  # free, ball, slide, hinge
_JOINT_QVEL = {0: 6, 1: 3, 2: 1, 3: 1}


@dataclass(frozen=True)
class KinematicGraph:
    """What the trainer needs from the model's kinematic tree.

    joints: names of the actuated joints in depth-first order (the partition order);
    body: each joint's body; qpos / qvel: each joint's qpos / qvel address; actuator: each
    joint's actuator;
    adjacency: [J, J] bool joint graph; root_qpos / root_qvel: the unactuated (root) joints'
    addresses; nq: the qpos size.
    """

    joints: tuple[str, ...]
    body: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    actuator: np.ndarray
    adjacency: np.ndarray
    root_qpos: np.ndarray
    root_qvel: np.ndarray
    nq: int


def _name(model, kind, i: int) -> str:
    import mujoco

    return mujoco.mj_id2name(model, kind, i) or f"#{i}"


def kinematic_graph(model) -> KinematicGraph:
    """The actuated-joint graph of a `mujoco.MjModel` (see the module docstring)."""
    import mujoco

    if np.any(model.actuator_trntype != mujoco.mjtTrn.mjTRN_JOINT):
        raise ValueError("every actuator must drive a joint")
    act_joint = np.asarray(model.actuator_trnid[:, 0])
    if len(set(act_joint.tolist())) != len(act_joint):
        raise ValueError("a joint is driven by more than one actuator")
    if not np.all(np.isin(model.jnt_type[act_joint], _HINGE_OR_SLIDE)):
        raise ValueError("actuated joints must be hinges or slides")
    actuator_of = {int(j): a for a, j in enumerate(act_joint)}
    parent = np.asarray(model.body_parentid)
    body_of = np.asarray(model.jnt_bodyid)
    children: dict[int, list[int]] = {b: [] for b in range(model.nbody)}
    for b in range(1, model.nbody):
        children[int(parent[b])].append(b)
    actuated_on: dict[int, list[int]] = {b: [] for b in range(model.nbody)}
    for j in sorted(actuator_of):
        actuated_on[int(body_of[j])].append(j)

    def subtree_count(b: int) -> int:
        return len(actuated_on[b]) + sum(subtree_count(c) for c in children[b])

    order: list[int] = []

    def visit(b: int) -> None:
        order.extend(actuated_on[b])
        for c in sorted(children[b], key=subtree_count):  # stable: ties keep model order
            visit(c)

    visit(0)

    def ancestors(b: int) -> list[int]:
        path = [b]
        while path[-1] != 0:
            path.append(int(parent[path[-1]]))
        return path

    def linked(b: int, c: int) -> bool:
        """Same body, or no actuated body strictly between b and c on the tree path."""
        if b == c:
            return True
        pb, pc = ancestors(b), ancestors(c)
        common = next(x for x in pb if x in pc)
        between = pb[1 : pb.index(common) + 1] + pc[1 : pc.index(common)]
        between = [x for x in between if x not in (b, c)]
        return not any(actuated_on[x] for x in between)

    n = len(order)
    adjacency = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(a + 1, n):
            adjacency[a, b] = adjacency[b, a] = linked(body_of[order[a]], body_of[order[b]])
    roots = [j for j in range(model.njnt) if j not in actuator_of]

    def addresses(start, width):  # every qpos (qvel) address of the root joints
        return np.asarray(
            [start[j] + i for j in roots for i in range(width[int(model.jnt_type[j])])], int
        )

    return KinematicGraph(
        joints=tuple(_name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in order),
        body=np.asarray([body_of[j] for j in order]),
        qpos=np.asarray([model.jnt_qposadr[j] for j in order]),
        qvel=np.asarray([model.jnt_dofadr[j] for j in order]),
        actuator=np.asarray([actuator_of[j] for j in order]),
        adjacency=adjacency,
        root_qpos=addresses(model.jnt_qposadr, _JOINT_QPOS),
        root_qvel=addresses(model.jnt_dofadr, _JOINT_QVEL),
        nq=int(model.nq),
    )


def split_joints(partition: str, num_joints: int) -> list[list[int]]:
    """Consecutive groups of joint indices for `NxK` or `a|b|...` (module docstring)."""
    sizes: list[int] = []
    if re.fullmatch(r"\d+x\d+", partition):
        n, k = (int(x) for x in partition.split("x"))
        if n * k == num_joints:
            sizes = [k] * n
    elif re.fullmatch(r"\d+(\|\d+)+", partition):
        sizes = [int(x) for x in partition.split("|")]
    if not sizes or min(sizes) < 1 or sum(sizes) != num_joints:
        raise ValueError(
            f"partition {partition!r} does not split the {num_joints} actuated joints "
            f"(use NxK with N*K = {num_joints}, or sizes a|b|... summing to {num_joints})"
        )
    starts = np.cumsum([0, *sizes])
    return [list(range(starts[i], starts[i + 1])) for i in range(len(sizes))]


def neighbourhood(adjacency: np.ndarray, agent: list[int], k: int) -> list[list[int]]:
    """Joints at graph distance 0, 1, ..., k from the agent's joints (breadth first)."""
    levels = [sorted(agent)]
    seen = set(agent)
    for _ in range(k):
        frontier = {int(j) for i in levels[-1] for j in np.flatnonzero(adjacency[i])} - seen
        seen |= frontier
        levels.append(sorted(frontier))
    return levels


def observation_indices(
    graph: KinematicGraph, agent: list[int], k: int, hidden_positions: int
) -> np.ndarray:
    """Indices into the single-agent observation [qpos[hidden:], qvel, ...] of one agent's
    observation: depth 0 qpos and qvel per joint, deeper levels qpos, then the root features."""
    qpos_at = lambda q: int(q) - hidden_positions
    qvel_at = lambda v: graph.nq - hidden_positions + int(v)
    idx: list[int] = []
    for depth, level in enumerate(neighbourhood(graph.adjacency, agent, k)):
        for j in sorted(level, key=lambda j: graph.joints[j]):
            idx.append(qpos_at(graph.qpos[j]))
            if depth == 0:
                idx.append(qvel_at(graph.qvel[j]))
    idx += [qpos_at(q) for q in graph.root_qpos if q >= hidden_positions]
    idx += [qvel_at(v) for v in graph.root_qvel]
    return np.asarray(idx, np.int32)


def parse_name(name: str) -> tuple[str, str] | None:
    """`mamujoco-<robot>-<partition>` -> (robot, partition); None if it is not such a name."""
    m = _NAME.match(name)
    return ALIASES.get(m.groups(), m.groups()) if m else None


# what the MuJoCo stack prints that a user cannot act on: mjx's notices that the optional `warp`
# package is missing (Python prints on stdout) and MuJoCo's compiler warning that brax's models
# use the deprecated `settotalmass` (C, on stderr)
_NOISE = ("Failed to import warp", "Failed to import mujoco_warp", "WARNING: compiler attribute")


@contextlib.contextmanager
def _quiet():
    """Drop the lines of _NOISE printed meanwhile (by Python or by C, at the file descriptors)
    and blank lines; everything else is printed again after."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    said = io.StringIO()
    with tempfile.TemporaryFile() as c_err:
        os.dup2(c_err.fileno(), 2)
        try:
            with contextlib.redirect_stdout(said):
                yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            c_err.seek(0)
            for text, stream in (
                (said.getvalue(), sys.stdout),
                (c_err.read().decode(), sys.stderr),
            ):
                kept = [x for x in text.splitlines() if x.strip() and not x.startswith(_NOISE)]
                if kept:
                    print("\n".join(kept), file=stream, flush=True)


@functools.cache
def _brax_env(robot: str, backend: str):
    """brax's environment (cached: building it compiles the MJCF, ~0.5 s)."""
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")  # brax's "not actively maintained" notice
        from brax import envs

        return envs.get_environment(ROBOTS[robot].brax_env, backend=backend)


class MaMuJoCo(World):
    """One brax locomotion task split among agents (module docstring)."""

    def __init__(
        self,
        robot: str,
        partition: str,
        obsk: int = 1,
        backend: str = DEFAULT_BACKEND,
        max_steps: int = 1000,
        stagger: bool = True,
    ):
        if robot not in ROBOTS:
            raise ValueError(f"unknown robot {robot!r}; expected one of {sorted(ROBOTS)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown brax backend {backend!r}; expected one of {BACKENDS}")
        if obsk < 0:
            raise ValueError(f"obsk must be >= 0, got {obsk}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self.robot, self.partition, self.obsk, self.backend = robot, partition, obsk, backend
        self.staggered = stagger
        self.brax = _brax_env(robot, backend)
        model = self.brax.sys.mj_model
        self.graph = graph = kinematic_graph(model)
        self.agents = split_joints(partition, len(graph.joints))
        hidden = ROBOTS[robot].hidden_positions
        obs_idx = [observation_indices(graph, a, obsk, hidden) for a in self.agents]
        state_dim = int(self.brax.observation_size)
        obs_sizes = tuple(len(i) for i in obs_idx)
        action_sizes = tuple(len(a) for a in self.agents)
        n, width, a_max = len(self.agents), max(obs_sizes), max(action_sizes)
        # padded entries read a zero appended to the observation (index state_dim)
        self.obs_index = np.full((n, width), state_dim, np.int32)
        for i, idx in enumerate(obs_idx):
            if idx.min() < 0 or idx.max() >= state_dim:
                raise ValueError(f"observation index outside the {state_dim}-dim state")
            self.obs_index[i, : len(idx)] = idx
        # the single-agent action vector from the agents' [N, A]: actuator u <- (agent, slot)
        owner = np.zeros((model.nu, 2), np.int32)
        for i, joints in enumerate(self.agents):
            for slot, j in enumerate(joints):
                owner[graph.actuator[j]] = (i, slot)
        self.action_owner = owner
        low, high = np.asarray(model.actuator_ctrlrange).T
        if ROBOTS[robot].scales_actions:  # brax's step maps [-1, 1] onto the control range
            low, high = -np.ones_like(low), np.ones_like(high)
        if np.ptp(low) or np.ptp(high):
            raise ValueError(f"{robot}: actuators with different control ranges")
        self.spec = EnvSpec(
            f"mamujoco-{robot}-{partition}",
            num_agents=n,
            obs_dim=width,
            state_dim=state_dim,
            num_actions=a_max,
            max_steps=max_steps,
            action_type="continuous",
            action_low=float(low[0]),
            action_high=float(high[0]),
            obs_sizes=obs_sizes,
            action_sizes=action_sizes,
        )
        self._dim_mask = self.spec.action_dim_mask()

    # ------------------------------------------------------------------ world interface
    def agent_obs(self, state_obs: jax.Array) -> jax.Array:
        """[state_dim] single-agent observation -> [N, obs_dim] agents' observations."""
        padded = jnp.concatenate([state_obs, jnp.zeros((1,), state_obs.dtype)])
        return padded[jnp.asarray(self.obs_index)]

    def joint_action(self, actions: jax.Array) -> jax.Array:
        """[N, A] agents' actions -> [nu] the single-agent action vector."""
        return actions[self.action_owner[:, 0], self.action_owner[:, 1]]

    def _timestep(self, bs, reward=0.0, terminated=False, truncated=False) -> TimeStep:
        obs = bs.obs.astype(jnp.float32)
        return make_timestep(
            self.agent_obs(obs), obs, self._dim_mask, reward, None, terminated, truncated
        )

    def reset(self, key: jax.Array):
        bs = self.brax.reset(key)
        return (bs, jnp.zeros((), jnp.int32)), self._timestep(bs)

    def stagger(self, state, key: jax.Array):
        """Start the running episode at a random step in [0, max_steps) of the time limit (the
        trainer does it once, to the first episodes: a batch of environments then truncates at
        spread-out times, not all in one update); the physics state is unchanged."""
        if not self.staggered:
            return state
        return state[0], jax.random.randint(key, (), 0, self.spec.max_steps)

    def step(self, state, actions: jax.Array):
        bs, t = state
        a = jnp.clip(jnp.asarray(actions, jnp.float32), self.spec.action_low, self.spec.action_high)
        bs = self.brax.step(bs, self.joint_action(a))
        t = t + 1
        terminated = bs.done > 0.5
        truncated = jnp.logical_and(t >= self.spec.max_steps, jnp.logical_not(terminated))
        ts = self._timestep(bs, bs.reward, terminated, truncated)
        return (bs, t), ts
