"""Command line: `acjax train [--config FILE] [key=value ...]`.

Bad configuration is a one-line error naming the key, exit code 2, before anything compiles.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

RESUMABLE = {"total_timesteps", "progress", "checkpoint_interval_s", "keep_checkpoints", "resume"}
# launch settings of this process (docs/distributed.md): a resumed run takes them from its
# command line, never from the saved config.yaml
DIST_KEYS = ("dist_coordinator", "dist_num_processes", "dist_process_id")


def _force_host_devices() -> None:
    """On CPU one XLA device uses one core: expose one host device per core (before jax loads)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


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
        for key in over:
            if key not in RESUMABLE and key not in DIST_KEYS:
                raise C.ConfigError(f"config key '{key}': cannot change when resuming a run")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train one config (seeds vmapped)")
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
    p_eval = sub.add_parser("eval", help="decentralized execution of a run's saved policies")
    p_eval.add_argument("run_dir", help="the run folder (config.yaml and checkpoints/)")
    p_eval.add_argument("--episodes", type=int, default=32, help="episodes per run and mode")
    p_eval.add_argument("--steps", type=int, default=0, help="step cap (default: time limit)")
    p_eval.add_argument("--no-gif", action="store_true", help="no GIF (warehouse port)")
    args = parser.parse_args(argv)
    if args.command == "eval":
        return _eval(args)
    if args.command == "render":
        return _render(args)
    if args.command == "plot":
        return _plot(args)

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

    from acjax.config import flat_sweep
    from acjax.run import NonFiniteLoss, train

    primary = jax.process_index() == 0  # only process 0 reports (and writes the run's files)
    if primary:
        print(
            f"acjax: {cfg.algo} on {cfg.env}, {cfg.num_seeds} seed(s)"
            + "".join(f" x {len(v)} {k}" for k, v in flat_sweep(cfg).items())
            + f", run folder {cfg.run_dir}"
            + (f", {jax.process_count()} processes" if jax.process_count() > 1 else ""),
            file=sys.stderr,
        )
    try:
        summary = train(cfg)
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ConfigError) as e:  # no checkpoint; devices do not fit num_envs
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not primary:
        return 0
    ret = summary["final_return_mean"]
    print(
        f"done: {summary['env_steps']} env steps per seed, final return "
        f"{'-' if ret is None else f'{ret:.3f}'}, {summary['steps_per_second'] or 0:.0f} steps/s, "
        f"summary in {cfg.run_dir}/summary.json",
        file=sys.stderr,
    )
    return 0


def _render(args) -> int:
    from acjax.config import ConfigError
    from acjax.replay import render_run

    try:
        path, total = render_run(args.run_dir, args.out, args.steps, args.seed_index)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} (episode return {total:.1f})", file=sys.stderr)
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
        out = plot(args.runs, args.out, args.max_steps)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}/ (curves-*.png, iqm-*.png, curves.csv, final.md)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
