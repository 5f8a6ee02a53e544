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

import flashbax as fbx
import jax
import jax.numpy as jnp


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
