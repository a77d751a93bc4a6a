"""Figures from result files only (nothing is re-simulated): ``python -m mdembed.plot DIR``.

DIR is a sweep directory or a single run. Each scenario's runs under DIR
get that scenario's figures, in DIR/figures (see
:mod:`mdembed.analysis.figures` for the multi-domain runs and
:mod:`mdembed.dc.plots` for the data-centre ones); a directory holding
runs of both gets both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mdembed.analysis.figures import FIGURES
from mdembed.config import MARKET_SCENARIO
from mdembed.errors import MdembedError, exit_with
from mdembed.scenarios import SCENARIOS

__all__ = ["FIGURES", "plot"]


def runs_by_scenario(directory: Path) -> dict[str, list[Path]]:
    """The finished runs under ``directory`` (itself included), by scenario name."""
    runs: dict[str, list[Path]] = {}
    for path in sorted(Path(directory).rglob("summary.json")):
        try:
            name = json.loads(path.read_text()).get("scenario", MARKET_SCENARIO)
        except (OSError, ValueError):
            continue  # a corrupt summary is aggregate's to report
        runs.setdefault(name, []).append(path.parent)
    return runs


def plot(directory: Path, baseline: str | None = None) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise MdembedError(f"{directory} is not a directory")
    runs = runs_by_scenario(directory)
    if not runs:
        raise MdembedError(f"no finished job (summary.json) under {directory}")
    written: list[Path] = []
    for name in sorted(runs):
        written += SCENARIOS.get(name).plot(directory, runs[name], baseline)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--baseline", help="the algorithm the paired figure of multi-domain runs takes differences to "
                        "(default: cff_3d when the directory holds it)")  # fmt: skip
    args = parser.parse_args()
    try:
        written = plot(args.directory, args.baseline)
    except MdembedError as err:
        exit_with(err)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
