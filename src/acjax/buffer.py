"""Replay inside the compiled program for the off-policy and value-based algorithms: flashbax's
trajectory buffer (a maintained JAX library: its state is a pytree of arrays, so it is vmapped
over seeds, sharded over devices with the environments and saved in checkpoints with the
runner).

Each environment has its own ring of `capacity` transitions along a time axis; a step adds one
transition per environment, in order, overwriting the oldest once the ring is full. A sample is
`batch` windows of `window` consecutive transitions of one environment, drawn uniformly among the
windows that lie wholly in written slots and do not cross the write position (k-step targets,
`acjax.td`). Sampling needs at least `window` transitions per environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import flashbax as fbx
import jax
import jax.numpy as jnp

from acjax.config import ConfigError

GIB = 2**30


def make_buffer(envs: int, capacity: int, batch: int, window: int):
    """A flashbax trajectory buffer for `envs` environments of `capacity` transitions each:
    `init(transition)`, `add(state, [envs, T, ...])`, `sample(state, key).experience`
    [batch, window, ...], `can_sample(state)`."""
    if capacity < window:
        raise ValueError(f"replay capacity {capacity} per environment < window {window}")
    return fbx.make_trajectory_buffer(
        add_batch_size=envs,
        sample_batch_size=batch,
        sample_sequence_length=window,
        period=1,
        min_length_time_axis=window,
        max_length_time_axis=capacity,
    )


def make_episode_buffer(envs: int, capacity: int, batch: int):
    """Replay of whole episodes for the value-based algorithms (`acjax.valuebased`): each
    environment has its own ring of `capacity` episodes (an item is one episode's arrays
    [L, ...], L the update's episode length), an update adds one episode per environment, and a
    sample is `batch` stored episodes drawn uniformly (`sample(state, key).experience`
    [batch, 1, L, ...]): a sequence never crosses the write position, every one is a whole
    episode from its reset."""
    return fbx.make_trajectory_buffer(
        add_batch_size=envs,
        sample_batch_size=batch,
        sample_sequence_length=1,
        period=1,
        min_length_time_axis=1,
        max_length_time_axis=capacity,
    )


def sample_added(buffer, old, episode, key):
    """`buffer.sample(buffer.add(old, episode), key).experience[:, 0]` ([batch, L, ...]; episode
    [envs, 1, ...]) read from `old` and `episode`, without the add: the same draws (flashbax's
    add and sample run on an index map of the replay with `old`'s write position), each drawn
    episode taken from `old` or, at the slot the add writes, from `episode`.

    Why: the trainer adds to the replay in place and samples from the result. Sampled from the
    added replay, XLA (CPU) fuses the add's write into the gathers, and a gather that reads the
    replay while it is written in place costs a copy of the replay's arrays (two, inside the
    harness's update loop) every update. Read from `old` by gathers that the add waits for
    (`acjax.valuebased.QTrainer.update`), the replay is written in place and only the drawn
    episodes are read."""
    exp = old.experience
    envs, capacity = jax.tree.leaves(exp)[0].shape[:2]
    ids = {
        "env": jnp.broadcast_to(jnp.arange(envs)[:, None], (envs, capacity)),
        "time": jnp.broadcast_to(jnp.arange(capacity)[None, :], (envs, capacity)),
    }
    index = old.replace(experience=ids)
    added = buffer.add(index, jax.tree.map(lambda x: x[:, :1], ids))  # its write position
    drawn = buffer.sample(added.replace(experience=ids), key).experience
    env, time = drawn["env"][:, 0], drawn["time"][:, 0]  # [batch]
    written = time == old.current_index  # the slot `add` writes (one item per environment)

    def take(x, ep):
        hit = written.reshape(written.shape + (1,) * (x.ndim - 2))
        return jnp.where(hit, ep[env, 0], x[env, time])

    return jax.tree.map(take, exp, episode)


def host_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower."""
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return have
    return min(have, int(limit)) if limit.isdigit() else have


def check_replay_memory(cfg, init_runner, key: str, unit: str, written: int, layout) -> None:
    """A one-line error, before anything is allocated, where the replay of every run of cfg
    (`init_runner(key).buffer`, evaluated abstractly; `layout`: the harness's
    `acjax.harness.Layout`, its runs and devices) would not fit: the error
    names `key`, the memory the replay takes and the amount (`written`, in `unit`s of `key`) that
    the run's budget writes per run. A replay of at least that size gives the same samples as a
    larger one (flashbax draws among the written items only, and a ring that never wraps starts
    at its first slot), so the error can say which smaller setting changes nothing.

    On CPU the replay lives in host memory, and a checkpoint copies it there once more (orbax
    saves a host copy): measured on smacv2_10_units, a 1.74 GiB replay raised the process's peak
    RSS by 3.3 GiB, so the check asks for 2x the replay within 90% of the host's memory. On an
    accelerator each device holds its share of the replay (within 90% of its memory limit), and
    the host the checkpoint's copy."""
    replay = jax.eval_shape(init_runner, jax.random.PRNGKey(0)).buffer
    runs, devices = layout.num_runs, layout.devices
    total = runs * sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(replay))
    host, cpu = host_memory(), devices[0].platform == "cpu"
    checks = [(2 * total if cpu else total, host, "this machine", "with a checkpoint's copy")]
    limit = None if cpu else (devices[0].memory_stats() or {}).get("bytes_limit")
    if limit:
        checks.append((total / len(devices), limit, f"one {devices[0].device_kind}", "a share"))
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    for need, have, where, what in checks:
        if need <= 0.9 * have:
            continue
        hint = f"lower {key} or num_seeds"
        if written < value:  # the size the budget fills: the same results, less memory
            hint = (
                f"this budget writes {written:,} per run, and {key}={written} gives the same "
                f"results in {need * written / value / GIB:.1f} GiB"
            )
        raise ConfigError(
            f"config key '{key}': {value:,} {unit} of replay for {runs} run(s) take "
            f"{total / GIB:.1f} GiB ({need / GIB:.1f} GiB {what}), more than 90% of the "
            f"{have / GIB:.1f} GiB of {where}; {hint}"
        )
