"""Optional TensorBoard logging of the learning curves (``tensorboard=true``, extra ``[tensorboard]``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mdembed.core.errors import ConfigError


class CurveLogger:
    """Writes each closed metrics window as scalars ``<phase>/<column>`` at step = requests (or steps) so far."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "tensorboard=true needs the tensorboard extra: .venv/bin/pip install -c constraints.txt -e '.[tensorboard]'"
            ) from None
        self._writer = SummaryWriter(log_dir=str(log_dir))
        self._logged = 0

    def log_new_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows[self._logged :]:
            step = int(row["requests"] if "requests" in row else row["steps"])
            for key, value in row.items():
                if key in ("phase", "window", "requests", "steps") or not isinstance(value, (int, float)):
                    continue
                if not math.isnan(value):
                    self._writer.add_scalar(f"{row['phase']}/{key}", value, step)
        self._logged = len(rows)

    def close(self) -> None:
        self._writer.close()
