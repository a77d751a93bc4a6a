"""User-facing errors.

Anything a user can cause (a bad config value, a malformed topology file, an
unknown name) raises a subclass of :class:`MdembedError` with a one-line
message; the command-line entry point prints that line and exits non-zero
instead of showing a traceback (:func:`exit_with`).
"""

from __future__ import annotations

import sys
from typing import NoReturn

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
        where = err.filename if err.filename is not None else "a file"
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            return cls(f"cannot use {where} as a directory: a file is in the way ({err.strerror})")
        return cls(f"cannot write {where}: {err.strerror or err}")


def exit_with(err: MdembedError) -> NoReturn:
    """Report an error as every command line does: one line ``mdembed: error: ...`` on stderr, then exit
    with status 2 (bad input) or 1 (the environment failed)."""
    print(f"mdembed: error: {err}", file=sys.stderr)
    sys.exit(EXIT_ENVIRONMENT if isinstance(err, EnvironmentFailure) else EXIT_USER_ERROR)
