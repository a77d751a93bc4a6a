"""One run directory, one run: an advisory lock held for as long as a run writes into a directory.

Two runs into the same ``hydra.run.dir`` would otherwise both succeed and mix
their files (one seed's summary beside another's settings). The lock is a
``flock`` on ``DIR/.mdembed.lock``: the kernel releases it when the holder
exits, however it exits (kill -9 included), so a lock left by a dead run
never blocks the next one. The file names its holder for the error message.
POSIX only, like the cluster launchers.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mdembed.core.errors import MdembedError

LOCK_FILE = ".mdembed.lock"


class DirectoryBusy(MdembedError):
    """Another live process holds the directory's lock."""


_held: dict[Path, int] = {}  # directory -> descriptor of its locked file, for the locks this process holds


def acquire(directory: Path) -> None:
    """Lock ``directory`` (created if missing) for this process; DirectoryBusy naming the holder if another has it.

    Re-entrant: a directory this process already holds is left as it is.
    """
    directory = Path(directory).resolve()
    if directory in _held:
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "a process that has not said who it is"
            os.close(fd)
            raise DirectoryBusy(f"{directory} is in use by another run ({holder}); wait for it to end or choose another directory") from None
        try:  # the holder may have removed the file between our open and our lock: lock the file that is there now
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    command = " ".join(["python -m mdembed.run" if sys.argv[0].endswith("run.py") else Path(sys.argv[0]).name, *sys.argv[1:]])
    note = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}: {command}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, note[:480].encode("utf-8"), 0)
    _held[directory] = fd


def busy(directory: Path) -> bool:
    """Whether a live process (this one or another) holds ``directory``'s lock now."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def holder_pid(directory: Path) -> int | None:
    """The pid of the process holding ``directory``'s lock on this machine, as its lock file says; None if none."""
    if not busy(directory):
        return None
    try:
        note = (Path(directory) / LOCK_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    pid, _, host = note.removeprefix("pid ").partition(" on ")
    return int(pid) if pid.isdigit() and host.startswith(socket.gethostname() + " ") else None


def held() -> list[Path]:
    """The directories this process holds now."""
    return list(_held)


def release(directory: Path) -> None:
    """Give the lock up and remove its file (nothing is left behind in a finished run's directory)."""
    fd = _held.pop(Path(directory).resolve(), None)
    if fd is None:
        return
    try:
        os.unlink(Path(directory).resolve() / LOCK_FILE)
    except OSError:
        pass  # already gone, or a read-only directory: the lock ends with the descriptor anyway
    os.close(fd)


@contextmanager
def holding(directory: Path) -> Iterator[None]:
    """Hold the lock of ``directory`` for the block (released after, unless it was already held before)."""
    directory = Path(directory).resolve()
    outer = directory in _held
    acquire(directory)
    try:
        yield
    finally:
        if not outer:
            release(directory)
