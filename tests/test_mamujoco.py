"""Multi-agent MuJoCo on brax: structure against Gymnasium-Robotics' MaMuJoCo v1, stepping,
episode ends, and short training runs of every on-policy algorithm."""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

import acjax.run
from acjax.config import ConfigError
from acjax.envs.mamujoco import SCENARIOS, MaMuJoCo, neighbourhood, parse_name, split_joints
from acjax.envs.registry import make
from acjax.envs.wrappers import AutoReset
from acjax.run import train

GYM_NAMES = {
    "halfcheetah": "HalfCheetah",
    "ant": "Ant",
    "hopper": "Hopper",
    "walker2d": "Walker2d",
    "humanoid": "Humanoid",
}
# brax's Ant and Humanoid observations have no body features (cfrc_ext, cinert, cvel,
# qfrc_actuator): Gymnasium-Robotics is asked for the same joint categories
NO_BODY_FEATURES = {
    "ant": {"include_cfrc_ext_in_observation": False},
    "humanoid": {
        "include_cinert_in_observation": False,
        "include_cvel_in_observation": False,
        "include_qfrc_actuator_in_observation": False,
        "include_cfrc_ext_in_observation": False,
    },
}


def world(name: str, **kw) -> MaMuJoCo:
    robot, partition = name.split("-")
    return MaMuJoCo(robot, partition, backend=kw.pop("backend", "spring"), **kw)


def gym_mamujoco(name: str, k: int):
    mamujoco_v1 = pytest.importorskip("gymnasium_robotics.envs.multiagent_mujoco.mamujoco_v1")
    robot, partition = name.split("-")
    extra = NO_BODY_FEATURES.get(robot, {})
    local = [["qpos", "qvel"]] + [["qpos"]] * k if extra else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mamujoco_v1.parallel_env(
            GYM_NAMES[robot], partition, agent_obsk=k, local_categories=local, **extra
        )


def _plain(name: str) -> str:
    return name.replace("_", "")  # brax's MJCF says hip_1 where MaMuJoCo's labels say hip1


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("name", SCENARIOS)
def test_partitions_and_observations_match_gymnasium_robotics(name, k):
    w = world(name, obsk=k)
    g = gym_mamujoco(name, k)
    ours = [sorted(_plain(w.graph.joints[j]) for j in agent) for agent in w.agents]
    theirs = [sorted(_plain(n.label) for n in part) for part in g.agent_action_partitions]
    assert ours == theirs
    # every actuator belongs to exactly one agent, every agent's slot drives one actuator
    owner = [tuple(o) for o in w.action_owner.tolist()]
    slots = [(i, s) for i, a in enumerate(w.agents) for s in range(len(a))]
    assert sorted(owner) == sorted(slots) and len(owner) == w.brax.sys.mj_model.nu
    # every observation index lies inside the state, padding reads the appended zero
    for i, size in enumerate(w.spec.obs_sizes):
        assert 0 <= w.obs_index[i, :size].min() and w.obs_index[i, :size].max() < w.spec.state_dim
        assert np.all(w.obs_index[i, size:] == w.spec.state_dim)
    sizes = tuple(g.observation_spaces[a].shape[0] for a in g.possible_agents)
    assert w.spec.action_sizes == tuple(g.action_spaces[a].shape[0] for a in g.possible_agents)
    if name.startswith("humanoid") and k > 0:
        # the tree links the hips to abdomen_x only; MaMuJoCo's hand-written graph links them to
        # all three abdomen joints (envs/mamujoco.py docstring)
        lower_body_sees = neighbourhood(w.graph.adjacency, w.agents[1], 1)[1]
        assert [w.graph.joints[j] for j in lower_body_sees] == ["abdomen_x"]
        assert w.spec.obs_sizes[1] == sizes[1] - 2 or k > 1
    else:
        assert w.spec.obs_sizes == sizes
    assert w.spec.state_dim == g.single_agent_env.observation_space.shape[0] or name.startswith(
        "humanoid"
    )


def test_humanoid_9x8_spells_9_bar_8_and_bad_partitions_fail():
    assert parse_name("mamujoco-humanoid-9x8") == parse_name("mamujoco-humanoid-9|8")
    assert parse_name("mamujoco-humanoid-9|8") == ("humanoid", "9|8")
    assert [len(a) for a in split_joints("9|8", 17)] == [9, 8]
    assert split_joints("2x3", 6) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="does not split the 6 actuated joints"):
        split_joints("4x2", 6)
    with pytest.raises(ValueError, match="unknown env"):
        make("mamujoco-halfcheetah")
    with pytest.raises(ValueError, match="unknown env 'mamujoco-cheetah-2x3'"):
        make("mamujoco-cheetah-2x3")
    with pytest.raises(ConfigError, match="mamujoco.backend"):
        tiny_config("env=mamujoco-halfcheetah-2x3", "mamujoco.backend=bullet")
    with pytest.raises(ConfigError, match="config key 'env'.*does not split"):
        tiny_config("env=mamujoco-ant-3x3")


@pytest.fixture(scope="module")
def cheetah():
    return world("halfcheetah-2x3")


def test_observations_are_the_joints_qpos_qvel_and_root_features(cheetah):
    w = cheetah
    state, ts = jax.jit(w.reset)(jax.random.PRNGKey(0))
    q, qd = np.asarray(state[0].pipeline_state.q), np.asarray(state[0].pipeline_state.qd)
    obs = np.asarray(ts.obs)
    assert np.allclose(np.asarray(ts.global_state), np.concatenate([q[1:], qd]), atol=1e-6)
    # back leg (agent 0), k=1: bfoot, bshin, bthigh (qpos, qvel), fthigh qpos,
    # root z and pitch, then root x, z and pitch velocities
    j = {n: i for i, n in enumerate(["rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot"])}
    j |= {"fthigh": 6}
    want = [q[j["bfoot"]], qd[j["bfoot"]], q[j["bshin"]], qd[j["bshin"]]]
    want += [q[j["bthigh"]], qd[j["bthigh"]], q[j["fthigh"]], q[1], q[2], qd[0], qd[1], qd[2]]
    assert np.allclose(obs[0], want, atol=1e-6)


def test_actions_reach_their_actuators():
    w = world("ant-4x2")
    actions = jnp.asarray([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])
    flat = np.asarray(w.joint_action(actions))
    model = w.brax.sys.mj_model
    import mujoco

    for i, joints in enumerate(w.agents):
        for s, jj in enumerate(joints):
            name = w.graph.joints[jj]
            act = [
                u
                for u in range(model.nu)
                if mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, model.actuator_trnid[u, 0])
                == name
            ]
            assert flat[act[0]] == pytest.approx(float(actions[i, s]))
    # brax's ant actuators run hip_4, ankle_4, hip_1, ...: agent 3 (leg 4) drives actuators 0, 1
    assert flat[:2] == pytest.approx([0.7, 0.8])


def test_truncation_at_the_limit_keeps_the_final_observation():
    w = world("halfcheetah-2x3", max_steps=3)
    env = AutoReset(w)
    state, ts = env.reset(jax.random.PRNGKey(1))
    step = jax.jit(env.step)
    actions = jnp.ones((2, 3))
    seen = []
    for _ in range(3):
        inner = state.env_state
        state, ts = step(state, actions)
        seen.append(ts)
    last = seen[-1]
    assert [bool(t.truncated) for t in seen] == [False, False, True]
    assert not any(bool(t.terminated) for t in seen)
    # the true last observation is kept; obs is the next episode's first
    direct = jax.jit(w.step)(inner, actions)[1]
    assert np.allclose(last.final_obs, direct.obs, atol=1e-5)
    assert np.allclose(last.obs, state.reset_timestep.obs)
    assert not np.allclose(last.final_obs, last.obs)
    assert np.isfinite(float(last.reward))


def test_staggered_first_episodes_end_at_spread_out_times():
    from acjax.envs.wrappers import EpisodeStats

    env = EpisodeStats(AutoReset(world("halfcheetah-2x3", max_steps=6)))
    keys = jax.random.split(jax.random.PRNGKey(3), 16)
    state, _ = jax.vmap(env.reset)(keys)
    state = jax.vmap(env.stagger)(state, keys)
    start = np.asarray(state.inner.env_state[1])
    assert start.min() >= 0 and start.max() < 6 and len(set(start.tolist())) > 2
    step = jax.jit(jax.vmap(env.step))
    ends = np.zeros((16, 8), bool)
    for t in range(8):
        state, ts = step(state, jnp.zeros((16, 2, 3)))
        ends[:, t] = np.asarray(ts.truncated)
    first_end = ends.argmax(axis=1)
    assert np.array_equal(first_end, 6 - start - 1)  # truncated after 6 - start steps
    unstaggered = world("halfcheetah-2x3", stagger=False)
    s0, _ = unstaggered.reset(keys[0])
    assert int(unstaggered.stagger(s0, keys[0])[1]) == 0


def test_a_fallen_hopper_terminates_not_truncates():
    w = world("hopper-3x1")
    state, _ = w.reset(jax.random.PRNGKey(0))
    bs, t = state
    ps = bs.pipeline_state
    fallen = bs.replace(pipeline_state=w.brax.pipeline_init(ps.q.at[1].set(-1.0), ps.qd))
    _, ts = jax.jit(w.step)((fallen, t), jnp.zeros((3, 1)))
    assert bool(ts.terminated) and not bool(ts.truncated)


@pytest.mark.parametrize(
    # ACPO has paths of its own here (the checkpoint of brax states, rendering); MAPPO, IPPO and
    # HAPPO run continuous actions in tests/test_train.py (make test-slow: all four here)
    "algo",
    [pytest.param("mappo", marks=pytest.mark.slow), pytest.param("ippo", marks=pytest.mark.slow),
     "acpo", pytest.param("happo", marks=pytest.mark.slow)],
)  # fmt: skip
def test_short_runs_on_halfcheetah_2x3(algo, tmp_path, monkeypatch, capsys, backend_compiles):
    cfg = tiny_config(
        "env=mamujoco-halfcheetah-2x3",
        "mamujoco.backend=spring",
        f"algo={algo}",
        "total_timesteps=384",  # 6 updates: 3 calls of 2
        tmp_path=tmp_path,
    )
    per_call = []
    local_value = acjax.run.local_value

    def counted(x):
        per_call.append(len(backend_compiles))
        return local_value(x)

    monkeypatch.setattr(acjax.run, "local_value", counted)
    summary = train(cfg)
    assert len(per_call) == 3 and per_call[1] == per_call[2], per_call  # no recompilation
    assert summary["env_steps"] == 384
    for f in ("config.yaml", "metrics.jsonl", "metrics.csv", "summary.json"):
        assert (tmp_path / f).is_file(), f
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for r in rows:
        assert np.isfinite([r["actor_loss"], r["value_loss"], r["entropy"], r["grad_norm"]]).all()
    if algo == "acpo":  # the checkpoint restores (brax states hold None fields) and renders
        from PIL import Image

        from acjax.cli import main

        path = tmp_path / "episode.gif"
        capsys.readouterr()
        assert main(["render", str(tmp_path), "--out", str(path), "--steps", "4"]) == 0
        said = capsys.readouterr().err.strip()  # 4 steps of a 1000-step episode: it says so
        assert said.startswith(f"wrote {path} (return ") and "nan" not in said, said
        assert said.endswith(" over the first 4 steps only: the episode goes on (--steps); "
                             "training returns are over whole episodes)"), said  # fmt: skip
        with Image.open(path) as gif:
            assert gif.n_frames == 4 and gif.size == (320, 240)
            frame = np.asarray(gif.convert("RGB"))
        assert frame.std() > 10  # a picture, not a blank image


def test_render_of_a_folder_that_is_no_run_is_a_one_line_error(tmp_path, capsys):
    from acjax.cli import main

    assert main(["render", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no config.yaml" in err


def test_a_config_error_on_a_mujoco_world_is_exactly_one_line():
    """In a fresh process (brax and MuJoCo loaded for the first time): nothing on stdout, and
    no notices about the optional `warp` package or MuJoCo's deprecated `settotalmass`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run(
        [sys.executable, "-m", "acjax.cli", "train", "env=mamujoco-halfcheetah-7x1"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.splitlines() == [
        "error: config key 'env': partition '7x1' does not split the 6 actuated joints (use NxK "
        "with N*K = 6, or sizes a|b|... summing to 6)"
    ], proc.stderr
