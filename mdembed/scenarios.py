"""The scenarios a run can be, chosen by ``scenario=NAME``: one registry for run, report and figures.

Each entry knows how to check its settings (``check``, cheap: the command
line runs it before Hydra creates a directory) and build a run without writing
anything (``plan``; the run itself is the returned job's ``run(out_dir)``),
the one line printed after a run (``report``) and its figures (``plot``).
Entries import their modules only when used, so choosing a scenario costs
nothing for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from mdembed.settings import DC_SCENARIO, MARKET_SCENARIO, Settings
from mdembed.core.registry import Registry


class Job(Protocol):
    """A checked, ready run: ``run`` writes the results into ``out_dir`` and returns the summary."""

    def run(self, out_dir: Path) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Scenario:
    name: str
    check: Callable[[Mapping[str, Any], Settings], Any]  # the scenario's own settings checked, nothing built
    plan: Callable[[Mapping[str, Any], Settings], Job]  # every setting checked and the run built, nothing written
    report: Callable[[Mapping[str, Any], Path], str]  # one line about a finished run
    plot: Callable[[Path, list[Path], str | None], list[Path]]  # figures of these runs into DIR/figures (baseline name)


SCENARIOS: Registry[Scenario] = Registry("scenario")


def _check_market(config: Mapping[str, Any], settings: Settings) -> Any:
    from mdembed.market.run import check

    return check(config, settings)


def _plan_market(config: Mapping[str, Any], settings: Settings) -> Job:
    from mdembed.market.run import plan

    return plan(config, settings)


def _report_market(summary: Mapping[str, Any], out_dir: Path) -> str:
    from mdembed.market.run import report

    return report(summary, out_dir)


def _plot_market(directory: Path, runs: list[Path], baseline: str | None) -> list[Path]:
    from mdembed.analysis.figures import plot_market

    return plot_market(directory, runs, baseline)


def _check_dc(config: Mapping[str, Any], settings: Settings) -> Any:
    from mdembed.dc.experiment import check

    return check(config, settings)


def _plan_dc(config: Mapping[str, Any], settings: Settings) -> Job:
    from mdembed.dc.experiment import plan

    return plan(config, settings)


def _report_dc(summary: Mapping[str, Any], out_dir: Path) -> str:
    from mdembed.dc.experiment import report

    return report(summary, out_dir)


def _plot_dc(directory: Path, runs: list[Path], baseline: str | None) -> list[Path]:  # compares with its autoscaler
    from mdembed.dc.plots import plot_dc

    return plot_dc(directory, runs)


SCENARIOS.register(MARKET_SCENARIO)(Scenario(MARKET_SCENARIO, _check_market, _plan_market, _report_market, _plot_market))
SCENARIOS.register(DC_SCENARIO)(Scenario(DC_SCENARIO, _check_dc, _plan_dc, _report_dc, _plot_dc))
