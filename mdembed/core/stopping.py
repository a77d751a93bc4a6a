"""Stopping a run on a signal: at once, or after the current training step with a checkpoint to resume from.

A cluster ends a job with SIGTERM (``kill``, ``scancel``, a time limit) and
submitit warns of a time limit or preemption with SIGUSR2 before it. Inside a
training loop (:func:`between_steps`) the signal is only noted: the loop
finishes its step, saves ``checkpoints/last.pt`` and raises :class:`Terminated`,
so the job resumes from that step when run again. Anywhere else the signal
raises :class:`Terminated` at once (an evaluation starts again from its start).

A Python handler that was there before ours (submitit's in a SLURM job: it
requeues the job on SIGUSR2 and ignores SIGTERM) gets the signal after the
checkpoint is saved, with ours taken off first; if it returns, the job goes
on as that launcher chose, and :class:`Terminated` is not raised.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any, Callable, Iterator

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # the shell's 128 + SIGINT, 128 + SIGTERM

STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGUSR2", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGUSR2 (a cluster's time limit, ``kill``), handled like Ctrl-C."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


_before_stop: Callable[[int], None] | None = None  # what a process does before it stops (a sweep: let its jobs save)
_previous: dict[int, Any] = {}  # the handlers installed before ours, called once a checkpoint is saved
_in_loop = 0  # training loops running in this process: a signal waits for the end of their step
_noted: int | None = None  # the signal received during a step


def install(before_stop: Callable[[int], None] | None = None) -> None:
    """Handle the stop signals in this process (the main thread only: elsewhere Python refuses, and we leave it);
    ``before_stop(signum)`` runs before :class:`Terminated` is raised outside a training loop."""
    global _before_stop
    if before_stop is not None:
        _before_stop = before_stop
    for signum in STOP_SIGNALS:
        try:
            previous = signal.signal(signum, _handle)
        except ValueError:  # not the main thread
            return
        if previous is not _handle:
            _previous[signum] = previous


def uninstall() -> None:
    """The handlers there were before :func:`install` (a signal as the command exits ends it as usual)."""
    for signum, previous in list(_previous.items()):
        try:
            signal.signal(signum, previous)
        except (ValueError, TypeError):
            pass
    _previous.clear()
    global _before_stop
    _before_stop = None


def _handle(signum: int, frame: Any) -> None:
    global _noted
    if _in_loop:
        _noted = signum
        return
    if _before_stop is not None:
        _before_stop(signum)
    if not _handed_over(signum):
        raise Terminated(signal.Signals(signum).name)


def _handed_over(signum: int) -> bool:
    """Give the signal to the Python handler there before ours, if any (ours are taken off first, so a signal that
    handler's own steps bring, such as SLURM's SIGTERM to a requeued job, is its to handle); whether there was one."""
    previous = _previous.get(signum)
    if not callable(previous):
        return False
    before_stop = _before_stop
    uninstall()
    previous(signum, None)
    install(before_stop)  # it returned (submitit ignores SIGTERM): the job goes on, and a later signal is ours again
    return True


@contextlib.contextmanager
def between_steps() -> Iterator[None]:
    """Within this block a stop signal waits for :func:`stop_if_asked` (called between two training steps)."""
    global _in_loop
    _in_loop += 1
    try:
        yield
    finally:
        _in_loop -= 1


def stop_if_asked(save: Callable[[], None]) -> None:
    """If a stop signal came during the step just done: ``save`` (the checkpoint), then hand the signal to the
    handler that was there before ours (submitit's requeue), or else raise :class:`Terminated`."""
    global _noted
    signum, _noted = _noted, None
    if signum is None:
        return
    save()
    if not _handed_over(signum):
        raise Terminated(signal.Signals(signum).name)


def stopped_by(stop: KeyboardInterrupt) -> tuple[str, int]:
    """The signal's name for people and the exit status the shell gives it."""
    return (stop.signal_name, EXIT_TERMINATED) if isinstance(stop, Terminated) else ("Ctrl-C", EXIT_INTERRUPTED)
