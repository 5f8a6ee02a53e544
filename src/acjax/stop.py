"""SIGINT/SIGTERM as a request to stop: installed first thing by the command line, so that an
interrupt at any moment ends the run cleanly (before training: nothing written; during it: after
the current call, with a checkpoint). A second SIGINT aborts at once (exit 130).

The signals are heard by a thread (through Python's wakeup file descriptor), not only by the
main thread's handler: the main thread may be inside a compile or a compiled call for a long
time, and a handler runs only when it returns. So the stop is acknowledged at once, saying when
it takes effect, and an abort ends the process at once: its cleanup (`on_abort`) runs, then
`os._exit(130)`. Raising KeyboardInterrupt into the main thread instead lands wherever it is
(inside JAX's tracing or a garbage-collector callback, where it is swallowed) and a process
that then shuts down beside XLA's threads can crash."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable


class StopFlag:
    def __init__(self):
        self.requested = False
        # what a stop waits for, said when one is asked; set by the host loop
        self.when = "before training starts"
        self.on_abort: Callable[[], str | None] = lambda: None  # cleanup; returns its line
        self._old: dict = {}
        self._pipe: tuple[int, int] | None = None
        self._old_fd = -1

    @property
    def training(self) -> bool:
        return self.when != "before training starts"

    def _heard(self, signum: int) -> None:
        if self.requested and signum == signal.SIGINT:
            self.abort()
        self.requested = True
        name = signal.Signals(signum).name
        again = "; Ctrl-C again aborts at once" if signum == signal.SIGINT else ""
        print(f"\n{name}: heard; stopping {self.when}{again}", file=sys.stderr, flush=True)

    def abort(self) -> None:
        """End the process now (exit 130), after the cleanup `on_abort` and its line."""
        try:
            line = self.on_abort()
            print(line or "aborted", file=sys.stderr, flush=True)
            sys.stdout.flush()
        finally:
            os._exit(130)

    def _listen(self, fd: int) -> None:
        try:
            while data := os.read(fd, 64):  # until __exit__ closes the other end
                for signum in data:
                    if signum in (signal.SIGINT, signal.SIGTERM):
                        self._heard(signum)
        finally:
            os.close(fd)

    def __enter__(self):
        r, w = os.pipe()
        os.set_blocking(w, False)
        self._pipe = (r, w)
        for sig in (signal.SIGINT, signal.SIGTERM):  # the wakeup fd gets the signal numbers
            self._old[sig] = signal.signal(sig, lambda signum, frame: None)
        self._old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        threading.Thread(target=self._listen, args=(r,), daemon=True, name="acjax-stop").start()
        return self

    def __exit__(self, *exc):
        signal.set_wakeup_fd(self._old_fd)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        if self._pipe is not None:
            os.close(self._pipe[1])  # the listener reads end-of-file and ends
            self._pipe = None


class Interrupted(Exception):
    """A stop requested before training started: nothing was written."""
