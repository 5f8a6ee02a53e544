"""The JaxMARL peer benchmark's translation of the peer's settings into acjax's config
(benchmarks/jaxmarl_peer.py `acjax_overrides`), without the peer's source tree."""

import importlib.util
import sys
from pathlib import Path

from acjax.config import load_config

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "jaxmarl_peer.py"

# JaxMARL's baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml (c793d09), for a 3-update run
MAPPO_SMAX = {
    "LR": 0.002, "NUM_ENVS": 128, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 3 * 128 * 128,
    "FC_DIM_SIZE": 128, "GRU_HIDDEN_DIM": 128, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "SCALE_CLIP_EPS": False,
    "ENT_COEF": 0.0, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.25, "ACTIVATION": "relu",
    "OBS_WITH_AGENT_ID": True, "ENV_NAME": "HeuristicEnemySMAX", "MAP_NAME": "2s3z",
    "ANNEAL_LR": True,
}  # fmt: skip
# baselines/IPPO/config/ippo_ff_mpe.yaml, for a 10-update run
IPPO_MPE = {
    "LR": 2.5e-4, "NUM_ENVS": 16, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 10 * 16 * 128,
    "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh", "ENV_NAME": "MPE_simple_spread_v3", "ANNEAL_LR": True,
}  # fmt: skip


def _load():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("acjax_bench_jaxmarl_peer", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mappo_smax_settings_translate():
    cfg = load_config(None, _load().acjax_overrides("mappo", MAPPO_SMAX, 5))
    assert (cfg.env, cfg.algo, cfg.num_envs, cfg.total_timesteps) == (
        "smax-2s3z",
        "mappo",
        128,
        3 * 128 * 128,
    )
    assert cfg.updates_per_call == 3
    p = cfg.ppo
    assert (p.rollout_len, p.chunk_len, p.epochs, p.num_minibatches) == (128, 128, 4, 4)
    assert (p.lr, p.critic_lr, p.lr_decay, p.max_grad_norm) == (0.002, 0.002, True, 0.25)
    assert (p.clip_eps, p.value_clip, p.value_loss, p.value_norm, p.ent_coef) == (
        0.2,
        0.2,
        "mse",
        False,
        0.0,
    )
    assert (cfg.net.actor_hidden, cfg.net.rnn, cfg.net.rnn_hidden) == ((128,), "gru", 128)
    # the SMAX preset at JaxMARL's settings agrees with the translation
    root = Path(__file__).resolve().parents[1]
    preset = load_config(root / "experiments/smax/smacv2_5_units-jaxmarl-mappo.yaml")
    keys = ("rollout_len", "chunk_len", "epochs", "num_minibatches", "lr", "critic_lr", "lr_decay")
    keys += ("clip_eps", "value_clip", "max_grad_norm", "gamma", "gae_lambda", "ent_coef")
    for key in (*keys, "value_loss", "value_norm", "adv_norm", "adam_eps"):
        assert getattr(preset.ppo, key) == getattr(p, key), key
    assert (preset.net.actor_hidden, preset.net.rnn_hidden) == (
        cfg.net.actor_hidden,
        cfg.net.rnn_hidden,
    )


def test_ippo_mpe_settings_and_scaled_clip():
    mod = _load()
    cfg = load_config(None, mod.acjax_overrides("ippo", IPPO_MPE, 3))
    assert (cfg.env, cfg.num_envs, cfg.net.rnn, cfg.net.activation) == (
        "jaxmarl:MPE_simple_spread_v3",
        16,
        "none",
        "tanh",
    )
    assert (cfg.net.actor_hidden, cfg.ppo.ent_coef, cfg.ppo.max_grad_norm) == ((64, 64), 0.01, 0.5)
    scaled = load_config(
        None, mod.acjax_overrides("mappo", {**MAPPO_SMAX, "SCALE_CLIP_EPS": True}, 5)
    )
    assert abs(scaled.ppo.clip_eps - 0.04) < 1e-12
