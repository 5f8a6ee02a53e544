"""Orbax checkpoints of the whole training state at call boundaries (keep the last few).

A save is atomic from the run's point of view: Orbax writes a step into
`<step>.orbax-checkpoint-tmp` and renames it to `<step>` only when complete, and lists only the
renamed ones, so a process killed mid-save leaves no step that resume would trust. Files
damaged afterwards (a full disk, an interrupted copy) are found on restore:
`Checkpointer.restore_newest` falls back to the next older step.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


def _quiet_closed_loops() -> None:
    """Drop the `Event loop is closed` errors of Orbax's restore after a failed read.

    Orbax runs each restore in a fresh asyncio loop and closes it when the first read fails;
    TensorStore's reads still in flight then finish and call back into the closed loop from
    their own threads, each a traceback on stderr via `sys.unraisablehook`; the other reads'
    futures (or tasks) are collected with their errors unread, each an `asyncio` log record
    "Future (Task) exception was never retrieved" holding a TensorStore read error. Only those
    two are dropped; everything else reaches the previous hook and the log."""
    previous = sys.unraisablehook
    if getattr(previous, "_acjax_quiet", False):
        return
    logging.getLogger("asyncio").addFilter(_abandoned_reads)

    def hook(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return
        code = getattr(unraisable.object, "cr_code", None)  # a read coroutine left unfinished
        if code is not None and ("orbax" in code.co_filename or "tensorstore" in code.co_filename):
            return
        previous(unraisable)

    hook._acjax_quiet = True
    sys.unraisablehook = hook


def _abandoned_reads(record: logging.LogRecord) -> bool:
    """False (drop) for asyncio's report of a TensorStore read error nobody waited for (a
    future's, or a task's: which one asyncio names depends on where the read was abandoned)."""
    unretrieved = ("Future exception was never retrieved", "Task exception was never retrieved")
    if not str(record.msg).startswith(unretrieved):
        return True
    error = record.exc_info[1] if record.exc_info else None  # asyncio logs it with exc_info
    text = f"{error} {record.getMessage()}"
    return not any(k in text for k in ("OUT_OF_RANGE", "DATA_LOSS", "tensorstore", "OCDBT"))


def _reason(e: BaseException) -> str:
    """The first line of an error, short enough for a one-line message (TensorStore's errors
    nest: the kind of error comes first, the file and what went wrong with it last; the spec
    and the object it appends say nothing more)."""
    lines = str(e).strip().splitlines()
    line = lines[0] if lines else type(e).__name__
    line = re.split(r"\s*(?:\[tensorstore_spec|See full TensorStore details)", line)[0]
    return line if len(line) <= 240 else f"{line[:110]} ... {line[-125:]}"


def _shapes(tree: Any) -> dict[str, tuple]:
    """Each array's path (`learner.params.actor...`, whatever the containers) and shape;
    the empty arrays, which are not stored, left out."""

    def name(k) -> str:
        return str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))

    return {
        ".".join(name(k) for k in path): tuple(x.shape)
        for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]
        if x is not None and math.prod(x.shape)
    }


class Mismatch(ValueError):
    """A checkpoint that is intact but holds another state than the config makes (the config
    was edited since): no older checkpoint would do, and none is deleted."""


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int):
        _quiet_closed_loops()
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, update: int, state: Any) -> None:
        state = jax.tree.map(lambda x: x if x.size else None, state)  # Orbax refuses empty arrays
        self.manager.save(update, args=ocp.args.StandardSave(state), force=True)
        self.manager.wait_until_finished()

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def steps(self) -> list[int]:
        """The finished checkpoints' steps, oldest first."""
        return sorted(self.manager.all_steps())

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

    def restore_newest(
        self, like: Any, at_most: int | None = None
    ) -> tuple[int | None, Any, list[tuple[int, str]]]:
        """The newest checkpoint (of step at most `at_most`) that restores, tried newest first:
        (step, state, skipped), skipped being (step, what is wrong with it) for each newer one,
        newest first. Changes nothing on disk; step is None (state `like`) when none restores."""
        skipped = []
        for step in reversed(self.steps()):
            if at_most is not None and step > at_most:
                skipped.append((step, f"is ahead of the metrics (complete to update {at_most})"))
                continue
            self.check_matches(step, like)
            try:
                return step, self.restore(step, like), skipped
            except Exception as e:  # noqa: BLE001 - any unreadable file means a damaged step
                skipped.append((step, f"is damaged ({_reason(e)})"))
        return None, like, skipped

    def check_matches(self, update: int, like: Any) -> None:
        """Raise Mismatch when checkpoint `update`'s arrays (their names and shapes, from its
        metadata: no array is read) are not those of `like`. Unreadable metadata passes: the
        restore then finds the damage."""
        try:
            meta = ocp.StandardCheckpointHandler().metadata(
                epath.Path(self.directory / str(update) / "default")
            )
            stored = _shapes(meta.tree)
        except Exception:  # noqa: BLE001 - a damaged checkpoint: restore_newest reports it
            return
        wanted = _shapes(like)
        differ = [k for k in wanted.keys() | stored.keys() if wanted.get(k) != stored.get(k)]
        if differ:
            key = min(differ, key=lambda k: (len(k), k))  # the parameters before their moments
            said = lambda s: "absent" if s is None else f"shape {s}"
            raise Mismatch(
                f"the config no longer matches checkpoint {update} ({key}: "
                f"{said(wanted.get(key))} for the config, {said(stored.get(key))} stored)"
            )

    def delete(self, update: int) -> None:
        self.manager.delete(update)

    def close(self) -> None:
        self.manager.close()
