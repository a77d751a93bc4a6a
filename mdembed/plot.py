"""Figures from result files only (nothing is re-simulated): ``python -m mdembed.plot DIR``.

DIR is a sweep directory or a single run. Each scenario's runs under DIR
get that scenario's figures, in DIR/figures (see
:mod:`mdembed.market.figures` for the multi-domain runs and
:mod:`mdembed.dc.plots` for the data-centre ones); a directory holding
runs of both gets both. The jobs used and those left out (listed on stderr,
with why) are the same as for ``python -m mdembed.analysis.aggregate``
(:func:`mdembed.scenarios.scan`); every argument is checked before
the first figure is written.

Multi-domain runs also get a map of their domains with each node's and
link's mean used share (:mod:`mdembed.market.domain_map`): ``domain_map``
for a single run, ``domain_map_<name>`` per algorithm (and variant) of a
sweep, at one load (``--load RATE``, default the highest present), from the
job of the lowest seed.
"""

from __future__ import annotations

from pathlib import Path

from mdembed.core.cli import ArgumentParser
from mdembed.core.errors import command
from mdembed.core.runs import Job, report_left_out
from mdembed.scenarios import SCENARIOS, by_scenario, scan

__all__ = ["plot"]


def plot(directory: Path, baseline: str | None = None, load: float | None = None) -> list[Path]:
    """Every figure of the usable runs under ``directory``; the paths written."""
    return draw(Path(directory), scan(directory)[0], baseline, load)


def draw(directory: Path, jobs: list[Job], baseline: str | None = None, load: float | None = None) -> list[Path]:
    """The figures of ``jobs``, each scenario's own, once every scenario has checked its arguments (``baseline``
    names a multi-domain run that can be paired, ``load`` a rate they ran): a refused one leaves no figure."""
    groups = by_scenario(jobs, baseline)
    drawings = [SCENARIOS.get(name).figures(directory, group, baseline, load) for name, group in groups.items()]
    return [path for drawing in drawings for path in drawing()]


@command
def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--baseline", help="the algorithm the paired figure of multi-domain runs takes differences to "
                        "(default: cff_3d when the directory holds it; 'none': no paired figure)")  # fmt: skip
    parser.add_argument("--load", type=float, metavar="RATE",
                        help="the arrival rate whose runs the domain maps show (one map per algorithm: "
                        "figures/domain_map_<name>, from its lowest seed; a single run: figures/domain_map); "
                        "default: the highest rate present")  # fmt: skip
    args = parser.parse_args()
    jobs, left_out = scan(args.directory)
    for path in draw(args.directory, jobs, args.baseline, args.load):
        print(path)
    report_left_out(left_out)


if __name__ == "__main__":
    main()
