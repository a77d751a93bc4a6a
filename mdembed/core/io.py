"""Writing result files so that a file either is complete or does not exist."""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from mdembed.core.errors import MdembedError

RUN_SETTINGS = "run_settings.json"  # a run's settings that decide its numbers, written first (mdembed.run)


class InvalidResult(MdembedError):
    """A run that ended with NaN or infinite metrics: not a finished run."""


@contextmanager
def naming(path: Path, *aliases: Path) -> Iterator[None]:
    """Give an OSError that carries no file name (a write into an open file on a full disk), or one of ``aliases``
    (a file's ``.partial``), the name of ``path``, so that the one-line error says which file could not be written."""
    try:
        yield
    except OSError as err:
        if err.filename is not None and err.filename not in {str(a) for a in aliases}:
            raise
        raise type(err)(err.errno, err.strerror or str(err), str(path)) from err


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """The file to write ``path``'s content into (``NAME.partial``), renamed to ``path`` when the block ends.

    A failed write (a full disk, a read-only directory, an interrupt) leaves
    neither file behind, so no cut file can look complete; the error names ``path``.
    """
    tmp = path.with_name(path.name + ".partial")
    try:
        with naming(path, tmp):
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def write_atomic(path: Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, to_json(path, data, indent=2) + "\n")


def to_json(path: Path, data: Any, **options: Any) -> str:
    """Strict JSON for ``path``: NaN or infinity (which ``json`` would write as bare words no reader takes) is refused,
    naming the value."""
    try:
        return json.dumps(data, allow_nan=False, **options)
    except ValueError:
        key = next((k for k, v in leaves(data) if isinstance(v, float) and not math.isfinite(v)), "a value")
        raise InvalidResult(f"{path}: {key} is not a finite number; not written") from None


def read_json(path: Path) -> dict[str, Any] | None:
    """The object in a JSON file; None when the file is missing or is not one whole JSON object.

    A summary.json cut short (a run killed while writing it, a disk that
    filled) is then an unfinished run, the same as a missing one.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def write_csv(path: Path, table: pd.DataFrame) -> None:
    write_atomic(path, table.to_csv(index=False, float_format="%.10g"))


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """Write a run's summary.json, the file that marks it finished, only if every metric is a finite number.

    Undefined metrics are None (null); NaN or infinity means the run went wrong
    (typically a learner whose weights diverged), and such a run must not look
    finished: nothing is written and the error names the first bad metric.
    """
    bad = next(((key, value) for key, value in leaves(summary) if isinstance(value, float) and not math.isfinite(value)), None)
    if bad is not None:
        key, value = bad
        cause = " (the learner diverged in training: lower its learning rates or reward_scale)" if summary.get("training") else ""
        raise InvalidResult(f"the run's {key} is {value}: not a valid result, summary.json not written{cause}")
    write_json(path, summary)


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every value inside nested dicts, lists and tuples, with its dotted name (``training.q``, ``domain_revenue[1]``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from leaves(v, f"{key}[{i}]")
    else:
        yield key or "value", value
