"""SIGINT/SIGTERM as a request to stop: installed first thing by the command line, so that an
interrupt at any moment ends the run cleanly (before training: nothing written; during it: after
the current call, with a checkpoint). A second SIGINT aborts (KeyboardInterrupt)."""

from __future__ import annotations

import signal
import sys


class StopFlag:
    def __init__(self):
        self.requested = False
        self.training = False  # set by the host loop: the stop then comes after the current call
        self._old: dict = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        when = "after the current call" if self.training else "before training starts"
        print(f"\n{signal.Signals(signum).name}: stopping {when}", file=sys.stderr, flush=True)

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Interrupted(Exception):
    """A stop requested before training started: nothing was written."""
