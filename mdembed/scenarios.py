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
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from mdembed.core import runs
from mdembed.core.errors import MdembedError
from mdembed.config import run_name
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


def _later(load: Callable[[], ModuleType], name: str) -> Callable[..., Any]:
    """The function ``name`` of the module ``load`` imports, imported at its first call: choosing a scenario loads
    nothing of the others (torch for the data centre, matplotlib for figures)."""
    return lambda *args: getattr(load(), name)(*args)


def _market_run() -> ModuleType:
    from mdembed.market import run

    return run


def _market_tables() -> ModuleType:
    from mdembed.market import tables

    return tables


def _market_figures() -> ModuleType:
    from mdembed.market import figures

    return figures


def _market_run_name(settings: Mapping[str, Any]) -> str:  # as the command line names its run directory
    topology, algorithm = settings.get("topology") or {}, settings.get("algorithm") or {}
    return run_name(topology.get("name", "run"), topology.get("path"), topology.get("num_domains", "?"),
                    topology.get("partition", "bfs"), algorithm.get("name", "?"), settings.get("seed", 0))  # fmt: skip


def _dc_experiment() -> ModuleType:
    from mdembed.dc import experiment

    return experiment


def _dc_aggregate() -> ModuleType:
    from mdembed.dc import aggregate

    return aggregate


def _dc_plots() -> ModuleType:
    from mdembed.dc import plots

    return plots


SCENARIOS.register(MARKET_SCENARIO)(Scenario(
    MARKET_SCENARIO, check=_later(_market_run, "check"), plan=_later(_market_run, "plan"),
    report=_later(_market_run, "report"), read=_later(_market_tables, "read_market_job"),
    tables=_later(_market_tables, "tables"), figures=_later(_market_figures, "plan_figures"),
    name_of_run=_market_run_name, compares="multi-domain job",
))  # fmt: skip
SCENARIOS.register(DC_SCENARIO)(Scenario(
    DC_SCENARIO, check=_later(_dc_experiment, "check"), plan=_later(_dc_experiment, "plan"),
    report=_later(_dc_experiment, "report"), read=_later(_dc_aggregate, "read_dc_job"),
    tables=_later(_dc_aggregate, "tables"), figures=_later(_dc_plots, "plan_figures"),
))  # fmt: skip
