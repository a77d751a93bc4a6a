"""Progress of long loops: a bar on a terminal, and lines in the log for runs without one.

The bar (tqdm) shows only when stderr is a terminal. The log lines go through
the standard :mod:`logging` module (logger :data:`LOGGER_NAME`, level INFO):
under ``python -m mdembed.run`` Hydra's job logging sends them to stdout and
to ``<run dir>/run.log``, so a cluster job, a ``nohup`` run or CI shows how
far a run is. Elsewhere (tests, scripts calling :func:`mdembed.run.run`)
nothing is configured to show INFO records and the lines cost nothing.
"""

from __future__ import annotations

import datetime
import logging
import sys
from time import monotonic
from typing import Callable, Mapping

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

PROGRESS_EVERY = 200  # steps between refreshes of the bar and its status
LOG_EVERY_PERCENT = 10  # a log line each time another this many percent of the loop are done ...
LOG_EVERY_S = 30.0  # ... or this many seconds have passed since the last line, whichever comes first
LOGGER_NAME = "mdembed.progress"  # the name log lines carry (kept from before the module moved into core)

logger = logging.getLogger(LOGGER_NAME)


class Progress:
    """Counts steps and shows them with a status (e.g. the running acceptance ratio).

    ``status`` is asked for its fields every :data:`PROGRESS_EVERY` steps and
    for each log line; ``done`` is where a resumed loop starts. ``bar``
    (the ``progress`` setting) shows the bar on a terminal; the log lines are
    written either way, so a sweep's jobs (``progress=false``: their bars
    would interleave) still say in their run.log how far they are.

    A log line (INFO, on :data:`logger`) names the phase (``desc``), the
    steps done of the total, the percentage, the rate of this loop's steps,
    the status fields and the estimated time left. One is written each time
    another :data:`LOG_EVERY_PERCENT` percent of the total are done or
    :data:`LOG_EVERY_S` seconds have passed since the last line, whichever
    comes first, and a final one at :meth:`close`. Each update reads
    :func:`time.monotonic` once and compares two numbers.

    When the bar is shown, the lines' console handlers (those writing to
    stdout or stderr, such as Hydra's) write through ``tqdm.write``
    (``tqdm.contrib.logging.logging_redirect_tqdm``), which clears the bar,
    prints the line above it and draws it again, so the bar stays whole and
    the terminal keeps the same lines as the log file; file handlers are left
    as they are. The redirection is entered around each line only, so no
    handler stays swapped if the loop raises before :meth:`close`.
    """

    def __init__(
        self,
        total: int,
        bar: bool,
        desc: str | None = None,
        unit: str = "req",
        done: int = 0,
        status: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.bar = tqdm(total=total, initial=done, disable=None if bar else True, unit=unit, smoothing=0.05, desc=desc)
        self.status = status
        self.pending = 0
        self.logging = True  # until close: a second close writes nothing more
        self.total = total
        self.desc = desc or "progress"
        self.unit = unit
        self.count = done  # steps done, this loop's and those before a resume
        self.start_count = done
        self.started = self.last_line = monotonic()
        self.next_mark = self._mark_after(done)
        global _active
        _active = self

    def update(self) -> None:
        self.pending += 1
        if self.pending == PROGRESS_EVERY:
            if self.status is not None:
                self.bar.set_postfix(self.status(), refresh=False)
            self.bar.update(self.pending)
            self.pending = 0
        self.count += 1
        if self.logging and (self.count >= self.next_mark or monotonic() - self.last_line >= LOG_EVERY_S):
            self._line(final=False)

    def close(self) -> None:
        global _active
        if _active is self:
            _active = None
        self.bar.update(self.pending)
        self.pending = 0
        self.bar.close()
        if self.logging:
            self._line(final=True)
            self.logging = False

    def _mark_after(self, count: int) -> float:
        """The first step after ``count`` that completes another LOG_EVERY_PERCENT percent, short of the total
        (the line at the total is the final one, written by :meth:`close`)."""
        if self.total <= 0:
            return float("inf")
        k = count * 100 // (LOG_EVERY_PERCENT * self.total) + 1
        mark = -(-k * LOG_EVERY_PERCENT * self.total // 100)  # ceil(k percent of the total)
        while mark <= count:
            k += 1
            mark = -(-k * LOG_EVERY_PERCENT * self.total // 100)
        return mark if mark < self.total else float("inf")

    def _line(self, final: bool) -> None:
        now = monotonic()
        self.last_line = now
        self.next_mark = self._mark_after(self.count)
        if not logger.isEnabledFor(logging.INFO):
            return
        elapsed = now - self.started
        steps = self.count - self.start_count
        rate = steps / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.count / self.total if self.total > 0 else 100.0
        parts = [f"{self.count}/{self.total} {self.unit} ({percent:.0f}%)", f"{rate:.1f} {self.unit}/s"]
        if self.status is not None:
            parts += [f"{key}={value}" for key, value in self.status().items()]
        if final:
            parts.append(f"took {_duration(elapsed)}")
        else:
            left = self.total - self.count
            parts.append(f"ETA {_duration(left / rate)}" if rate > 0 else "ETA ?")
        message = f"{self.desc}: {'done, ' if final else ''}{', '.join(parts)}"
        if self.bar.disable:
            logger.info(message)
        else:
            with logging_redirect_tqdm(loggers=_console_loggers()):
                logger.info(message)


_active: Progress | None = None  # the loop running now, for saying where an interrupted run stopped


def position() -> str | None:
    """Where the loop running now is, e.g. ``train market, step 5200 of 20000``; None between loops."""
    if _active is None:
        return None
    return f"{_active.desc}, {_active.unit} {_active.count} of {_active.total}"


def _console_loggers() -> list[logging.Logger]:
    """The loggers a progress line passes through that hold a console handler (stdout or stderr).

    Only those: ``logging_redirect_tqdm`` gives every logger it is handed a
    console handler, which on one without would print the line twice.
    """
    loggers, current = [], logger
    while current is not None:
        if any(isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr) for h in current.handlers):
            loggers.append(current)
        current = current.parent if current.propagate else None
    return loggers


def _duration(seconds: float) -> str:
    """H:MM:SS."""
    return str(datetime.timedelta(seconds=round(seconds)))


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
