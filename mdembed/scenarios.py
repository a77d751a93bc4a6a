"""The scenarios a run can be, chosen by ``scenario=NAME``: the one seam between the commands and a scenario.

Each entry brings everything the commands need of it: its settings checked
(``check``, cheap: the command line runs it before Hydra creates a
directory), its run built without writing anything (``plan``; the run itself
is the returned job's ``run(out_dir)``), the one line printed after a run
(``report``), how a finished run is read back and checked (``read``), its
tables (``tables``) and its figures (``figures``). The commands find a
directory's runs with :func:`scan` and hand each scenario its own. Entries
import their modules only when used, so choosing a scenario costs nothing for
the others. A new scenario is a package of its own and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mdembed.core import runs
from mdembed.core.errors import MdembedError
from mdembed.core.registry import Registry
from mdembed.core.runs import Job, LeftOut
from mdembed.settings import DC_SCENARIO, MARKET_SCENARIO, Settings, scenario_of

if TYPE_CHECKING:
    import pandas as pd


class Plan(Protocol):
    """A checked, ready run: ``run`` writes the results into ``out_dir`` and returns the summary."""

    def run(self, out_dir: Path) -> dict[str, Any]: ...


Tables = tuple[dict[str, "pd.DataFrame"], Callable[[], None]]  # file name -> table, and what to print once written


@dataclass(frozen=True)
class Scenario:
    name: str
    check: Callable[[Mapping[str, Any], Settings], Any]  # the scenario's own settings checked, nothing built
    plan: Callable[[Mapping[str, Any], Settings], Plan]  # every setting checked and the run built, nothing written
    report: Callable[[Mapping[str, Any], Path], str]  # one line about a finished run
    read: Callable[[Path, dict[str, Any]], Job]  # a finished run's directory and summary, checked (else LeftOut)
    tables: Callable[[Path, list[Job], str | None], Tables]  # the aggregate tables of these runs (baseline name)
    # The figures of these runs into DIR/figures (baseline name, load): every argument checked, then the drawing.
    figures: Callable[[Path, list[Job], str | None, float | None], Callable[[], list[Path]]]
    # What a run of it is called (from its saved settings), for the directories eval and resume write.
    name_of_run: Callable[[Mapping[str, Any]], str] = lambda settings: f"{settings.get('scenario')}_seed{settings.get('seed', 0)}"
    compares: str | None = None  # what its runs are compared by name with (--baseline), if anything: "multi-domain job"


SCENARIOS: Registry[Scenario] = Registry("scenario")


def read(directory: Path, summary: dict[str, Any]) -> Job:
    """The run in ``directory``, read and checked by its own scenario; an unknown scenario is left out."""
    name = scenario_of(summary)
    if not isinstance(name, str) or name not in SCENARIOS:
        raise LeftOut(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS.names())}")
    return SCENARIOS.get(name).read(directory, summary)


def scan(root: Path) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Every finished run under ``root`` of any scenario, and the runs left out with why (:func:`mdembed.core.runs.scan`)."""
    return runs.scan(root, read)


def by_scenario(jobs: list[Job], baseline: str | None = None) -> dict[str, list[Job]]:
    """``jobs`` grouped by scenario, in the order of the scenarios' names; a ``baseline`` (--baseline NAME) is refused
    when no scenario among them compares its runs with one by name."""
    groups: dict[str, list[Job]] = {}
    for job in sorted(jobs, key=lambda job: job.scenario):
        groups.setdefault(job.scenario, []).append(job)
    if baseline not in (None, "none") and not any(SCENARIOS.get(name).compares for name in groups):
        kinds = " or ".join(sorted({s.compares for s in map(SCENARIOS.get, SCENARIOS.names()) if s.compares}))
        raise MdembedError(f"no job named {baseline!r} to compare with (names: no {kinds})")
    return groups


def _market() -> Scenario:
    def check(config: Mapping[str, Any], settings: Settings) -> Any:
        from mdembed.market.run import check

        return check(config, settings)

    def plan(config: Mapping[str, Any], settings: Settings) -> Plan:
        from mdembed.market.run import plan

        return plan(config, settings)

    def report(summary: Mapping[str, Any], out_dir: Path) -> str:
        from mdembed.market.run import report

        return report(summary, out_dir)

    def read(directory: Path, summary: dict[str, Any]) -> Job:
        from mdembed.market.tables import read_market_job

        return read_market_job(directory, summary)

    def tables(directory: Path, jobs: list[Job], baseline: str | None) -> Tables:
        from mdembed.market.tables import tables

        return tables(directory, jobs, baseline)

    def figures(directory: Path, jobs: list[Job], baseline: str | None, load: float | None) -> Callable[[], list[Path]]:
        from mdembed.market.figures import plan_figures

        return plan_figures(directory, jobs, baseline, load)

    def name_of_run(settings: Mapping[str, Any]) -> str:  # as the command line names its run directory
        from mdembed.config import run_name

        topology, algorithm = settings.get("topology") or {}, settings.get("algorithm") or {}
        return run_name(topology.get("name", "run"), topology.get("path"), topology.get("num_domains", "?"),
                        topology.get("partition", "bfs"), algorithm.get("name", "?"), settings.get("seed", 0))  # fmt: skip

    return Scenario(MARKET_SCENARIO, check, plan, report, read, tables, figures, name_of_run, compares="multi-domain job")


def _data_centre() -> Scenario:
    def check(config: Mapping[str, Any], settings: Settings) -> Any:
        from mdembed.dc.experiment import check

        return check(config, settings)

    def plan(config: Mapping[str, Any], settings: Settings) -> Plan:
        from mdembed.dc.experiment import plan

        return plan(config, settings)

    def report(summary: Mapping[str, Any], out_dir: Path) -> str:
        from mdembed.dc.experiment import report

        return report(summary, out_dir)

    def read(directory: Path, summary: dict[str, Any]) -> Job:
        from mdembed.dc.aggregate import read_dc_job

        return read_dc_job(directory, summary)

    def tables(directory: Path, jobs: list[Job], baseline: str | None) -> Tables:
        from mdembed.dc.aggregate import tables

        return tables(directory, jobs, baseline)

    def figures(directory: Path, jobs: list[Job], baseline: str | None, load: float | None) -> Callable[[], list[Path]]:
        from mdembed.dc.plots import plan_figures  # compares the DQN with its rules; no baseline, no load axis

        return plan_figures(directory, jobs)

    return Scenario(DC_SCENARIO, check, plan, report, read, tables, figures)


for _scenario in (_market(), _data_centre()):
    SCENARIOS.register(_scenario.name)(_scenario)
