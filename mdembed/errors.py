"""User-facing errors.

Anything a user can cause (a bad config value, a malformed topology file, an
unknown name) raises a subclass of :class:`MdembedError` with a one-line
message; the command-line entry point prints that line and exits non-zero
instead of showing a traceback.
"""


class MdembedError(Exception):
    """A problem with the user's input, reported as one line."""


class ConfigError(MdembedError):
    """An impossible or malformed configuration value."""


class TopologyError(MdembedError):
    """A topology that cannot be loaded or partitioned."""
