"""The presets of the ACPO authors' settings (experiments/authors/, docs/acpo.md §8): every file
loads, and each task's keys carry the numbers of the authors' files (their repository
dematsunaga/agent-chained-policy-optimization, commit a9238ce), transcribed below."""

import re
from functools import cache
from pathlib import Path

import pytest

from acjax.config import ConfigError, load_config

AUTHORS = Path(__file__).resolve().parents[1] / "experiments" / "authors"
FILES = sorted(AUTHORS.glob("*/*.yaml"))
TASK_FILES = [f for f in FILES if not f.stem.startswith("base")]
ALGOS = ("mappo", "acpo", "happo")
NO_CLIP = 1e9  # their MAPPO and ACPO files set no `grad_clip`: a norm bound no gradient reaches


@cache
def preset(path: Path):
    """The task preset at `path`, validated. SMACv2's worlds need StarCraft II: where it is
    missing, the world is exactly the one-line error saying so and the other keys are checked
    on a stand-in world (as tests/test_config.py does for experiments/smacv2/)."""
    cfg = load_config(path, check=False)
    from acjax.envs.external import smacv2_missing

    missing = smacv2_missing() if cfg.env.startswith("smacv2-") else None
    if missing:
        with pytest.raises(ConfigError) as err:
            load_config(path)
        message = str(err.value)
        expected = rf"config key 'env': {re.escape(cfg.env)}: {re.escape(missing)}; install"
        assert re.match(expected, message) and "\n" not in message, message
        load_config(path, ["env=matrix-table1"])
    else:
        load_config(path)
    return cfg


def marllib_batch(batch_episode: int, sgd_minibatch_episode: int, limit: int) -> tuple[int, int]:
    """MARLlib's batch rule (their `marllib/marl/algos/scripts/{mappo,acppo,happo}.py`): steps of
    one update and of one SGD minibatch."""
    minibatch = sgd_minibatch_episode * limit
    while minibatch < limit:
        minibatch *= 2
    return batch_episode * limit, minibatch


def presets(folder: str) -> dict[tuple[str, str], object]:
    """(task, algo) -> config of the task presets in experiments/authors/<folder>/."""
    out = {}
    for f in TASK_FILES:
        if f.parent.name == folder:
            task, algo = f.stem.rsplit("-", 1)
            out[task, algo] = preset(f)
    return out


def test_every_preset_loads():
    assert {f.parent.name for f in FILES} == {"rware", "mamujoco", "smacv2"}
    for f in FILES:
        if f.stem.startswith("base"):  # not a run (no world): its names and types
            load_config(f, check=False)
            continue
        cfg = preset(f)
        task, algo = f.stem.rsplit("-", 1)
        assert cfg.algo == algo and cfg.env.startswith(f"{f.parent.name}-{task}"), f


def check_backbone(cfg, rollout: int, batch_episode: int, sgd_minibatch_episode: int):
    """RLlib 1.8's PPO as MARLlib configures it: the batch, MSE without value normalization."""
    steps, minibatch = marllib_batch(batch_episode, sgd_minibatch_episode, rollout)
    assert cfg.ppo.rollout_len == rollout and cfg.num_envs == batch_episode
    assert cfg.batch_steps == steps and steps // cfg.ppo.num_minibatches == minibatch
    assert cfg.ppo.value_loss == "mse" and not cfg.ppo.value_norm and cfg.ppo.adv_norm
    assert cfg.num_seeds == 3


Q_ALGOS = ("qmix", "vdn")


def check_q_preset(cfg):
    """`finetuned/rware/{qmix,vdn}.yaml` and MARLlib's networks (experiments/authors/rware/
    base-q.yaml)."""
    q = cfg.q
    assert (q.batch_episodes, q.buffer_episodes, q.target_update_episodes) == (32, 1000, 200)
    assert (q.epsilon_start, q.epsilon_finish, q.epsilon_anneal_steps) == (1.0, 0.05, 50_000)
    assert (q.optimizer, q.lr, q.reward_standardize, q.double_q) == ("adam", 1e-3, True, True)
    assert (q.gamma, q.max_grad_norm, q.n_step, q.episode_len) == (0.99, 10, 1, 500)
    assert q.agent_hidden == (128, 256) and q.rnn_hidden == 256
    assert (q.mixing_embed, q.hypernet_embed) == (256, 0)
    assert cfg.num_envs == 16 and cfg.num_seeds == 3


def test_warehouse_presets_are_the_authors():
    # `finetuned/rware/{mappo,acppo,happo}.yaml`, `condor-scripts/main_condor_rware.py`
    budgets = {"small-8ag-hard": 60_000_000, "tiny-12ag-hard": 60_000_000}
    budgets["small-12ag-hard"] = 100_000_000
    tasks = ["tiny-2ag-easy", "tiny-4ag", "tiny-8ag-hard", "small-2ag-easy", "small-4ag"]
    tasks += ["small-8ag-hard", "tiny-12ag-hard", "small-12ag-hard"]
    found = presets("rware")
    assert set(found) == {(t, a) for t in tasks for a in (*ALGOS, "hatrpo", *Q_ALGOS)}
    for (task, algo), cfg in found.items():
        assert cfg.env == f"rware-{task}-c1-v1-mean"
        assert cfg.total_timesteps == budgets.get(task, 40_000_000)
        if algo in Q_ALGOS:
            check_q_preset(cfg)
            continue
        p = cfg.ppo
        assert (p.gamma, p.gae_lambda, p.value_clip, p.max_grad_norm) == (0.99, 0.95, 10, 10)
        assert cfg.net.activation == "tanh" and p.adam_eps == 1e-8  # RLlib's default, torch's
        assert p.complete_episodes and p.num_minibatches == 1
        if algo == "hatrpo":  # `finetuned/rware/hatrpo.yaml`, MARLlib's TrustRegionUpdator
            check_backbone(cfg, 500, 10, 10)
            assert (p.epochs, p.lr, p.critic_lr, p.clip_eps, p.kl_coef) == (1, 5e-5, 5e-5, 0.2, 0)
            h = cfg.hatrpo
            assert (h.kl_threshold, h.accept_ratio, h.ls_step, h.backtrack_coeff) == (
                0.01, 0.5, 15, 0.8,
            )  # fmt: skip
            assert (h.cg_iters, h.cg_damping) == (10, 0.1) and not cfg.net.share_params
            continue
        check_backbone(cfg, 500, 16, 16)
        assert p.epochs == 10
        assert (p.clip_eps, p.kl_coef, p.lr, p.ent_coef) == (0.01, 0.2, 5e-4, 0.01)
        if algo == "acpo":
            a = cfg.acpo
            assert (a.belief, a.critic_prefix, a.lambda_micro) == ("net", "predicted", 0.95)
            assert a.belief_hidden == (64, 64) and a.belief_lr == 1e-3


# `finetuned/mamujoco_<robot>/{mappo,acppo,happo}.yaml`: batch_episode, sgd_minibatch_episode,
# num_sgd_iter, clip_param, vf_clip_param, entropy_coeff, whether the lr decays (min_lr_schedule)
MAMUJOCO = {
    "ant": (5, 1, 5, 0.1, 10.0, 0.0, False),
    "halfcheetah": (5, 1, 15, 0.05, 10.0, 0.0, False),
    "walker2d": (5, 1, 5, 0.1, 10.0, 0.0, False),
    "humanoid": (4, 1, 5, 0.1, 100.0, 0.0, True),
}


def test_mamujoco_presets_are_the_authors():
    # their six tasks (`condor-scripts/main_condor_mamujoco.py`) as acjax's worlds
    tasks = ["ant-2x4", "ant-4x2", "halfcheetah-2x3", "halfcheetah-6x1", "walker2d-2x3"]
    tasks += ["humanoid-9x8"]
    found = presets("mamujoco")
    assert set(found) == {(t, a) for t in tasks for a in ALGOS}
    for (task, algo), cfg in found.items():
        episodes, sgd_episodes, epochs, clip, vf_clip, ent, decay = MAMUJOCO[task.split("-")[0]]
        assert cfg.env == f"mamujoco-{task}" and cfg.total_timesteps == 10_000_000
        check_backbone(cfg, 1000, episodes, sgd_episodes)
        p = cfg.ppo
        assert cfg.mamujoco.max_steps == 1000 and not p.complete_episodes
        assert (p.epochs, p.clip_eps, p.value_clip, p.ent_coef) == (epochs, clip, vf_clip, ent)
        assert p.lr_decay == decay and (p.kl_coef, p.lr, p.critic_lr) == (0.2, 5e-4, 5e-4)
        assert (p.gamma, p.gae_lambda) == (0.99, 0.95)
        assert (p.max_grad_norm == 10) if algo == "happo" else (p.max_grad_norm > NO_CLIP)
        assert cfg.net.actor_hidden == (128, 256) and cfg.net.activation == "tanh"
        assert not cfg.net.share_params  # `--share_policy individual`
        if algo == "acpo":
            a = cfg.acpo
            assert (a.belief, a.critic_prefix, a.lambda_micro) == ("sample", "predicted", 0.95)


# `finetuned/smacv2/{mappo,acppo,happo}.yaml`: batch_episode, sgd_minibatch_episode,
# num_sgd_iter, clip_param, vf_clip_param, entropy_coeff, lambda, kl_coeff, grad_clip
SMACV2 = {
    "mappo": (8, 8, 10, 0.1, 20.0, 0.0, 0.99, 0.2, None),
    "acpo": (8, 8, 10, 0.1, 20.0, 0.0, 0.99, 0.2, None),
    "happo": (16, 16, 5, 0.05, 20.0, 0.01, 0.95, 0.0, 10.0),
}


def test_smacv2_presets_are_the_authors():
    # their four tasks (`condor-scripts/main_condor_smac.py`), SMACv2's episode limit 200
    tasks = ["zerg_5_vs_5", "protoss_10_vs_11", "terran_10_vs_11", "protoss_5_vs_5"]
    found = presets("smacv2")
    assert set(found) == {(t, a) for t in tasks for a in ALGOS}
    for (task, algo), cfg in found.items():
        episodes, sgd_episodes, epochs, clip, vf_clip, ent, lam, kl, grad = SMACV2[algo]
        assert cfg.env == f"smacv2-{task}" and cfg.total_timesteps == 10_000_000
        check_backbone(cfg, 200, episodes, sgd_episodes)
        p = cfg.ppo
        assert (p.epochs, p.clip_eps, p.value_clip, p.ent_coef) == (epochs, clip, vf_clip, ent)
        assert (p.gae_lambda, p.kl_coef, p.gamma, p.lr, p.lr_decay) == (lam, kl, 0.99, 5e-4, False)
        assert (p.max_grad_norm == grad) if grad else (p.max_grad_norm > NO_CLIP)
        assert cfg.net.rnn == "gru" and cfg.net.rnn_hidden == 64 and cfg.net.actor_hidden == (64,)
        assert cfg.external.workers == cfg.num_envs
        if algo == "acpo":
            a = cfg.acpo
            assert (a.belief, a.critic_prefix, a.lambda_micro) == ("net", "predicted", 0.99)
            assert a.belief_hidden == (48, 48) and a.belief_lr == 1e-3
