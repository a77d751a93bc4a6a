"""A progress bar for long loops, shown on a terminal only."""

from __future__ import annotations

from typing import Callable, Mapping

from tqdm import tqdm

PROGRESS_EVERY = 200  # steps between refreshes of the bar and its status


class Progress:
    """Counts steps and shows them with a status (e.g. the running acceptance ratio).

    ``status`` is asked for its fields every :data:`PROGRESS_EVERY` steps;
    ``done`` is where a resumed loop starts.
    """

    def __init__(
        self,
        total: int,
        enabled: bool,
        desc: str | None = None,
        unit: str = "req",
        done: int = 0,
        status: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.bar = tqdm(total=total, initial=done, disable=None if enabled else True, unit=unit, smoothing=0.05, desc=desc)
        self.status = status
        self.pending = 0

    def update(self) -> None:
        self.pending += 1
        if self.pending == PROGRESS_EVERY:
            if self.status is not None:
                self.bar.set_postfix(self.status(), refresh=False)
            self.bar.update(self.pending)
            self.pending = 0

    def close(self) -> None:
        self.bar.update(self.pending)
        self.pending = 0
        self.bar.close()


class AcceptanceStatus:
    """The running acceptance ratio of the decisions shown so far, as a progress status."""

    def __init__(self) -> None:
        self.seen = 0
        self.accepted = 0

    def add(self, accepted: bool) -> None:
        self.seen += 1
        self.accepted += accepted

    def __call__(self) -> dict[str, str]:
        return {"acceptance": f"{self.accepted / self.seen:.3f}"} if self.seen else {}
