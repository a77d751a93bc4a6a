"""Progress lines in the log: every tenth of the loop or 30 s, whichever first, and a final line; the bar kept whole."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from mdembed.core import progress
from mdembed.core.progress import LOG_EVERY_PERCENT, LOG_EVERY_S, LOGGER_NAME, Progress


class Clock:
    """A fake ``time.monotonic`` that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress, "monotonic", fake)
    return fake


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def steps_of(messages: list[str]) -> list[int]:
    return [int(re.search(r": (?:done, )?(\d+)/", m).group(1)) for m in messages]


def run_loop(bar: Progress, clock: Clock, steps: int, seconds_per_step: float) -> None:
    for _ in range(steps):
        clock.now += seconds_per_step
        bar.update()


def test_the_intervals_are_a_tenth_and_30_seconds():
    assert (LOG_EVERY_PERCENT, LOG_EVERY_S) == (10, 30.0)


def test_a_line_at_every_tenth_and_a_final_line_with_every_field(caplog, clock):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    bar = Progress(50, True, desc="train market", unit="step", status=lambda: {"acceptance": "0.500"})
    run_loop(bar, clock, 50, 1.0)
    bar.close()
    messages = lines(caplog)
    assert steps_of(messages) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert messages[0] == "train market: 5/50 step (10%), 1.0 step/s, acceptance=0.500, ETA 0:00:45"
    assert messages[3] == "train market: 20/50 step (40%), 1.0 step/s, acceptance=0.500, ETA 0:00:30"
    assert messages[-1] == "train market: done, 50/50 step (100%), 1.0 step/s, acceptance=0.500, took 0:00:50"
    bar.close()  # closing twice writes nothing more
    assert len(lines(caplog)) == 10


def test_a_line_after_30_seconds_between_tenths(caplog, clock):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    bar = Progress(100, True, desc="eval", unit="req")
    run_loop(bar, clock, 31, 4.0)  # a tenth takes 40 s: 30 s pass first, and count again from every line
    assert steps_of(lines(caplog)) == [8, 10, 18, 20, 28, 30]
    assert lines(caplog)[0] == "eval: 8/100 req (8%), 0.2 req/s, ETA 0:06:08"


def test_a_slow_loop_writes_every_30_seconds(caplog, clock):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    bar = Progress(100_000, True, desc="ilp")
    run_loop(bar, clock, 10, 10.0)
    assert steps_of(lines(caplog)) == [3, 6, 9]


def test_a_resumed_loop_counts_from_where_it_starts(caplog, clock):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    bar = Progress(60, True, desc="train market", unit="step", done=25)
    run_loop(bar, clock, 5, 2.0)
    bar.close()
    # the next tenth of the whole loop (30 of 60), at the rate of this run's steps only
    assert lines(caplog) == [
        "train market: 30/60 step (50%), 0.5 step/s, ETA 0:01:00",
        "train market: done, 30/60 step (50%), 0.5 step/s, took 0:00:10",
    ]


def test_progress_off_hides_the_bar_but_keeps_the_log_lines(caplog, clock):
    """A sweep's jobs run with progress=false (their bars would interleave): their run.log still shows progress."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    bar = Progress(50, False, desc="eval")
    assert bar.bar.disable
    run_loop(bar, clock, 50, 1.0)
    bar.close()
    bar.close()
    assert steps_of(lines(caplog)) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_lines_print_above_the_bar_not_into_it(monkeypatch, clock):
    """The bar is shown (stderr is a terminal) and a console handler writes to the same stream: each log line
    must start a line of its own, not be glued to the end of the bar."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    log = logging.getLogger(LOGGER_NAME)
    monkeypatch.setattr(log, "level", logging.INFO)
    monkeypatch.setattr(log, "propagate", False)
    monkeypatch.setattr(log, "handlers", [handler])
    bar = Progress(50, True, desc="eval", status=lambda: {"acceptance": "1.000"})
    assert not bar.bar.disable
    run_loop(bar, clock, 50, 1.0)
    bar.close()
    assert log.handlers == [handler]  # the redirection is undone after each line
    output = terminal.getvalue()
    logged = [line.split("\r")[-1] for line in output.split("\n") if "[mdembed.progress]" in line]
    assert len(logged) == 10
    assert all(line.startswith("[mdembed.progress] eval: ") for line in logged), logged
    assert "eval: 100%" in output  # the bar itself was drawn
