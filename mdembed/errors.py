"""User-facing errors.

Anything a user can cause (a bad config value, a malformed topology file, an
unknown name) raises a subclass of :class:`MdembedError` with a one-line
message; the command-line entry point prints that line and exits non-zero
instead of showing a traceback (:func:`exit_with`).
"""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_USER_ERROR = 2


class MdembedError(Exception):
    """A problem with the user's input, reported as one line."""


class ConfigError(MdembedError):
    """An impossible or malformed configuration value."""


class TopologyError(MdembedError):
    """A topology that cannot be loaded or partitioned."""


def exit_with(err: MdembedError) -> NoReturn:
    """Report a user error as every command line does: one line ``mdembed: error: ...`` on stderr, exit status 2."""
    print(f"mdembed: error: {err}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
