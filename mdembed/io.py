"""Writing result files so that a file either is complete or does not exist."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, table: pd.DataFrame) -> None:
    write_atomic(path, table.to_csv(index=False, float_format="%.10g"))
