"""Orbax checkpoints of the whole training state at call boundaries (keep the last few)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, update: int, state: Any) -> None:
        state = jax.tree.map(lambda x: x if x.size else None, state)  # Orbax refuses empty arrays
        self.manager.save(update, args=ocp.args.StandardSave(state), force=True)
        self.manager.wait_until_finished()

    @staticmethod
    def latest_in(directory: str | Path) -> int | None:
        """The newest checkpoint step in `directory` (None: none), without writing anything."""
        directory = Path(directory).absolute()
        if not directory.is_dir():
            return None
        manager = ocp.CheckpointManager(
            directory, options=ocp.CheckpointManagerOptions(create=False)
        )
        try:
            return manager.latest_step()
        finally:
            manager.close()

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, update: int, like: Any) -> Any:
        """Restore into the structure, shapes, dtypes and shardings of `like`."""
        abstract = jax.tree.map(
            lambda x: (
                jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) if x.size else None
            ),
            like,
        )
        restored = self.manager.restore(update, args=ocp.args.StandardRestore(abstract))
        # empty arrays (memories of feed-forward networks) are not stored: take them from `like`
        # (None fields of a world's state, brax's among them, stay None)
        none = lambda x: x is None
        leaves, treedef = jax.tree.flatten(like, is_leaf=none)
        got = jax.tree.leaves(restored, is_leaf=none)
        return treedef.unflatten(
            [x if x is None or not x.size else r for x, r in zip(leaves, got, strict=True)]
        )

    def close(self) -> None:
        self.manager.close()
