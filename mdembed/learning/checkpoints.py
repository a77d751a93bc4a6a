"""Checkpoint files: written atomically, read with ``weights_only=True``, refused in one line when they do not fit.

A checkpoint is a dict of tensors and plain values tagged with
:data:`CHECKPOINT_FORMAT`. The training loop writes ``checkpoints/last.pt``
(everything needed to continue exactly) and ``policy.pt`` (what evaluation
needs); both name their scenario and the settings that decided them.
"""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mdembed.core.errors import ConfigError
from mdembed.core.io import atomic, leaves

CHECKPOINT_FORMAT = "mdembed-checkpoint-2"
_OLDER_FORMATS = ("mdembed-checkpoint-1",)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    serialized = io.BytesIO()  # in memory first: torch's writer reports a full disk as a bare RuntimeError
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, serialized)
    with atomic(path) as tmp, open(tmp, "wb") as file:  # no half-written file is left to look like a checkpoint
        file.write(serialized.getbuffer())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; anything unreadable is a one-line ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"checkpoint {path} is a directory, not a checkpoint file")
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
    bad = _first_non_finite(data.get("learner"), "learner")
    if bad is not None:
        raise ConfigError(
            f"checkpoint {path} holds non-finite values in {bad} (NaN or infinity: the training diverged); "
            "it cannot be used"
        )
    return data


def _first_non_finite(value: Any, name: str) -> str | None:
    """The dotted name of the first floating tensor in ``value`` holding NaN or infinity; None if none.

    Walks nested dicts, lists and tuples (networks, optimizer states, replay
    buffers alike), so a diverged learner is refused when it is loaded, not
    found out from NaN prices later. :func:`load_checkpoint` walks the
    learner's state only: the task's metrics hold NaN by design (a mean price
    with nothing quoted), and so may a learner's plain floats (a loss before
    the first update), which are not weights and are not checked.
    """
    for key, leaf in leaves(value, name):
        if isinstance(leaf, torch.Tensor) and (leaf.is_floating_point() or leaf.is_complex()) and not bool(torch.isfinite(leaf).all()):
            return key
    return None


@contextmanager
def restoring(failure: str) -> Iterator[None]:
    """Report state that does not fit (a missing key, a wrong shape or type) as one line: ``failure: reason``."""
    try:
        yield
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(f"{failure}: {reason}") from None


def rng_to_tensor(rng: np.random.Generator) -> torch.Tensor:
    """A numpy Generator's state as bytes in a tensor, so checkpoints stay weights-only loadable."""
    return torch.frombuffer(bytearray(json.dumps(rng.bit_generator.state).encode()), dtype=torch.uint8)


def rng_from_tensor(tensor: torch.Tensor) -> np.random.Generator:
    """The Generator :func:`rng_to_tensor` saved (or its state as a dict, as DQN checkpoints held it before)."""
    state = tensor if isinstance(tensor, dict) else json.loads(bytes(tensor.numpy()).decode())
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def random_state(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """What a learner's checkpoint keeps of its randomness: its numpy Generator and torch's global generator."""
    return {"rng": rng_to_tensor(rng), "torch_rng": torch.get_rng_state()}


def restore_random_state(state: dict[str, Any]) -> np.random.Generator:
    """Set torch's generator as :func:`random_state` saved it; the learner's numpy Generator, to be kept."""
    torch.set_rng_state(state["torch_rng"])
    return rng_from_tensor(state["rng"])
