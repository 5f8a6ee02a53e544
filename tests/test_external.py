"""The host-callback adapter with the original rware: one host call per step (also with a
vmapped seed axis), every instance stepped once per step, host auto-reset, truncation, the same
trajectories as stepping rware directly, and training through the fused trainer."""

import jax
import numpy as np
import pytest
from conftest import tiny_config

pytest.importorskip("rware")

from acjax.envs.external import RwareInstance, make_rware  # noqa: E402
from acjax.envs.wrappers import AutoReset, EpisodeStats  # noqa: E402
from acjax.harness import make_trainer  # noqa: E402


def _rollout(env, state, keys, shape):
    def body(s, k):
        a = jax.random.randint(k, shape, 0, 5)
        step = env.step
        for _ in range(len(shape) - 1):
            step = jax.vmap(step)
        s, ts = step(s, a)
        return s, (a, ts)

    return jax.lax.scan(body, state, keys)


@pytest.mark.parametrize("batch", [(4,), (2, 3)], ids=["envs", "seeds-x-envs"])
def test_one_host_call_per_step_and_every_instance_once(batch):
    w = make_rware("tiny", 2, "normal", max_steps=500)
    env = EpisodeStats(AutoReset(w))
    reset = env.reset
    for _ in batch:
        reset = jax.vmap(reset)
    keys = jax.random.split(jax.random.PRNGKey(0), int(np.prod(batch))).reshape(*batch, 2)
    state, ts = jax.jit(reset)(keys)
    assert ts.obs.shape == (*batch, 2, 71) and ts.global_state.shape == (*batch, 142)
    assert ts.obs.dtype == np.float32 and ts.action_mask.all()
    assert w.pool.host_calls == {"reset": 1, "step": 0}
    steps = 7
    roll = jax.jit(lambda s, k: _rollout(env, s, jax.random.split(k, steps), (*batch, 2)))
    state, (actions, out) = roll(state, jax.random.PRNGKey(1))
    jax.block_until_ready(out)
    assert w.pool.host_calls == {"reset": 1, "step": steps}
    assert w.pool.instance_steps == [steps] * int(np.prod(batch))
    assert out.reward.shape == (steps, *batch)


def test_same_trajectories_as_rware_itself_and_host_auto_reset():
    w = make_rware("tiny", 2, "normal", max_steps=5)
    env = AutoReset(w)
    state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(3), 2))
    seeds = list(w.pool.seeds)
    roll = jax.jit(lambda s, k: _rollout(env, s, jax.random.split(k, 8), (2, 2)))
    _, (actions, out) = roll(state, jax.random.PRNGKey(4))
    truncated = np.asarray(out.truncated)
    assert truncated[:, 0].tolist() == [False] * 4 + [True] + [False] * 3  # the 5-step limit
    assert not np.asarray(out.terminated).any()
    for i in range(2):  # rware stepped directly with the same seeds and actions
        direct = RwareInstance("rware-tiny-2ag-v2", 5)
        obs, _, _ = direct.reset(seeds[i])
        assert np.allclose(obs, ts.obs[i])
        for t in range(8):
            obs, state_vec, _, reward, _, _ = direct.step(np.asarray(actions[t, i]))
            assert np.allclose(obs, out.final_obs[t, i])
            assert np.allclose(state_vec, out.final_global_state[t, i])
            assert reward == pytest.approx(float(out.reward[t, i]))
            if truncated[t, i]:  # the host reset it with the instance's next seed
                obs, _, _ = direct.reset(seeds[i] + 1_000_003)
            assert np.allclose(obs, out.obs[t, i])


def test_training_through_the_adapter_steps_each_instance_once_per_step(tmp_path):
    cfg = tiny_config("env=external-rware-tiny-2ag", "devices=1", "num_seeds=2")
    trainer = make_trainer(cfg, devices=jax.devices()[:1])
    pool = trainer.env.env.env.pool
    learner, runner = trainer.init()
    fn = trainer.compile(learner, runner, 2)
    learner, runner, metrics = fn(learner, runner)
    jax.block_until_ready(metrics)
    steps = 2 * cfg.ppo.rollout_len
    assert pool.host_calls["step"] == steps  # one call per step for 2 seeds x 8 envs
    assert pool.instance_steps == [steps] * (2 * cfg.num_envs)
    assert np.isfinite(np.asarray(metrics["actor_loss"])).all()


def test_handles_of_a_resumed_run_get_fresh_instances():
    w = make_rware("tiny", 2, "normal", max_steps=500)
    pool = w.pool
    ids, obs, _, _, *_ = pool.step(np.asarray([2, 0]), np.asarray([0, 0]), np.zeros((2, 2), int))
    assert ids.tolist() == [2, 0] and len(pool.executor.instances) == 3 and obs.shape == (2, 2, 71)
    assert pool.instance_steps == [1, 0, 1] and pool.restarts == 0


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_pettingzoo_simple_spread_through_the_adapter(continuous):
    pytest.importorskip("mpe2")
    from acjax.envs.external import PettingZooInstance, make_pettingzoo

    kwargs = {"continuous_actions": continuous}
    w = make_pettingzoo("mpe2.simple_spread_v3", kwargs)
    s = w.spec
    assert (s.num_agents, s.obs_dim, s.state_dim, s.num_actions, s.max_steps) == (3, 18, 54, 5, 25)
    assert s.continuous == continuous and (
        not continuous or (s.action_low, s.action_high) == (0, 1)
    )
    env = AutoReset(w)
    state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(5), 2))
    seeds = list(w.pool.seeds)

    def body(st, k):
        if continuous:
            a = jax.random.uniform(k, (2, 3, 5))
        else:
            a = jax.random.randint(k, (2, 3), 0, 5)
        st, out = jax.vmap(env.step)(st, a)
        return st, (a, out)

    steps = 27
    _, (actions, out) = jax.jit(lambda st, k: jax.lax.scan(body, st, jax.random.split(k, steps)))(
        state, jax.random.PRNGKey(6)
    )
    assert w.pool.host_calls == {"reset": 1, "step": steps}
    assert w.pool.instance_steps == [steps, steps]
    assert np.asarray(out.truncated)[:, 0].nonzero()[0].tolist() == [24]  # the 25-step limit
    direct = PettingZooInstance("mpe2.simple_spread_v3", kwargs)  # the same seeds and actions
    obs, _, _ = direct.reset(seeds[1])
    assert np.allclose(obs, ts.obs[1])
    for t in range(steps):
        obs, st, _, reward, _, truncated = direct.step(np.asarray(actions[t, 1]))
        assert np.allclose(obs, out.final_obs[t, 1], atol=1e-6)
        assert np.allclose(st, out.final_global_state[t, 1], atol=1e-6)
        assert reward == pytest.approx(float(out.reward[t, 1]), rel=1e-5, abs=1e-6)
        if truncated:
            obs, _, _ = direct.reset(seeds[1] + 1_000_003)
        assert np.allclose(obs, out.obs[t, 1], atol=1e-6)


def test_pettingzoo_options_and_errors_through_the_config(tmp_path):
    pytest.importorskip("mpe2")
    from acjax.config import ConfigError, load_config, to_dict

    cfg = tiny_config("env=pettingzoo:mpe2.simple_spread_v3", "env_kwargs.continuous_actions=true")
    assert cfg.env_kwargs == {"continuous_actions": True}
    assert make_trainer(cfg, devices=jax.devices()[:1]).spec.continuous
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert load_config(tmp_path / "c.yaml", []).env_kwargs == {"continuous_actions": True}
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        tiny_config("env=pettingzoo:no_such_module")
    with pytest.raises(ConfigError, match="env_kwargs: .*no_such_option"):
        tiny_config("env=pettingzoo:mpe2.simple_spread_v3", "env_kwargs.no_such_option=1")
    with pytest.raises(ConfigError, match="config key 'env_kwargs': expected a mapping"):
        tiny_config("env_kwargs=3")


def test_default_run_folder_names_are_plain():
    from acjax.cli import resolve_config

    cfg = resolve_config(None, ["env=pettingzoo:mpe2.simple_spread_v3"], check=False, stamp="s")
    assert cfg.run_dir == "runs/pettingzoo-mpe2.simple_spread_v3-mappo-s"
