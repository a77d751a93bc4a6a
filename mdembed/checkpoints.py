"""Checkpoint files: written atomically, read with ``weights_only=True``, refused in one line when they do not fit.

A checkpoint is a dict of tensors and plain values tagged with
:data:`CHECKPOINT_FORMAT`. The training loop writes ``checkpoints/last.pt``
(everything needed to continue exactly) and ``policy.pt`` (what evaluation
needs); both name their scenario and the settings that decided them.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mdembed.errors import ConfigError
from mdembed.network.substrate import Substrate

CHECKPOINT_FORMAT = "mdembed-checkpoint-2"
_OLDER_FORMATS = ("mdembed-checkpoint-1",)


def substrate_fingerprint(substrate: Substrate) -> str:
    """A digest of everything a market policy's shapes and meaning depend on."""
    digest = hashlib.sha256()
    for array in (substrate.node_domain, substrate.node_capacity, substrate.link_ends, substrate.link_owner,
                  substrate.link_bandwidth, substrate.link_delay_ms, substrate.link_loss):  # fmt: skip
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; anything unreadable is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong magic, unpickling refused ...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(f"checkpoint {path} is truncated or corrupt ({reason})") from None
    if isinstance(data, dict) and data.get("format") in _OLDER_FORMATS:
        raise ConfigError(f"checkpoint {path} was written by an older mdembed ({data['format']}); train again")
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"checkpoint {path} is not an mdembed checkpoint")
    return data


@contextmanager
def restoring(failure: str) -> Iterator[None]:
    """Report state that does not fit (a missing key, a wrong shape or type) as one line: ``failure: reason``."""
    try:
        yield
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(f"{failure}: {reason}") from None
