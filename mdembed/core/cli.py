"""What the analysis command lines share, so that each ends as every mdembed command does (:func:`mdembed.core.errors.command`).

- :class:`ArgumentParser`: argparse's own errors (an unknown flag, a value
  that is not a number) as one ``mdembed: error`` line, exit 2, instead of a
  usage block;
- :func:`count`: an argument that counts something (repeats, requests), checked
  before any work;
- :func:`mdembed.run.compose_one` (beside the checks it reuses): the config of
  a command that runs one configuration, with every Hydra problem as one line.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from mdembed.core.validate import MAX_SETTING_INT
from mdembed.core.errors import ConfigError


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are a :class:`ConfigError`: one line, exit 2, like any other bad input."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def count(text: str) -> int:
    """A whole number from 1 to the largest count setting (an argparse ``type``): zero or less would leave nothing
    to measure, and a count past the settings' bound would only be refused after the first measurements."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    if value > MAX_SETTING_INT:
        raise argparse.ArgumentTypeError(f"expected a whole number <= {MAX_SETTING_INT}, got {value}")
    return value
