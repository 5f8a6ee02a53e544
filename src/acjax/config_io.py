"""Config files and overrides as plain data: YAML (with `base:` files), `key=value` overrides
(dotted for nested keys), typed dataclasses built from them (`build`), and the one-line
checks the sections' `validate` methods make (`require`, `require_positive`, ...). Nothing here
knows acjax's keys: `acjax.config` holds those, and re-exports the names below that callers use.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad configuration; the message names the key."""


def require(ok: bool, key: str, msg: str) -> None:
    """A ConfigError naming the key unless ok."""
    if not ok:
        raise ConfigError(f"config key '{key}': {msg}")


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def require_positive(obj: Any, section: str, keys: tuple[str, ...]) -> None:
    """The keys of a section ('' for the top level) must be > 0."""
    for key in keys:
        v = getattr(obj, key)
        require(v > 0, _dotted(section, key), f"must be positive, got {v}")


def require_nonnegative(obj: Any, section: str, keys: tuple[str, ...]) -> None:
    """The keys must be >= 0."""
    for key in keys:
        v = getattr(obj, key)
        require(v >= 0, _dotted(section, key), f"must be >= 0, got {v}")


def require_unit(obj: Any, section: str, keys: tuple[str, ...]) -> None:
    """The keys must lie in [0, 1]."""
    for key in keys:
        v = getattr(obj, key)
        require(0 <= v <= 1, _dotted(section, key), f"must lie in [0, 1], got {v}")


def require_one_of(obj: Any, section: str, key: str, allowed: tuple[str, ...]) -> None:
    """The key's value must be one of `allowed` (named as 'a, b or c')."""
    v = getattr(obj, key)
    expected = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
    require(v in allowed, _dotted(section, key), f"expected {expected}, got {v!r}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-4 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
    elif origin is tuple:
        if isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"config key '{key}': expected {name}, got {value!r}")


def did_you_mean(name: str, candidates, prefix: str = "") -> str:
    """'; did you mean 'x'?' for the closest candidate, or ''."""
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


def build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key '{full}'{did_you_mean(key, names, prefix)}")
        tp = hints[key]
        if tp is dict:  # free-form options (env_kwargs): a mapping of plain values
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{full}': expected a mapping, got {value!r}")
            kwargs[key] = dict(value)
        elif dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{full}': expected a mapping, got {value!r}")
            kwargs[key] = build(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{dotted}': '{p}' is not a section")
    node[parts[-1]] = value


def parse_overrides(args: list[str]) -> dict:
    data: dict = {}
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"override '{arg}' is not of the form key=value")
        key, raw = arg.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(data, key.strip(), value)
    return data


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {what}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys")
    base = data.pop("base", None)
    if base is not None:  # `base: other.yaml` (relative to this file) supplies defaults
        data = merge(load_yaml(p.parent / str(base)), data)
    return data


def default_config_path() -> Path:
    return Path(__file__).parent / "configs" / "default.yaml"


def to_dict(cfg: Any) -> dict:
    """A config dataclass as plain YAML data (tuples as lists)."""

    def conv(x):
        if isinstance(x, tuple):
            return list(x)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(dataclasses.asdict(cfg))


def describe(config_cls: type) -> list[tuple[str, str, str]]:
    """(dotted key, default, comment) of every key of a config dataclass, read from its source:
    the comment beside each field is its documentation (`acjax list`)."""
    import inspect
    import re

    out = []

    def walk(cls, prefix):
        notes = {}
        for line in inspect.getsource(cls).splitlines():
            m = re.match(r"\s+(\w+): [^=]+=.*?#\s*(.*)$", line)
            if m:
                notes[m.group(1)] = m.group(2)
        default = cls()
        for f in dataclasses.fields(cls):
            value = getattr(default, f.name)
            if dataclasses.is_dataclass(value):
                walk(type(value), f"{prefix}{f.name}.")
            else:
                text = json_like(value)
                out.append((f"{prefix}{f.name}", text, notes.get(f.name, "")))

    walk(config_cls, "")
    return out


def json_like(value: Any) -> str:
    """A default as it would be typed in an override."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    if value == "" or value == {}:
        return '""' if value == "" else "{}"
    return str(value)
