"""Collect a sweep's runs into tidy tables: ``python -m mdembed.analysis.aggregate DIR`` (``mdembed aggregate DIR``).

Reads every finished run under DIR (a directory holding ``summary.json``,
with Hydra's ``.hydra/config.yaml`` and ``overrides.yaml`` beside it) and
writes each scenario's tables into DIR: for multi-domain runs ``jobs.csv``,
``aggregate.csv`` and ``paired.csv`` (:mod:`mdembed.market.tables`), for
data-centre runs ``dc_aggregate.csv`` (:mod:`mdembed.dc.aggregate`).

A run that cannot be used is listed on stderr, with why, and left out (the
same walk ``mdembed plot`` takes, :func:`mdembed.scenarios.scan`): one that
failed (an ``error.txt`` and no ``summary.json``), a summary.json cut short
or lacking a value the tables read, unreadable Hydra files. Every table is
computed, and ``--baseline`` checked, before the first file is written.
Nothing is re-simulated.
"""

from __future__ import annotations

from pathlib import Path

from mdembed.core.cli import ArgumentParser
from mdembed.core.errors import command
from mdembed.core.io import write_csv
from mdembed.core.runs import report_left_out
from mdembed.scenarios import SCENARIOS, by_scenario, scan


def aggregate_directory(directory: Path, baseline: str | None = None) -> list[Path]:
    """Every scenario's tables of the runs under ``directory``, written into it once all are computed; the paths."""
    jobs, left_out = scan(directory)
    groups = by_scenario(jobs, baseline)
    results = [SCENARIOS.get(name).tables(directory, group, baseline) for name, group in groups.items()]
    written = []
    for tables, _ in results:
        for name, frame in tables.items():
            write_csv(directory / name, frame)
            written.append(directory / name)
    report_left_out(left_out)
    for _, report in results:
        report()
    return written


@command
def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--baseline", help="the name(s) the paired comparison takes differences to, separated by commas "
                        "(default: cff_3d when the directory holds it; 'none': no paired comparison)")  # fmt: skip
    args = parser.parse_args()
    aggregate_directory(args.directory, args.baseline)


if __name__ == "__main__":
    main()
