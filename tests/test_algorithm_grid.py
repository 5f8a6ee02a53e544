"""Every algorithm on every kind of world it accepts, a few updates each: finite metrics, and the
metric names of every row are the family's, the world's and the algorithm's diagnostics (an
off-policy algorithm on an external world once dropped the world's `restarts` and crashed the
host loop). Worlds it does not accept are one-line config errors. One combination of each
family on each kind of world runs in `make test`; the rest of the grid in `make test-slow`."""

import json
import math
from functools import partial

import pytest
from conftest import tiny_config

from acjax.algos import REGISTRY
from acjax.config import ConfigError
from acjax.run import train

MPE = ["env=pettingzoo:mpe2.simple_spread_v3", "num_envs=2"]
OFF = ["td3.warmup_steps=16", "td3.batch_size=8", "td3.train_interval=4", "total_timesteps=96"]
VALUE = [
    "q.episode_len=4", "q.batch_episodes=8", "q.buffer_episodes=32", "q.agent_hidden=[16]",
    "q.rnn_hidden=8", "q.mixing_embed=8", "q.hypernet_embed=8", "total_timesteps=96",
]  # fmt: skip
EXTRA = {"onpolicy": ["total_timesteps=128"], "offpolicy": OFF, "valuebased": VALUE}
LOSSES = {  # the family's losses (finite in every row) and other metrics it reports
    "onpolicy": (("actor_loss",), ("value_loss",)),
    "offpolicy": (("critic_loss", "actor_loss"), ("q_mean",)),
    "valuebased": (("q_loss",), ("q_taken", "epsilon")),
}
WORLDS = {  # kind -> (overrides, needs continuous-action algorithms?)
    "warehouse": (["env=rware-tiny-2ag"], False),
    "matrix-continuous": (["env=matrix-continuous"], True),
    "mamujoco": (["env=mamujoco-halfcheetah-2x3", "mamujoco.max_steps=20"], True),
    "pettingzoo-discrete": (MPE, False),
    "pettingzoo-continuous": ([*MPE, "env_kwargs.continuous_actions=true"], True),
    "smac-standin": ([], False),
}
FAST = {  # one of each family on each kind of world: make test
    ("mappo", "warehouse"), ("acpo", "smac-standin"), ("happo", "matrix-continuous"),
    ("maddpg", "pettingzoo-continuous"), ("ippo", "pettingzoo-discrete"),
    ("ac_td3", "matrix-continuous"), ("qmix", "warehouse"),
}  # fmt: skip


def _world(kind):
    if kind != "smac-standin":
        return None
    from smac_standin import SmacStandIn

    from acjax.envs.external import make_smac_style

    return make_smac_style("standin", partial(SmacStandIn, episode_limit=6))


def _cases():
    for algo, info in REGISTRY.items():
        for kind, (_, continuous) in WORLDS.items():
            if info.continuous_only and not continuous:
                continue  # a config error: test_off_policy_needs_continuous_actions
            if info.discrete_only and continuous:
                continue  # a config error: test_value_based_needs_discrete_actions
            slow = (algo, kind) not in FAST
            yield pytest.param(algo, kind, id=f"{algo}-{kind}", marks=[pytest.mark.slow] * slow)


@pytest.mark.parametrize("algo, kind", list(_cases()))
def test_every_algorithm_trains_on_every_world_it_accepts(algo, kind, tmp_path):
    over, _ = WORLDS[kind]
    family = REGISTRY[algo].family
    extra = EXTRA[family]
    cfg = tiny_config(f"algo={algo}", *over, *extra, tmp_path=tmp_path)
    summary = train(cfg, env=_world(kind))
    assert summary["status"] == "finished"
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows and {r["update"] for r in rows} == set(range(1, summary["updates"] + 1))
    world = {"pettingzoo": ("restarts",), "smac": ("win_rate", "restarts")}
    expected = {"episode_return", "episodes", *world.get(kind.split("-")[0], ())}
    losses, others = LOSSES[family]
    expected |= {*losses, *others}
    for row in rows:
        assert expected <= set(row), expected - set(row)
        for k in losses:
            assert row[k] is not None and math.isfinite(row[k]), (k, row)


@pytest.mark.parametrize("algo", [a for a, i in REGISTRY.items() if i.off_policy])
def test_off_policy_needs_continuous_actions(algo, tmp_path):
    with pytest.raises(ConfigError, match=rf"^config key 'algo': {algo} needs continuous actions"):
        train(tiny_config(f"algo={algo}", "env=rware-tiny-2ag", *OFF, tmp_path=tmp_path))


@pytest.mark.parametrize("algo", [a for a, i in REGISTRY.items() if i.discrete_only])
def test_value_based_needs_discrete_actions(algo, tmp_path):
    with pytest.raises(ConfigError, match=rf"^config key 'algo': {algo} needs discrete actions"):
        train(tiny_config(f"algo={algo}", "env=matrix-continuous", *VALUE, tmp_path=tmp_path))
