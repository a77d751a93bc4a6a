"""User-facing errors.

Anything a user can cause (a bad config value, a malformed topology file, an
unknown name) raises a subclass of :class:`MdembedError` with a one-line
message; the command-line entry point prints that line and exits non-zero
instead of showing a traceback (:func:`exit_with`).
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import Callable, NoReturn

EXIT_USER_ERROR = 2  # bad input: a setting, a file, a busy directory
EXIT_ENVIRONMENT = 1  # the machine failed the run: a read-only directory, a full disk


class MdembedError(Exception):
    """A problem with the user's input, reported as one line."""


class ConfigError(MdembedError):
    """An impossible or malformed configuration value."""


class TopologyError(MdembedError):
    """A topology that cannot be loaded or partitioned."""


class EnvironmentFailure(MdembedError):
    """The machine refused what a run needs (a directory it cannot write, a full disk), said in one line."""

    @classmethod
    def from_os_error(cls, err: OSError) -> "EnvironmentFailure":
        """Name the path and the cause, as the operating system gave them."""
        where = err.filename if err.filename is not None else "a file"  # callers add the path where the OS gave none
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            return cls(f"cannot use {where} as a directory: a file is in the way ({err.strerror})")
        return cls(f"cannot write {where}: {err.strerror or err}")


def exit_with(err: MdembedError) -> NoReturn:
    """Report an error as every command line does: one line ``mdembed: error: ...`` on stderr, then exit
    with status 2 (bad input) or 1 (the environment failed)."""
    print(f"mdembed: error: {err}", file=sys.stderr)
    sys.exit(exit_status(err))


def exit_status(err: MdembedError) -> int:
    """2 for bad input, 1 for a machine that failed the run."""
    return EXIT_ENVIRONMENT if isinstance(err, EnvironmentFailure) else EXIT_USER_ERROR


def command(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a command line's ``main`` so that it ends as every mdembed command does.

    A :class:`MdembedError` is one line and exit 2 (bad input) or 1 (the
    environment); an :class:`OSError` (a read-only or full directory) is one
    line naming its path, exit 1; standard output that is closed (``| head``)
    or full (``> /dev/full``) ends the command with one line on stderr and
    exit 1 instead of a traceback. Whatever the command had written stays.
    """

    @functools.wraps(main)
    def wrapped() -> None:
        try:
            main()
            sys.stdout.flush()
        except MdembedError as err:
            exit_with(err)
        except OSError as err:
            exit_with(output_failure(err) or EnvironmentFailure.from_os_error(err))

    return wrapped


def output_failure(err: BaseException) -> "EnvironmentFailure | None":
    """The one-line failure for standard output that can no longer be written (closed pipe, full device); None
    for any other error. Standard output is pointed at /dev/null so that nothing tries to write it again."""
    if not isinstance(err, OSError) or err.filename is not None:
        return None
    if not isinstance(err, BrokenPipeError) and err.errno not in (errno.ENOSPC, errno.EFBIG, errno.EIO):
        return None
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EnvironmentFailure(f"cannot write to standard output ({err.strerror or err}); files already written are kept")
