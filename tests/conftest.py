"""Shared fixtures. Two forced host devices so that the sharded paths run in every test.

Many tests compile the same tiny programs, so XLA's persistent compilation cache is on for the
test process (not for the command lines the tests start): a program compiled once is read back
by the next test (and by the other pytest-xdist worker). `ACJAX_TEST_COMPILE_CACHE=` (empty)
turns it off. Tests that count compiles use `backend_compiles`, which counts cache reads too.
"""

import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import jax  # noqa: E402
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


_CACHE = os.environ.get(
    "ACJAX_TEST_COMPILE_CACHE", os.path.join(tempfile.gettempdir(), f"acjax-test-xla-{os.getuid()}")
)
if _CACHE:
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


@pytest.fixture
def backend_compiles():
    """The executables XLA builds from here on: compiles, and reads from the persistent cache
    (a re-compile would show as either)."""
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *a, **k: compiles.append(name) if "backend_compile" in name else None
    )
    jax.monitoring.register_event_listener(
        lambda name, *a, **k: compiles.append(name) if name.endswith("cache_hits") else None
    )
    return compiles


@pytest.fixture
def tiny():
    return tiny_config
