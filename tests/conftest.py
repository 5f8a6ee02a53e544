"""Shared fixtures. Two forced host devices so that the sharded paths run in every test."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import pytest  # noqa: E402

from acjax.config import load_config  # noqa: E402

TINY = [
    "num_envs=8",
    "ppo.rollout_len=8",
    "ppo.epochs=2",
    "ppo.num_minibatches=2",
    "updates_per_call=2",
    "net.actor_hidden=[16]",
    "net.critic_hidden=[16]",
    "progress=false",
    "checkpoint_interval_s=0",
]


def tiny_config(*overrides: str, tmp_path=None):
    """A small, quick config; `total_timesteps` defaults to 4 updates."""
    extra = [f"run_dir={tmp_path}"] if tmp_path is not None else []
    return load_config(None, [*TINY, "total_timesteps=256", *extra, *overrides])


@pytest.fixture
def tiny():
    return tiny_config
