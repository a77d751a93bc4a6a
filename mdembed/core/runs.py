"""A directory's finished runs: the one walk that aggregation and figures of every scenario share.

So that tables and figures use, and leave out, the same runs: a run is
a directory holding ``summary.json``; one that failed holds ``error.txt``
and no summary. A run that cannot be used is left out with a one-line
reason (:class:`LeftOut`), listed on stderr, and the others go on.
What a summary must hold is its scenario's business: :func:`scan` takes the
reader that checks it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from mdembed.core.errors import MdembedError
from mdembed.core.io import leaves, read_json
from mdembed.core.validate import is_number


class LeftOut(MdembedError):
    """Why a run cannot be used (one line); :func:`scan` lists it and goes on with the others."""


class OtherScenario(LeftOut):
    """A run of another scenario than the reader's (the message names it): passed over, not listed."""


@dataclass(frozen=True, eq=False)
class Job:
    """A finished run whose files hold everything its scenario's tables and figures read, checked."""

    directory: Path
    scenario: str
    summary: dict[str, Any]
    arrival_rate: float = math.nan  # the workload's rate, from .hydra/config.yaml, where the scenario has one
    overrides: tuple[str, ...] = ()  # from .hydra/overrides.yaml


Reader = Callable[[Path, dict[str, Any]], Job]  # a run's directory and summary to its Job, or LeftOut


def scan(root: Path, read: Reader) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Every run under ``root`` (itself included): the usable ones, and each other one with why it is left out.

    A run is left out when it failed (an error.txt and no summary.json), when
    its summary.json is cut short, or when ``read`` refuses it; a run of
    another scenario (``read`` raises :class:`OtherScenario`) is passed over.
    No usable run at all is an error naming the first ones left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise MdembedError(f"{root} is not a directory")
    jobs, left_out, others = [], [], set()
    summaries = sorted(root.rglob("summary.json"))
    for path in summaries:
        try:
            jobs.append(read(path.parent, read_summary(path)))
        except OtherScenario as scenario:
            others.add(str(scenario))
        except LeftOut as why:
            left_out.append((path.parent, str(why)))
    finished = {p.parent for p in summaries}
    left_out += [(p.parent, _failure(p)) for p in root.rglob("error.txt") if p.parent not in finished]
    left_out.sort()
    if not jobs and others:
        raise MdembedError(f"no run of this kind under {root}, only {', '.join(sorted(others))} runs{_first_left_out(left_out)}")
    if not jobs:
        raise MdembedError(f"no finished job (summary.json) under {root}{_first_left_out(left_out)}")
    return jobs, left_out


def read_summary(path: Path) -> dict[str, Any]:
    """A run's summary.json as a dict; :class:`LeftOut` when it cannot be read or is cut short."""
    try:
        summary = read_json(path)
    except OSError as err:
        raise LeftOut(f"cannot read summary.json: {err.strerror or err}") from None
    if summary is None:
        raise LeftOut("summary.json is cut short or not a JSON object")
    return summary


def require(summary: dict[str, Any], kinds: dict[str, type]) -> None:
    """Each key of ``kinds`` in the summary, holding a value of that type (a bool is no number)."""
    for key, kind in kinds.items():
        if key not in summary:
            raise LeftOut(f"summary.json has no {key}")
        if not isinstance(summary[key], kind) or isinstance(summary[key], bool):
            raise LeftOut(f"summary.json's {key} is {summary[key]!r}, not a {_KIND_NAMES.get(kind, kind.__name__)}")


_KIND_NAMES = {str: "name", int: "whole number", dict: "table of metrics"}  # for the reason a run is left out


def require_numbers(values: dict[Any, Any], keys: Iterable[Any], prefix: str) -> None:
    """Each of ``keys`` in ``values`` is a number, or null (undefined)."""
    for key in keys:
        if key not in values:
            raise LeftOut(f"summary.json has no {prefix}{key}")
        if values[key] is not None and not is_number(values[key]):
            where = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}{key}"
            raise LeftOut(f"summary.json's {where} is {values[key]!r}, not a number")


def require_finite(summary: dict[str, Any]) -> None:
    """Every float in the summary finite: a NaN would otherwise drop out of the means unseen."""
    bad = next(((key, v) for key, v in leaves(summary) if isinstance(v, float) and not math.isfinite(v)), None)
    if bad is not None:
        raise LeftOut(f"summary.json's {bad[0]} is {bad[1]}, not a finite number")


def read_hydra(path: Path, kind: type, missing: Any) -> Any:
    """A Hydra file's content, of type ``kind``; ``missing`` when the run has none (a run made without Hydra)."""
    name = f"{path.parent.name}/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return missing
    except OSError as err:
        raise LeftOut(f"cannot read {name}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        where = f" (line {err.problem_mark.line + 1})" if getattr(err, "problem_mark", None) else ""
        raise LeftOut(f"{name} is not valid YAML: {getattr(err, 'problem', None) or err}{where}") from None
    except ValueError:  # UnicodeDecodeError
        raise LeftOut(f"{name} is not UTF-8 text") from None
    data = missing if data is None else data
    if not isinstance(data, kind):
        raise LeftOut(f"{name} holds a {type(data).__name__}, not a {'mapping' if kind is dict else 'list'}")
    return data


def _failure(error_path: Path) -> str:
    """A failed run's reason: the last line of its error.txt (the error itself, also after a traceback)."""
    try:
        lines = [line for line in error_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return f"failed: {lines[-1].strip()[:200]}" if lines else "failed: error.txt and no summary.json"


def _first_left_out(left_out: list[tuple[Path, str]], shown: int = 3) -> str:
    if not left_out:
        return ""
    more = f" and {len(left_out) - shown} more" if len(left_out) > shown else ""
    return f"; left out: {'; '.join(f'{p} ({why})' for p, why in left_out[:shown])}{more}"


def report_left_out(left_out: list[tuple[Path, str]]) -> None:
    """One stderr line per run left out, with why, the same from aggregate and plot."""
    for path, why in left_out:
        print(f"mdembed: job left out: {path} ({why})", file=sys.stderr)
