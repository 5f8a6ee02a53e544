"""Command line: `acjax train [--config FILE] [key=value ...]`.

Bad configuration is a one-line error naming the key, exit code 2, before anything compiles.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

from acjax.config import DIST_KEYS

RESUMABLE = {"total_timesteps", "progress", "checkpoint_interval_s", "keep_checkpoints", "resume"}


def _force_host_devices() -> None:
    """On CPU one XLA device uses one core: expose one host device per core (before jax loads)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _dotted(tree: dict, prefix: str = "") -> list[str]:
    """The dotted keys of nested overrides ({'ppo': {'lr': 1}} -> ['ppo.lr'])."""
    out = []
    for k, v in tree.items():
        out += _dotted(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]
    return out


def resolve_config(
    config_path: str | None, overrides: list[str], check: bool = True, stamp: str | None = None
):
    """The run's config: a resumed run's saved config (only a few keys may change) or a new one.
    check=False checks names, types and the dist_* keys only (without loading JAX); `stamp`
    names the default run folder (default: the local time)."""
    from pathlib import Path

    from acjax import config as C

    over = C.parse_overrides(overrides)
    if over.get("resume"):
        run_dir = Path(str(over["resume"]))
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise C.ConfigError(
                f"config key 'resume': no run folder with config.yaml at '{run_dir}' "
                f"('{saved}' does not exist)"
            )
        for key in _dotted(over):
            if key not in RESUMABLE and key not in DIST_KEYS:
                raise C.ConfigError(
                    f"config key '{key}': cannot change when resuming a run (only "
                    f"{', '.join(sorted(RESUMABLE - {'resume'}))} can)"
                )
        data = C.load_yaml(saved)
        for key in DIST_KEYS:
            data.pop(key, None)
        data.update(over)
        data["run_dir"] = str(run_dir)
        try:
            return C.from_dict(data, check)
        except C.ConfigError as e:  # a key of the saved file (edited by hand): name the file
            key = re.search(r"config key '([^']+)'", str(e))
            if key is None or key[1] in over:
                raise
            raise C.ConfigError(str(e).replace(key[0], f"{key[0]} in {saved}", 1)) from None
    cfg = C.load_config(config_path, overrides, check)
    if not cfg.run_dir:
        import dataclasses

        stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
        env = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.env)  # a folder name: pettingzoo:x, 9|8
        cfg = dataclasses.replace(cfg, run_dir=f"runs/{env}-{cfg.algo}-{stamp}")
    return cfg


def init_distributed(cfg) -> bool:
    """Join a multi-process run with `jax.distributed` when the config asks for one
    (dist_num_processes != 1); must run before any other JAX use. Returns whether it did."""
    if cfg.dist_num_processes == 1:
        return False
    import jax

    if not jax.config.jax_cpu_collectives_implementation:  # CPU collectives across processes
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # JAX's preemption service would take SIGTERM from the stop flag (its notifier installs its
    # own handler, and the run would go on to the end); the processes agree on stops themselves
    jax.config.update("jax_enable_preemption_service", False)
    auto = cfg.dist_num_processes == 0  # JAX reads SLURM, Open MPI, ... (and JAX_* variables)
    jax.distributed.initialize(
        coordinator_address=cfg.dist_coordinator or None,
        num_processes=None if auto else cfg.dist_num_processes,
        process_id=None if auto else cfg.dist_process_id,
    )
    return True


def _shared_stamp() -> str:
    """Process 0's local time, so that every process names the same default run folder."""
    import numpy as np
    from jax.experimental import multihost_utils

    mine = np.frombuffer(time.strftime("%Y%m%d-%H%M%S").encode(), np.uint8)
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(mine), np.uint8)).decode()


def _algorithms() -> str:
    """The algorithm table of `acjax.algos` (one line each)."""
    from acjax import algos

    lines = (ln.strip() for ln in algos.__doc__.splitlines())
    return "\n".join(f"  {ln}" for ln in lines if ln.split(" ", 1)[0] in algos.NAMES)


def _keys() -> str:
    """Every config key with its default (a --config file's) and meaning; where `acjax train`
    without --config (the embedded default config) sets another value, that value too."""
    from acjax.config import describe_keys, json_like, load_config

    cfg = load_config(None, [], check=False)

    def embedded(key: str) -> str:
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        return json_like(tuple(value) if isinstance(value, list) else value)

    lines = []
    for k, d, c in describe_keys():
        e = embedded(k)
        lines.append(
            f"  {k:28s} {d:12s} {c}" + (f" [acjax train without --config: {e}]" if e != d else "")
        )
    return (
        "config keys (key=value overrides; the defaults of a --config file, documented in "
        "src/acjax/config.py; [in brackets] the embedded default config's value where it "
        "differs):\n" + "\n".join(lines)
    )


def _listing(what: str) -> str:
    from acjax.envs import WORLDS

    parts = {
        "worlds": lambda: "worlds (env=...):\n" + WORLDS,
        "algos": lambda: "algorithms (algo=...):\n" + _algorithms(),
        "keys": _keys,
    }
    return "\n\n".join(v() for k, v in parts.items() if what in ("all", k))


TRAIN_EPILOG = """\
examples:
  acjax train                  the embedded default (MAPPO, jumanji-rware-tiny-2ag, 8M steps)
  acjax train --config experiments/rware/tiny-4ag-acpo.yaml num_seeds=4
  acjax train --config experiments/matrix/continuous-ac_td3.yaml    off-policy, continuous
  acjax train resume=runs/<folder>               continue an interrupted run

`acjax list worlds|algos|keys` prints the worlds, the algorithms and every config key with its
default and meaning (src/acjax/config.py documents each key beside it)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser(
        "train",
        help="train one config (seeds vmapped)",
        epilog=_listing("worlds") + "\n\n" + _listing("algos") + "\n\n" + TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_train.add_argument("--config", default=None, help="YAML config (default: the embedded one)")
    p_train.add_argument("overrides", nargs="*", help="key=value overrides, dotted for nested keys")
    p_render = sub.add_parser("render", help="a GIF of one episode of a run's latest policy")
    p_render.add_argument("run_dir", help="the run folder (config.yaml and checkpoints/)")
    p_render.add_argument("--out", default=None, help="GIF path (default: in the run folder)")
    p_render.add_argument("--steps", type=int, default=200, help="at most this many steps")
    p_render.add_argument("--seed-index", type=int, default=0, help="which seed of a sweep")
    p_plot = sub.add_parser("plot", help="learning curves and final-return statistics of runs")
    p_plot.add_argument("runs", nargs="+", help="run folders (their seeds and sweeps grouped)")
    p_plot.add_argument("--out", default="plots", help="output folder (default: plots)")
    p_plot.add_argument(
        "--max-steps", type=int, default=None, help="leave out rows after this many env steps"
    )
    p_plot.add_argument(
        "--metric", default="episode_return", help="the logged metric (e.g. win_rate of SMAX)"
    )
    p_eval = sub.add_parser("eval", help="decentralized execution of a run's saved policies")
    p_eval.add_argument("run_dir", help="the run folder (config.yaml and checkpoints/)")
    p_eval.add_argument("--episodes", type=int, default=32, help="episodes per run and mode")
    p_eval.add_argument("--steps", type=int, default=0, help="step cap (default: time limit)")
    p_eval.add_argument("--no-gif", action="store_true", help="no GIF (warehouse port)")
    p_list = sub.add_parser("list", help="the worlds, the algorithms and every config key")
    p_list.add_argument(
        "what", nargs="?", default="all", choices=("all", "worlds", "algos", "keys")
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        try:
            print(_listing(args.what), flush=True)
        except BrokenPipeError:  # `acjax list | head -3`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    if args.command == "eval":
        return _eval(args)
    if args.command == "render":
        return _render(args)
    if args.command == "plot":
        return _plot(args)

    from acjax.stop import StopFlag

    with StopFlag() as stop:  # first: an interrupt from here on ends the run cleanly
        return _train(args, stop)


def _train(args, stop) -> int:
    _force_host_devices()
    from acjax.config import ConfigError

    try:
        # the dist_* keys first: jax.distributed must start before anything else uses JAX
        # (validating the env already does)
        cfg = resolve_config(args.config, args.overrides, check=False)
        stamp = None
        try:
            if init_distributed(cfg):
                import jax

                if jax.process_count() > 1:
                    stamp = _shared_stamp()
        except (ValueError, RuntimeError, TypeError) as e:
            print(f"error: jax.distributed: {str(e).strip().splitlines()[0]}", file=sys.stderr)
            return 2
        cfg = resolve_config(args.config, args.overrides, stamp=stamp)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import jax

    from acjax.run import NonFiniteLoss, train
    from acjax.stop import Interrupted

    run_dir = Path(cfg.resume or cfg.run_dir)
    existed = run_dir.exists()
    stop.on_abort = lambda: _leave(run_dir, existed, "aborted")  # a second Ctrl-C, at once
    try:
        summary = train(cfg, stop=stop)
    except Interrupted:
        print("interrupted before training started; nothing written", file=sys.stderr)
        return 130
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        if "No checkpoint" in str(e):
            print(_leave(run_dir, existed, "stopped"), file=sys.stderr)
        return 1
    except (FileNotFoundError, ConfigError) as e:  # no checkpoint; devices do not fit num_envs
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception:  # a crash (a bug, out of memory): its traceback, then what is left
        traceback.print_exc()
        print(_leave(run_dir, existed, "crashed"), file=sys.stderr)
        return 1
    if jax.process_index() != 0 or summary["status"] != "finished":
        return 0
    ret = summary["final_return_mean"]
    print(
        f"done: {summary['env_steps']} env steps per seed, final return "
        f"{'-' if ret is None else f'{ret:.3f}'}, {summary['steps_per_second']:.0f} steps/s, "
        f"summary in {cfg.run_dir}/summary.json",
        file=sys.stderr,
    )
    return 0


def _leave(run_dir: Path, existed: bool, what: str) -> str:
    """A run ended early: a new run folder that holds no checkpoint yet cannot be resumed, so
    it goes (the line says so); otherwise it keeps its checkpoints for a resume."""
    folder = run_dir / "checkpoints"
    if existed or (folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())):
        return f"{what}; {run_dir} keeps its last checkpoint (resume={run_dir})"
    shutil.rmtree(run_dir, ignore_errors=True)
    return f"{what} before the first checkpoint; removed {run_dir} (nothing to resume)"


def _render(args) -> int:
    from acjax.config import ConfigError
    from acjax.recording import render_run

    try:
        path, total, steps = render_run(args.run_dir, args.out, args.steps, args.seed_index)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    said = (
        f"return {total:.1f} over the first {steps} steps only: the episode goes on (--steps); "
        "training returns are over whole episodes"
        if steps == args.steps
        else f"episode return {total:.1f}, the whole episode of {steps} steps"
    )
    print(f"wrote {path} ({said})", file=sys.stderr)
    return 0


def _eval(args) -> int:
    from acjax.config import ConfigError
    from acjax.evaluate import evaluate_run

    try:
        out = evaluate_run(args.run_dir, args.episodes, args.steps, gif=not args.no_gif)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in out["runs"]:
        label = " ".join(
            f"{k}={v:g}" for k, v in r.items() if k not in ("seed", "sampled", "greedy")
        )
        for mode in ("sampled", "greedy"):
            m = r[mode]
            win = f", win rate {m['win_rate']:.2f}" if "win_rate" in m else ""
            print(
                f"seed {r['seed']} {label} {mode}: return {m['return_mean']:.2f} ± "
                f"{m['return_se']:.2f} over {m['episodes']} episodes{win}".replace("  ", " "),
                file=sys.stderr,
            )
    print(f"wrote {args.run_dir}/eval.json", file=sys.stderr)
    return 0


def _plot(args) -> int:
    from acjax.plot import plot

    try:
        out = plot(args.runs, args.out, args.max_steps, args.metric)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}/ (curves-*.png, iqm-*.png, curves.csv, final.md)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
