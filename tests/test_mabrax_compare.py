"""acjax's multi-agent MuJoCo (`mamujoco-*`) against JaxMARL 0.2.0's multi-agent Brax (MABrax)
on the five tasks both have: ant_4x2, halfcheetah_6x1, hopper_3x1, walker2d_2x3, humanoid_9|8.

Both wrap the same brax 0.14.2 single-agent environment on the same `positional` pipeline, so the
physics and the reward are meant to agree; they differ in the hand-written (JaxMARL) against
tree-derived (acjax) partitions and observation lists, in where actions are clipped, and in the
episode's end. Every difference is asserted as it is (docs/mamujoco.md, "Checked against
JaxMARL's MABrax"), so that a change on either side fails a test. The structure tests only
build the worlds (two tasks in make test, all five in make test-slow); the stepping tests compile
brax (minutes per task on a loaded 2-core CPU) and
are marked slow.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import acjax.envs.mamujoco as mm  # noqa: I001  (MUJOCO_GL is read when jaxmarl imports MuJoCo)

jaxmarl = pytest.importorskip("jaxmarl")

# JaxMARL's id -> acjax's robot and partition (`mamujoco-<robot>-<partition>`)
TASKS = {
    "ant_4x2": ("ant", "4x2"),
    "halfcheetah_6x1": ("halfcheetah", "6x1"),
    "hopper_3x1": ("hopper", "3x1"),
    "walker2d_2x3": ("walker2d", "2x3"),
    "humanoid_9|8": ("humanoid", "9|8"),
}

_HC = ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]
_LEG = ["thigh_joint", "leg_joint", "foot_joint"]
_LEFT = ["thigh_left_joint", "leg_left_joint", "foot_left_joint"]
_ARMS = [
    "right_shoulder1",
    "right_shoulder2",
    "right_elbow",
    "left_shoulder1",
    "left_shoulder2",
    "left_elbow",
]
_ABDOMEN = ["abdomen_y", "abdomen_z", "abdomen_x"]
_LEGS = [
    "right_hip_x",
    "right_hip_z",
    "right_hip_y",
    "right_knee",
    "left_hip_x",
    "left_hip_z",
    "left_hip_y",
    "left_knee",
]

# each agent's joints in its action slots, as each library assigns them
ACJAX_AGENTS = {
    "ant_4x2": [[f"hip_{i}", f"ankle_{i}"] for i in (1, 2, 3, 4)],
    "halfcheetah_6x1": [[j] for j in _HC],
    "hopper_3x1": [[j] for j in _LEG],
    "walker2d_2x3": [_LEG, _LEFT],
    "humanoid_9|8": [_ARMS + ["abdomen_z", "abdomen_y", "abdomen_x"], _LEGS],
}
JAXMARL_AGENTS = {
    "ant_4x2": [[f"hip_{i}", f"ankle_{i}"] for i in (4, 1, 2, 3)],
    "halfcheetah_6x1": [[j] for j in _HC],
    "hopper_3x1": [[j] for j in _LEG],
    "walker2d_2x3": [_LEG, _LEFT],
    "humanoid_9|8": [_ABDOMEN + _ARMS, _LEGS],
}
# acjax's agent i drives the joints of JaxMARL's agent PAIR[i] ...
PAIR = {"ant_4x2": [1, 2, 3, 0]}
# building a world costs seconds (Humanoid's most): make test builds the two cheapest, and
# make test-slow the rest
FAST = ("hopper_3x1", "walker2d_2x3")
STRUCTURE = [t if t in FAST else pytest.param(t, marks=pytest.mark.slow) for t in TASKS]
# ... and reads the observation entries of JaxMARL's agent OBS_PAIR[i]: JaxMARL's Ant agent_0
# observes leg 1 as its own (qpos and qvel of hip_1, ankle_1) but drives leg 4, and so on
OBS_PAIR = {"ant_4x2": [0, 1, 2, 3]}
# whether each JaxMARL agent observes the velocities of the joints it drives (acjax's always do)
JAXMARL_SEES_OWN_VELOCITY = {
    "ant_4x2": [False] * 4,
    "halfcheetah_6x1": [True, False, False, False, False, True],
    "hopper_3x1": [True] * 3,
    "walker2d_2x3": [True] * 2,
    "humanoid_9|8": [True, True],
}

STATE = {"ant_4x2": 27, "halfcheetah_6x1": 17, "hopper_3x1": 11, "walker2d_2x3": 17,
         "humanoid_9|8": 244}  # fmt: skip
ACJAX_OBS = {
    "ant_4x2": [18, 18, 18, 18],
    "halfcheetah_6x1": [9, 9, 8, 9, 9, 8],
    "hopper_3x1": [8, 9, 8],
    "walker2d_2x3": [12, 12],
    "humanoid_9|8": [35, 28],
}
JAXMARL_OBS = {
    "ant_4x2": [18, 18, 18, 18],
    "halfcheetah_6x1": [9, 9, 8, 9, 9, 8],
    "hopper_3x1": [8, 9, 8],
    "walker2d_2x3": [10, 10],
    "humanoid_9|8": [248, 176],
}
# brax's qpos, qvel and observation, acjax against JaxMARL, before the first episode end: equal
# bit for bit, except Humanoid, whose two compiled programs round differently from its second
# step on (measured: qpos 3e-4, qvel 1.3e-2, observation 1.8e-2, reward 1.2e-3 at most)
STATE_TOL = {"ant_4x2": 0.0, "halfcheetah_6x1": 0.0, "hopper_3x1": 0.0, "walker2d_2x3": 0.0,
             "humanoid_9|8": 5e-2}  # fmt: skip
REWARD_TOL = {**{jid: 2e-5 for jid in STATE_TOL}, "humanoid_9|8": 5e-3}
# the first episode end (step index), acjax / JaxMARL, with actions from PRNGKey(1) in the range
# and 1.5x the range
FIRST_END = {
    "ant_4x2": [[999, 159], [999, 159]],
    "halfcheetah_6x1": [[999, 999], [999, 999]],
    "hopper_3x1": [[129, 89], [129, 89]],
    "walker2d_2x3": [[255, 264], [255, 264]],
    "humanoid_9|8": [[73, 67], [73, 67]],
}

# JaxMARL's indices at or past the end of brax's observation (JAX clamps them to the last entry)
JAXMARL_OUTSIDE = {"halfcheetah_6x1": [0, 0, 0, 0, 0, 1], "humanoid_9|8": [93, 51]}


class _Worlds(dict):
    """{jaxmarl id: (acjax world, JaxMARL env)}, each built when first asked for (building is
    a few seconds a task; no compilation)."""

    def __missing__(self, jid):
        robot, partition = TASKS[jid]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JaxMARL's "MABrax is deprecated" notice
            env = jaxmarl.make(jid)
        self[jid] = (mm.MaMuJoCo(robot, partition, stagger=False), env)
        return self[jid]


@pytest.fixture(scope="module")
def worlds():
    return _Worlds()


def _joint_names(world):
    import mujoco

    m = world.brax.sys.mj_model
    return [
        mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, int(m.actuator_trnid[a, 0]))
        for a in range(m.nu)
    ]


def _pair(jid, n, pairs=PAIR):
    return pairs.get(jid, list(range(n)))


def _velocity_index(world, joint):
    """Where brax's observation holds the velocity of joint (an index into world.graph)."""
    hidden = mm.ROBOTS[world.robot].hidden_positions
    return world.graph.nq - hidden + int(world.graph.qvel[joint])


def _jaxmarl_index(env):
    return [np.asarray(v) for v in env.agent_obs_mapping.values()]


def _acjax_index(world):
    return [world.obs_index[i, :s] for i, s in enumerate(world.spec.obs_sizes)]


@pytest.mark.parametrize("jid", STRUCTURE)
def test_agents_actions_and_partition(worlds, jid):
    """Agents and action sizes agree; the partition (which joints each agent drives) is the same
    split of the joints everywhere. Ant numbers its legs differently (acjax's agent i drives
    JaxMARL's agent i+1's leg), and Humanoid's upper agent orders its slots differently."""
    world, env = worlds[jid]
    names = _joint_names(world)
    ours = [[names[world.graph.actuator[j]] for j in agent] for agent in world.agents]
    theirs = [[names[int(a)] for a in v] for v in env.agent_action_mapping.values()]
    assert ours == ACJAX_AGENTS[jid]
    assert theirs == JAXMARL_AGENTS[jid]
    assert world.spec.num_agents == env.num_agents == len(ours)
    pair = _pair(jid, len(ours))
    assert [sorted(ours[i]) for i in range(len(ours))] == [sorted(theirs[p]) for p in pair]
    sizes = [env.action_spaces[env.agents[p]].shape[0] for p in pair]
    assert list(world.spec.action_sizes) == sizes
    # the same agent-level actions give the same brax action except where the slots differ
    slots_differ = [ours[i] != theirs[p] for i, p in enumerate(pair)]
    assert slots_differ == ([True, False] if jid == "humanoid_9|8" else [False] * len(ours))
    # both drive every actuator exactly once: acjax's joint action and JaxMARL's map agree
    key = jax.random.PRNGKey(0)
    g = jax.random.uniform(key, (world.brax.action_size,), minval=-1, maxval=1)
    own = world.action_owner
    a = jnp.zeros((world.spec.num_agents, world.spec.num_actions)).at[own[:, 0], own[:, 1]].set(g)
    mapping = env.agent_action_mapping
    theirs_a = {agent: g[jnp.asarray(idx)] for agent, idx in mapping.items()}
    np.testing.assert_array_equal(world.joint_action(a), g)
    np.testing.assert_array_equal(env.map_agents_to_global_action(theirs_a), g)


@pytest.mark.parametrize("jid", STRUCTURE)
def test_observation_and_state_sizes(worlds, jid):
    """The global state is brax's observation on both sides (JaxMARL has no `world_state`; its
    brax state's `obs` is that vector); per-agent sizes agree except Walker2d and Humanoid."""
    world, env = worlds[jid]
    assert world.spec.state_dim == env.env.observation_size == STATE[jid]
    assert not hasattr(env, "world_state")
    assert list(world.spec.obs_sizes) == ACJAX_OBS[jid]
    assert [env.observation_spaces[a].shape[0] for a in env.agents] == JAXMARL_OBS[jid]
    outside = [int((i >= STATE[jid]).sum()) for i in _jaxmarl_index(env)]
    assert outside == JAXMARL_OUTSIDE.get(jid, [0] * env.num_agents)
    assert all(int(i.max()) < STATE[jid] for i in _acjax_index(world))


@pytest.mark.parametrize("jid", STRUCTURE)
def test_observation_contents(worlds, jid):
    """What each agent reads of brax's observation, as index sets of paired agents:
    - ant_4x2, hopper_3x1: the same entries (in another order), but in Ant by agents that drive
      other legs (OBS_PAIR against PAIR): no JaxMARL Ant agent sees its own joints' velocities;
    - halfcheetah_6x1: JaxMARL's every index is acjax's plus one (written for an observation
      that still holds the root's x position, which brax's hides), and agent_5's last index,
      17, lies past the 17 entries: JAX clamps it to 16;
    - walker2d_2x3: JaxMARL leaves out the torso's pitch (entry 1) and its velocity (entry 10);
    - humanoid_9|8: JaxMARL's lists are for the 376-entry MuJoCo Humanoid observation; against
      brax's 244 entries, 93 and 51 indices are clamped to the last one. Of its joint entries
      (qpos, qvel) each agent sees all of acjax's, and the lower body also abdomen_z's and
      abdomen_y's qpos (entries 5, 6; the hand-written MaMuJoCo graph, docs/mamujoco.md); the
      remaining 120 and 95 entries fall on brax's body features (com inertia, com velocity,
      actuator forces) at positions meant for MuJoCo's layout."""
    world, env = worlds[jid]
    ours, theirs = _acjax_index(world), _jaxmarl_index(env)
    last = STATE[jid] - 1
    # the velocities of the joints an agent drives, among what it observes (JAX's clamping)
    own_velocity = [[_velocity_index(world, j) for j in agent] for agent in world.agents]
    seen = [set(np.minimum(t, last).tolist()) for t in theirs]
    drives = _pair(jid, len(ours))
    assert [set(own_velocity[i]) <= set(ours[i].tolist()) for i in range(len(ours))] == [
        True
    ] * len(ours)
    sees = [None] * len(ours)
    for i, p in enumerate(drives):
        sees[p] = set(own_velocity[i]) <= seen[p]
    assert sees == JAXMARL_SEES_OWN_VELOCITY[jid]
    pair = _pair(jid, len(ours), OBS_PAIR)
    for i, p in enumerate(pair):
        a, b = set(ours[i].tolist()), set(theirs[p].tolist())
        if jid in ("ant_4x2", "hopper_3x1"):
            assert a == b and len(ours[i]) == len(theirs[p])
            assert ours[i].tolist() != theirs[p].tolist()  # the order differs
        elif jid == "halfcheetah_6x1":
            assert sorted(theirs[p].tolist()) == [x + 1 for x in sorted(a)]
        elif jid == "walker2d_2x3":
            assert a - b == {1, 10} and b <= a
        else:  # humanoid: brax's first 45 entries are qpos[2:] and qvel, as in MuJoCo's
            inside = {x for x in b if x <= last}
            assert a <= inside
            assert sorted(x for x in inside - a if x < 45) == [[], [5, 6]][p]
            assert len([x for x in inside if x >= 45]) == [120, 95][p]
    # the gather itself: brax's observation 0, 1, 2, ... read through both maps
    vec = jnp.arange(STATE[jid], dtype=jnp.float32)
    got_ours = np.asarray(world.agent_obs(vec))
    got_theirs = env.map_global_obs_to_agents(vec)
    for i, p in enumerate(pair):
        np.testing.assert_array_equal(got_ours[i, : len(ours[i])], ours[i])
        assert not got_ours[i, len(ours[i]) :].any()  # padding
        np.testing.assert_array_equal(
            np.asarray(got_theirs[env.agents[p]]), np.minimum(theirs[p], last)
        )


@pytest.mark.parametrize("jid", STRUCTURE)
def test_same_brax_task(worlds, jid):
    """The same brax class, pipeline, frames per step, time step and reward weights; JaxMARL
    wraps it in brax's EpisodeWrapper (1000 steps, action repeat 1) and AutoResetWrapper, where
    acjax counts the 1000-step limit itself. Both declare actions in [-1, 1]."""
    world, env = worlds[jid]
    ours, theirs = world.brax, env.env.unwrapped
    assert type(ours) is type(theirs)
    assert ours.backend == theirs.backend == mm.DEFAULT_BACKEND == "positional"
    assert ours.dt == theirs.dt and ours._n_frames == theirs._n_frames
    for name in ("_ctrl_cost_weight", "_healthy_reward", "_reset_noise_scale"):
        assert getattr(ours, name, None) == getattr(theirs, name, None)
    for field in ("body_mass", "actuator_gear", "actuator_ctrlrange", "dof_damping", "jnt_range"):
        np.testing.assert_array_equal(
            getattr(ours.sys.mj_model, field), getattr(theirs.sys.mj_model, field)
        )
    assert type(env.env).__name__ == "AutoResetWrapper"
    assert type(env.env.env).__name__ == "EpisodeWrapper"
    assert env.env.env.episode_length == world.spec.max_steps == 1000
    assert env.env.env.action_repeat == 1
    # brax's Humanoid maps [-1, 1] onto its control range [-0.4, 0.4] itself
    assert (world.spec.action_low, world.spec.action_high) == (-1.0, 1.0)
    scaled = np.asarray(theirs.sys.mj_model.actuator_ctrlrange)[0, 1] < 1
    assert scaled == (jid == "humanoid_9|8") == mm.ROBOTS[world.robot].scales_actions
    for agent in env.agents:
        space = env.action_spaces[agent]
        assert (float(space.low), float(space.high)) == (-1.0, 1.0)


def _rollouts(world, env, actions):
    """Both worlds from the same reset key, the same brax action per step (each agent gets its
    actuators' entries); JaxMARL through `step_env` (its inner brax wrappers only)."""
    own = world.action_owner
    shape = (world.spec.num_agents, world.spec.num_actions)
    key = jax.random.PRNGKey(0)

    def ours(g_seq):
        st, ts0 = world.reset(key)

        def body(st, g):
            st, ts = world.step(st, jnp.zeros(shape).at[own[:, 0], own[:, 1]].set(g))
            ps = st[0].pipeline_state
            return st, (ps.q, ps.qd, ts.global_state, ts.reward, ts.terminated, ts.truncated)

        return ts0.global_state, jax.lax.scan(body, st, g_seq)[1]

    def theirs(g_seq):
        _, st = env.reset(key)

        def body(st, g):
            acts = {a: g[jnp.asarray(i)] for a, i in env.agent_action_mapping.items()}
            _, st, r, d, info = env.step_env(key, st, acts)
            ps = st.pipeline_state
            return st, (ps.q, ps.qd, st.obs, r["__all__"], d["__all__"], info["truncation"])

        return st.obs, jax.lax.scan(body, st, g_seq)[1]

    run = lambda f: jax.tree.map(np.asarray, jax.jit(jax.vmap(f))(actions))
    return run(ours), run(theirs)


@pytest.mark.slow
@pytest.mark.parametrize("jid", list(TASKS))
def test_same_dynamics_and_reward(worlds, jid):
    """From the same key and with the same actions both give bit-identical qpos, qvel and brax
    observation up to the first episode end, which falls on the same step, and the same reward
    to float32 rounding (the two programs compile differently: up to a few 1e-7). Humanoid
    alone rounds differently from its second step on: it agrees to STATE_TOL and REWARD_TOL. Actions
    beyond the control range (second sequence, 1.5x the range): acjax clips them before brax,
    JaxMARL does not; brax's actuator clips them the same, so the motion is the same, but brax's
    control cost then charges JaxMARL the unclipped action. At the episode's end JaxMARL
    returns brax's first observation of the episode (brax's AutoResetWrapper), acjax the true
    last one; HalfCheetah's 1000-step limit is a truncation on both sides (JaxMARL: done with
    info["truncation"] = 1)."""
    world, env = worlds[jid]
    steps = 1000
    high, nu = world.spec.action_high, world.brax.action_size
    key = jax.random.PRNGKey(1)
    inside = jax.random.uniform(key, (steps, nu), minval=-high, maxval=high)
    actions = jnp.stack([inside, 1.5 * inside])
    (s0, (q, qd, obs, r, term, trunc)), (t0, (q2, qd2, obs2, r2, done2, trunc2)) = _rollouts(
        world, env, actions
    )
    np.testing.assert_array_equal(s0, t0)
    # the control cost is charged on brax's action: Humanoid's after its scaling by 0.4
    weight = world.brax._ctrl_cost_weight * (0.4**2 if jid == "humanoid_9|8" else 1.0)
    first = lambda done: [int(np.flatnonzero(d)[0]) if d.any() else steps for d in done]
    ours_end, theirs_end = first(term | trunc), first(done2)
    common = [min(x, y) for x, y in zip(ours_end, theirs_end, strict=True)]

    def gap(x, y, upto):
        return [float(np.abs(x[b, : upto[b]] - y[b, : upto[b]]).max(initial=0)) for b in (0, 1)]

    for upto in (common,):
        print(
            f"{jid}: first ends {ours_end} / {theirs_end}; over {upto} steps max |diff| qpos "
            f"{gap(q, q2, upto)}, qvel {gap(qd, qd2, upto)}, obs {gap(obs, obs2, upto)}"
            f", reward in range {gap(r, r2, [upto[0], 0])[0]:.3g}"
        )
    assert [ours_end, theirs_end] == FIRST_END[jid]
    for b, end in enumerate(ours_end):
        k = slice(0, end)
        for ours, theirs in ((q, q2), (qd, qd2), (obs, obs2)):
            np.testing.assert_allclose(ours[b, k], theirs[b, k], rtol=0, atol=STATE_TOL[jid])
        a = np.asarray(actions[b, : end + 1], np.float64)
        extra = weight * ((a**2).sum(-1) - (np.clip(a, -high, high) ** 2).sum(-1))
        assert not extra.any() if b == 0 else extra.max() > 0
        np.testing.assert_allclose(
            r[b, : end + 1] - r2[b, : end + 1], extra, rtol=1e-4, atol=REWARD_TOL[jid]
        )
        if end < steps:
            np.testing.assert_array_equal(obs2[b, end], t0[b])  # JaxMARL: the first observation
            assert not np.array_equal(obs[b, end], s0[b])  # acjax: the last one
            assert bool(trunc[b, end]) == bool(trunc2[b, end]) == (end == steps - 1)
    if jid == "halfcheetah_6x1":  # never terminates: both truncate at the limit
        assert ours_end == [steps - 1, steps - 1] and not term.any()
