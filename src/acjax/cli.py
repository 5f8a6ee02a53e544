"""Command line: `acjax train [--config FILE] [key=value ...]`.

Bad configuration is a one-line error naming the key, exit code 2, before anything compiles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

RESUMABLE = {"total_timesteps", "progress", "checkpoint_interval_s", "keep_checkpoints", "resume"}


def _force_host_devices() -> None:
    """On CPU one XLA device uses one core: expose one host device per core (before jax loads)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def resolve_config(config_path: str | None, overrides: list[str]):
    """The run's config: a resumed run's saved config (only a few keys may change) or a new one."""
    from pathlib import Path

    from acjax import config as C

    over = C.parse_overrides(overrides)
    if over.get("resume"):
        run_dir = Path(str(over["resume"]))
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise C.ConfigError(
                f"config key 'resume': no run folder with config.yaml at '{run_dir}'"
            )
        for key in over:
            if key not in RESUMABLE:
                raise C.ConfigError(f"config key '{key}': cannot change when resuming a run")
        data = C.load_yaml(saved)
        data.update(over)
        data["run_dir"] = str(run_dir)
        return C.from_dict(data)
    cfg = C.load_config(config_path, overrides)
    if not cfg.run_dir:
        import dataclasses

        stamp = time.strftime("%Y%m%d-%H%M%S")
        cfg = dataclasses.replace(cfg, run_dir=f"runs/{cfg.env}-{cfg.algo}-{stamp}")
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train one config (seeds vmapped)")
    p_train.add_argument("--config", default=None, help="YAML config (default: the embedded one)")
    p_train.add_argument("overrides", nargs="*", help="key=value overrides, dotted for nested keys")
    args = parser.parse_args(argv)

    _force_host_devices()
    from acjax.config import ConfigError

    try:
        cfg = resolve_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from acjax.train import NonFiniteLoss, train

    print(
        f"acjax: {cfg.algo} on {cfg.env}, {cfg.num_seeds} seed(s), run folder {cfg.run_dir}",
        file=sys.stderr,
    )
    try:
        summary = train(cfg)
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ret = summary["final_return_mean"]
    print(
        f"done: {summary['env_steps']} env steps per seed, final return "
        f"{'-' if ret is None else f'{ret:.3f}'}, {summary['steps_per_second']:.0f} steps/s, "
        f"summary in {cfg.run_dir}/summary.json",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
