"""Where a `HostPool`'s instances live and step: this process (`_InProcess`) or W worker
processes (`_Workers`), and the per-instance step with its restart on a failure (`_advance`)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys


class InjectedFault(RuntimeError):
    """A failure injected by `PoolOptions.fault_rate` (tests, drills)."""


def _close(instance) -> None:
    close = getattr(instance, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001  (a broken instance may fail to close)
            pass


def _reset(instances: dict, factory, i: int, seed: int, fresh: bool = False):
    """Reset instance i (making it if absent, or anew with `fresh`): (obs, state, mask)."""
    if fresh or i not in instances:
        _close(instances.pop(i, None))
        instances[i] = factory()
    return instances[i].reset(seed)


def _advance(instances: dict, factory, op):
    """One instance's step where it lives (this process or a worker): op = (i, action,
    at_limit, next_seed, fault). Returns ("ok", step outputs, first outputs of the next
    episode or None) or, when the step raised or the instance is missing (its worker died),
    ("restarted", first outputs of a fresh instance's episode, what went wrong)."""
    i, action, at_limit, next_seed, fault = op
    try:
        if i not in instances:
            raise LookupError(f"instance {i} was lost with its worker process")
        if fault:
            raise InjectedFault(f"injected fault in instance {i}")
        out = instances[i].step(action)
    except Exception as e:  # noqa: BLE001  (any failure of the instance: replace it)
        why = f"{type(e).__name__}: {e}"
        return "restarted", _reset(instances, factory, i, next_seed, fresh=True), why
    obs, state, mask, reward, terminated, truncated, *rest = out
    info = rest[0] if rest else {}
    terminated = bool(terminated)
    # the world's time limit is truncation (unless the instance terminated at that step)
    truncated = not terminated and (bool(truncated) or at_limit)
    won = bool(info.get("won", False))
    alive = info.get("alive")
    step = (obs, state, mask, float(reward), terminated, truncated, alive, won)
    first = _reset(instances, factory, i, next_seed) if terminated or truncated else None
    return "ok", step, first


def _run_ops(instances: dict, factory, kind: str, ops: list) -> list:
    """A batch of resets ((i, seed): fresh instances) or steps (`_advance` ops), in order."""
    if kind == "reset":
        return [_reset(instances, factory, i, seed, fresh=True) for i, seed in ops]
    return [_advance(instances, factory, op) for op in ops]


def _worker_main(conn, factory) -> None:
    """A worker process: holds its instances, runs the ops it is sent, answers in order. Ctrl-C
    is the training process's to handle (it stops at the next chunk and checkpoints); a
    worker ends when the training process closes its pipe or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    instances: dict = {}
    try:
        conn.send("ready")  # started (JAX imported): from here on answers are timed
        while True:
            msg = conn.recv()
            if msg is None:
                break
            kind, ops, die = msg
            if die:
                os._exit(3)  # an injected worker death
            conn.send(_run_ops(instances, factory, kind, ops))
    except (EOFError, OSError):  # the training process closed the pipe (or replaced this one)
        pass
    for inst in instances.values():
        _close(inst)


class _InProcess:
    """Instances in this process."""

    def __init__(self, factory):
        self.factory, self.instances = factory, {}

    def run(self, kind: str, ops: list, rng) -> list:
        return _run_ops(self.instances, self.factory, kind, ops)

    def close(self):
        for inst in self.instances.values():
            _close(inst)


class _Workers:
    """Instances in W worker processes (spawned: JAX's threads make fork unsafe); each step
    sends every worker its share of the batch first and then gathers, so they run in
    parallel. A worker that dies, or does not answer within `timeout_s` (a hung simulator), is
    replaced and its share sent again: the new worker lacks the instances, so each one
    restarts (`_advance`)."""

    def __init__(self, factory, workers: int, worker_fault_rate: float, timeout_s: float):
        self.factory, self.n, self.rate, self.timeout = (
            factory,
            workers,
            worker_fault_rate,
            timeout_s,
        )
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list = [None] * workers
        self.conns: list = [None] * workers
        self.deaths = 0  # workers are started at the first call (a validated config starts none)

    def _start(self, w: int) -> None:
        mine, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(theirs, self.factory), daemon=True)
        proc.start()
        theirs.close()
        self.procs[w], self.conns[w] = proc, mine

    def _ready(self, w: int) -> None:
        """Wait for worker w's start-up (a fresh Python importing JAX: seconds on a loaded
        machine), untimed: only answers to calls count against `timeout_s`."""
        if self.conns[w].recv() != "ready":
            raise RuntimeError(f"worker process {w} did not start")

    def run(self, kind: str, ops: list, rng) -> list:
        new = [w for w in range(self.n) if self.procs[w] is None]
        for w in new:
            self._start(w)
        for w in new:
            self._ready(w)
        shares = [[k for k, op in enumerate(ops) if op[0] % self.n == w] for w in range(self.n)]
        out: list = [None] * len(ops)
        for w, share in enumerate(shares):
            if share:
                die = kind == "step" and self.rate > 0 and rng.random() < self.rate
                self._send(w, (kind, [ops[k] for k in share], die))
        for w, share in enumerate(shares):
            if not share:
                continue
            try:
                if not self.conns[w].poll(self.timeout):
                    raise TimeoutError(f"no answer in {self.timeout:g} s")
                answers = self.conns[w].recv()
            except (EOFError, OSError) as e:  # the worker died or hangs: a new one, same share
                self.deaths += 1
                self._replace(w)
                if self.deaths <= 3:
                    why = "hangs" if isinstance(e, TimeoutError) else "died"
                    print(
                        f"acjax: worker process {w} {why}; its instances restart", file=sys.stderr
                    )
                self.conns[w].send((kind, [ops[k] for k in share], False))
                if not self.conns[w].poll(self.timeout):  # hangs again: give up, not forever
                    raise RuntimeError(f"worker process {w} hangs again after a restart") from e
                answers = self.conns[w].recv()
            for k, a in zip(share, answers, strict=True):
                out[k] = a
        return out

    def _send(self, w: int, msg) -> None:
        try:
            self.conns[w].send(msg)
        except OSError:  # died since the last step; `run` notices at recv
            pass

    def _replace(self, w: int) -> None:
        self.conns[w].close()
        self.procs[w].join(timeout=5)
        if self.procs[w].is_alive():
            self.procs[w].kill()
        self._start(w)
        self._ready(w)

    def close(self):
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if proc is None:
                continue
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
