"""Generic checks of a setting's value, each refusing a bad one with a one-line :class:`ConfigError` that names the key.

Settings classes of every scenario use them in their ``__post_init__``; :func:`section` builds one class from a
config section, naming an unknown key or a value of the wrong kind.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping, TypeVar

from mdembed.core.errors import ConfigError

S = TypeVar("S")

MAX_SETTING_INT = 2**31 - 1  # the largest integer setting (counts, sizes, steps); the seed has no bound


def pair(key: str, value: Any, *, low: float = -math.inf) -> tuple[float, float]:
    """A pair [min, max] of finite numbers with ``low`` <= min <= max."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a pair [min, max], got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{key} must be finite, got [{lo}, {hi}]")
    if lo > hi:
        raise ConfigError(f"{key}: min {lo} is above max {hi}")
    if lo < low:
        raise ConfigError(f"{key}: min {lo} is below {low}")
    return lo, hi


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def set_whole(settings: Any, section: str, key: str, minimum: int = 1) -> None:
    """Check that ``settings.key`` is a whole number >= ``minimum`` and store it as an int.

    For the ``__post_init__`` of frozen settings dataclasses; ``section`` names
    the config node in the error (empty for a top-level key).
    """
    value = getattr(settings, key)
    if not is_number(value) or not math.isfinite(value) or int(value) != value or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
        raise ConfigError(f"{section + '.' if section else ''}{key} must be {kind}, got {value!r}")
    object.__setattr__(settings, key, int(value))


def flag(key: str, value: Any) -> bool:
    """A boolean setting: true or false only (a string such as ``no`` must not turn a switch on)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


def positive(key: str, value: float, *, strict: bool = True) -> None:
    """A finite number above 0 (at or above 0 unless ``strict``)."""
    bad = value <= 0 if strict else value < 0
    if bad or not math.isfinite(value):
        need = "positive" if strict else "non-negative"
        raise ConfigError(f"{key} must be {need}, got {value}")


def plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A config as a plain dict, its interpolations resolved (an OmegaConf container or a mapping already plain)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        try:
            cfg = OmegaConf.to_container(cfg, resolve=True)
        except Exception as err:  # an interpolation the user wrote that cannot resolve
            raise ConfigError(f"cannot resolve the config: {str(err).splitlines()[0]}") from None
    return dict(cfg)


def section(cls: type[S], values: Any, name: str) -> S:
    """Build one settings dataclass, naming any key it does not know or value of the wrong kind.

    Each value must be of the kind its field is declared with (see
    :func:`checked`); range checks stay with the dataclass's ``__post_init__``.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name} must be a section of keys, got {values!r}")
    values = dict(values)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {name}.{unknown[0]}; known: {', '.join(sorted(fields))}")
    kinds = typing.get_type_hints(cls)
    return cls(**{key: checked(f"{name}.{key}", kinds[key], value) for key, value in values.items()})


def checked(key: str, kind: Any, value: Any) -> Any:
    """``value`` as the declared ``kind`` (bool, int, float, str, a tuple of numbers, or one of them | None).

    Strict on purpose: a boolean is true or false, never a string that reads
    as one; an int is a finite whole number (``inf`` and ``2.5`` are refused,
    ``4.0`` is 4); a float is finite, since no setting means anything at
    infinity and a NaN would flow silently into the results.
    """
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        args = typing.get_args(kind)
    if kind is bool:
        return flag(key, value)
    if kind is int:
        return whole(key, value)
    if kind is float:
        return finite(key, value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:
        integers = all(a is int for a in args if a is not Ellipsis)
        if not isinstance(value, (list, tuple)) or not all(is_number(v) for v in value):
            raise ConfigError(f"{key} must be a list of {'whole numbers' if integers else 'numbers'}, got {value!r}")
        return tuple(whole(key, v) if integers else finite(key, v) for v in value)
    return value


def whole(key: str, value: Any) -> int:
    if not is_number(value) or not math.isfinite(value) or int(value) != value:
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    if abs(value) > MAX_SETTING_INT:
        raise ConfigError(f"{key} must lie within +-{MAX_SETTING_INT} (2**31 - 1), got {value!r}")
    return int(value)


def finite(key: str, value: Any) -> float:
    if not is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return float(value)
