"""Figures of multi-domain runs, from their result files only (``mdembed plot DIR``).

DIR is a sweep directory (or a single run). Writes PNG (300 dpi) and PDF into DIR/figures, each one column
of a two-column paper wide (3.35 in, 8.5 cm) and read there at 1:1: its panels in at most 2 columns, its
text 7-8 pt and its legend outside the data (under the panels, or in the grid's free panel). Above its panels every figure states its scope: the
topology, the number of domains, the requests of a run, the seeds and n, the seeds behind each point. A 95%
interval over seeds (Student t) is drawn only where a point has n >= 3 seeds (:data:`MIN_BAND`); with
fewer, each seed's own value is drawn. Revenue and cost read in thousands ("150k").

- ``acceptance_vs_load`` (several arrival rates): acceptance ratio of VNF-FGs, VNFs and VLs against the
  arrival rate, a line per algorithm (mean over seeds);
- ``revenue_cost_vs_load`` (several arrival rates): revenue and cost at each arrival rate, the algorithms
  side by side: each seed a dot, the mean a point with its 95% interval (wide with a few seeds: side by side,
  no interval hides another algorithm);
- ``acceptance_revenue`` (several algorithms): per arrival rate, each algorithm a point, revenue across and
  acceptance up (who accepts most and who earns most);
- ``paired_vs_load`` (the baseline, ``cff_3d`` unless told otherwise, and another algorithm): per algorithm
  and arrival rate, the mean over seeds of its difference to the baseline on the same workloads, for VNF-FG
  acceptance and revenue; the algorithms side by side at each rate;
- ``domains_vs_load`` (several arrival rates, with metrics.csv): per domain, its mean quoted price and its
  revenue against its OWN load, its node utilization (mean over the evaluation windows): a dot per run, a
  line through each algorithm's means at the arrival rates (marker: the rate). Does a loaded domain raise
  its prices? Algorithms whose domains quote no price of their own (:func:`quotes_prices`: sa, sa_cff, ilp)
  have no price line;
- ``price_vs_load``: per domain, each pricing algorithm's mean quoted price of an element (node resource or
  link) against that element's own used share when the request arrived, pooled over arrival rates and seeds
  (weighted by quotes; thin: each seed). Does a learned policy follow load, element by element?
- ``decision_time``: median and p95 decision time per algorithm (log scale), mean over its runs;
- ``domains``: per domain, node utilization and hosted VNFs and VLs per algorithm (evaluation windows, mean
  over windows and runs);
- ``learning_curves`` (training runs only): one panel per metric (the domains' total reward, mean quoted
  price, acceptance ratio, share of actor outputs at a price bound) along training; colour: the algorithm
  or arm; several loads: a line style each, or, from :data:`BY_LOAD` arms on, rows of panels each; each
  seed's windows faint, and the mean over seeds of their rolling mean (:func:`smoothing_windows`), with its
  95% band where n >= 3 and the panel holds at most :data:`MAX_BANDS` curves.

A directory a figure does not apply to gets none of it (no empty or one-dot figure): a single arrival rate,
or a single run, draws no figure against the arrival rate (:data:`AGAINST_LOAD`), a single algorithm no
``acceptance_revenue``, no trained run no ``learning_curves``. The load axis is logarithmic when the loads span
a factor of 10 or more (the paper sweep's log-spaced rates), and every figure of a directory gives an
algorithm the same colour (:func:`colours`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from mdembed.market.tables import PAIR_KEY, aggregate, comparison, jobs_table, read_market_job  # noqa: E402
from mdembed.core.runs import Job, scan  # noqa: E402
from mdembed.core.figures import (  # noqa: E402
    SINGLE_COLUMN, MIN_BAND, STYLE, new_figure, caption, legend, legend_groups, save, read_metrics, listed, seed_list, count_range, spread_note, smoothing_windows, thousands,
)  # fmt: skip
from mdembed.core.statistics import mean_interval  # noqa: E402

FIGURES = ("acceptance_vs_load", "revenue_cost_vs_load", "acceptance_revenue", "paired_vs_load", "domains_vs_load",
           "price_vs_load", "decision_time", "domains", "learning_curves")  # fmt: skip
AGAINST_LOAD = ("acceptance_vs_load", "revenue_cost_vs_load", "domains_vs_load")  # need several arrival rates
# The registered algorithms keep their colour in every figure; other names (a study's arms) take the next free ones.
ALGORITHM_COLOURS = {"ddpg": "tab:red", "cff_3d": "tab:blue", "cff_sd": "tab:orange", "sa": "tab:green",
                     "sa_cff": "tab:purple", "ilp": "black", "load_linear": "tab:brown", "load_power": "tab:pink",
                     "load_exp": "tab:olive", "ppo": "tab:cyan"}  # fmt: skip
_MORE_COLOURS = ("tab:gray", "darkgoldenrod", "navy", "teal", "darkviolet", "maroon", "sienna", "slateblue", "coral",
                 "darkgreen", "orchid")  # fmt: skip  (dark enough to read as a thin line on white)
LOAD_LABEL = "arrival rate{}\n(VNF-FGs per time unit)"  # {}: ", log scale" or nothing
DOMAIN_SHADES = ("0.2", "0.5", "0.8", "0.35", "0.65", "0.95")  # greys: the algorithms' colours stay theirs alone
LOAD_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))  # one per load in the learning curves
LOAD_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # one per load in domains_vs_load



def colours(names: list[str] | set[str]) -> dict[str, str]:
    """One colour per name, the same in every figure of a directory."""
    free = [c for c in _MORE_COLOURS]
    out = {}
    for name in sorted(names):
        out[name] = ALGORITHM_COLOURS.get(name) or (free.pop(0) if free else "gray")
    return out


def quotes_prices(algorithm: str) -> bool:
    """Whether the domains quote prices of their own under ``algorithm``. Not under a search or an exact solver
    (sa, sa_cff, ilp): a central search or solver decides, and the prices its summary records are the static
    ones it scores with, or those its search tried. An algorithm the registry does not know is drawn."""
    from mdembed.agents import ALGORITHMS
    from mdembed.agents.registry import EXACT, SEARCH

    return algorithm not in ALGORITHMS or ALGORITHMS.get(algorithm).kind not in (SEARCH, EXACT)


def _load_axis(ax: plt.Axes, rates: list[float]) -> None:
    """A log axis with the swept rates as ticks when they span a factor of 10 or more; linear otherwise."""
    rates = sorted({float(r) for r in rates if r == r})
    if len(rates) > 2 and rates[0] > 0 and rates[-1] / rates[0] >= 10:
        ax.set_xscale("log")
        ax.set_xticks(rates)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(LOAD_LABEL.format(", log scale"))
    else:
        ax.set_xlabel(LOAD_LABEL.format(""))


def _name_handles(names: Iterable[str], palette: dict[str, str], marker: str | None = "o", line: bool = True) -> list[Line2D]:
    return [Line2D([], [], color=palette[n], marker=marker, linestyle="-" if line else "none", label=n) for n in names]


def seeds_per_point(jobs: pd.DataFrame) -> pd.Series:
    """How many seeds each (name, arrival rate) averages."""
    return jobs.groupby(["name", "arrival_rate"], dropna=False).seed.nunique()


def market_scope(jobs: pd.DataFrame, requests: str | None = None, per: str = "point") -> str:
    """One line: topology, domains, requests per run, seeds and n, the seeds behind each ``per`` (``requests``:
    said otherwise)."""
    domains = listed(jobs.num_domains) if "num_domains" in jobs else "?"
    requests = requests or (f"{listed(jobs.requests)} requests per run" if "requests" in jobs else "")
    n = count_range(seeds_per_point(jobs))
    parts = [f"topology {listed(jobs.topology)}", f"{domains} domains", requests, f"{seed_list(jobs.seed)} (n = {n} per {per})"]
    return ", ".join(p for p in parts if p)


def _rates(jobs: pd.DataFrame) -> list[float]:
    return sorted({float(r) for r in jobs.arrival_rate if pd.notna(r)})


# --- figures against the arrival rate ------------------------------------------------------------------------------


def _against_load(jobs: pd.DataFrame, table: pd.DataFrame, panels: list[tuple[str, str, bool]], out: Path, name: str,
                  palette: dict[str, str]) -> list[Path]:  # fmt: skip
    """One panel per metric (2 columns), a line per algorithm against the arrival rate: the mean over seeds, with
    its 95% band (n >= MIN_BAND) or each seed's value (fewer)."""
    rates = _rates(jobs)
    free = len(panels) % 2  # an odd number of panels leaves one free: the legend's
    rows = (len(panels) + free) // 2
    names = sorted(set(table.name))
    fig, axes = new_figure(SINGLE_COLUMN, 1.5 * rows + 0.55, rows, 2)
    counts = table[table.metric == panels[0][0]].n
    for ax, (metric, label, in_thousands) in zip(axes.flat, panels):
        rows_of = table[(table.metric == metric) & table["mean"].notna()]
        for algorithm, group in rows_of.groupby("name"):
            group = group.sort_values("arrival_rate")
            colour = palette[algorithm]
            ax.plot(group.arrival_rate, group["mean"], marker="o", color=colour, label=algorithm)
            if (group.n >= MIN_BAND).all():
                low, high = group.ci95_low.clip(lower=0), group.ci95_high  # every metric here is non-negative
                if metric.endswith("acceptance_ratio"):  # and a ratio is at most 1
                    high = high.clip(upper=1)
                ax.fill_between(group.arrival_rate, low, high, color=colour, alpha=0.12, linewidth=0)
            else:
                seeds = jobs[jobs.name == algorithm]
                ax.scatter(seeds.arrival_rate, seeds[metric], color=colour, s=6, alpha=0.6, linewidths=0, zorder=3)
        _load_axis(ax, rates)
        ax.set_ylabel(label)
        if in_thousands:
            thousands(ax.yaxis)
        ax.grid(True)
    caption(fig, market_scope(jobs), spread_note(counts))
    legend(fig, _name_handles(names, palette), axes.flat[-1] if free else None)
    return save(fig, out, name)


def _slots(ax: plt.Axes, rates: list[float]) -> None:
    """The arrival rates as evenly spaced slots of the x axis, a thin line between two."""
    for boundary in range(len(rates) - 1):
        ax.axvline(boundary + 0.5, color="0.85", linewidth=0.6)
    ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
    ax.set_xlim(-0.5, len(rates) - 0.5)
    ax.set_xlabel(LOAD_LABEL.format(""))


def _side_by_side(jobs: pd.DataFrame, table: pd.DataFrame, panels: list[tuple[str, str, bool]], out: Path, name: str,
                  palette: dict[str, str]) -> list[Path]:  # fmt: skip
    """One panel per metric, the arrival rates as slots and the algorithms side by side in each: each seed's value
    (dots) and the mean over seeds, with its 95% interval where n >= MIN_BAND. Wide intervals (a handful of
    seeds of a metric that varies with the workload, as revenue does) then hide no other algorithm."""
    rates = _rates(jobs)
    names = sorted(set(table.name))
    step = 0.8 / max(1, len(names))
    fig, axes = new_figure(SINGLE_COLUMN, 1.6 * len(panels) + 0.55, len(panels), 1, sharex=True)
    counts = table[table.metric == panels[0][0]].n
    for ax, (metric, label, in_thousands) in zip(axes.flat, panels):
        rows = table[(table.metric == metric) & table["mean"].notna()]
        for k, algorithm in enumerate(names):
            shift = (k - (len(names) - 1) / 2) * step
            group = rows[rows.name == algorithm].sort_values("arrival_rate")
            seeds = jobs[jobs.name == algorithm]
            colour = palette[algorithm]
            ax.scatter([rates.index(r) + shift for r in seeds.arrival_rate], seeds[metric], color=colour, s=5,
                       alpha=0.45, linewidths=0)  # fmt: skip
            x = [rates.index(r) + shift for r in group.arrival_rate]
            if (group.n >= MIN_BAND).all():
                low = group.ci95_low.clip(lower=0)  # every metric here is non-negative
                ax.errorbar(x, group["mean"], yerr=[group["mean"] - low, group.ci95_high - group["mean"]], marker="o",
                            markersize=3, capsize=1.5, linewidth=0.8, linestyle="none", color=colour, label=algorithm)  # fmt: skip
            else:
                ax.plot(x, group["mean"], marker="o", markersize=3, linestyle="none", color=colour, label=algorithm)
        _slots(ax, rates)
        ax.set_ylabel(label)
        if in_thousands:
            thousands(ax.yaxis)
        ax.grid(True, axis="y")
    for ax in axes.flat[:-1]:  # one axis of rates, under the last panel
        ax.set_xlabel("")
    note = ("dots: each seed; point: mean over seeds; bars: its 95% interval" if len(counts) and counts.min() >= MIN_BAND
            else f"dots: each seed; point: mean over seeds (n < {MIN_BAND}: no interval)")  # fmt: skip
    caption(fig, market_scope(jobs), note)
    legend(fig, _name_handles(names, palette, line=False))
    return save(fig, out, name)


def _acceptance_revenue(jobs: pd.DataFrame, table: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Per load, each algorithm a point: revenue across, acceptance up, each with its 95% interval over seeds
    (n >= MIN_BAND) or its seeds' own points.

    Who accepts most and who earns most, at a glance: an algorithm up and to
    the right of another beats it on both.
    """
    rates = sorted(set(table.arrival_rate))
    columns = 1 if len(rates) <= 3 else 2  # panels side by side from 4 loads on
    rows_n = -(-len(rates) // columns)
    names = sorted(set(table.name))
    fig, axes = new_figure(SINGLE_COLUMN, (1.9 if columns == 1 else 1.5) * rows_n + 0.45,
                           rows_n, columns)  # fmt: skip
    counts = table[table.metric == "acceptance_ratio"].n
    for ax, rate in zip(axes.flat, rates):
        at = table[table.arrival_rate == rate].set_index(["name", "metric"])
        for name in sorted({n for n, _ in at.index}):
            if (name, "acceptance_ratio") not in at.index or (name, "revenue") not in at.index:
                continue
            accept, revenue = at.loc[(name, "acceptance_ratio")], at.loc[(name, "revenue")]
            x, y = revenue["mean"], accept["mean"]
            if accept.n >= MIN_BAND:  # intervals clipped to what the metrics can be
                x_low, x_high = max(revenue.ci95_low, 0.0), revenue.ci95_high
                y_low, y_high = max(accept.ci95_low, 0.0), min(accept.ci95_high, 1.0)
                ax.errorbar(x, y, xerr=[[x - x_low], [x_high - x]], yerr=[[y - y_low], [y_high - y]], color=palette[name],
                            label=name, marker="o", markersize=3.5, capsize=1.5, linewidth=0.8)  # fmt: skip
            else:
                seeds = jobs[(jobs.name == name) & (jobs.arrival_rate == rate)]
                ax.scatter(seeds.revenue, seeds.acceptance_ratio, color=palette[name], s=6, alpha=0.6, linewidths=0)
                ax.plot(x, y, marker="o", color=palette[name], label=name, linestyle="none")
        ax.set_title(f"arrival rate {rate:g}")
        ax.set_xlabel("revenue (price units)")
        ax.set_ylabel("VNF-FG acceptance ratio")
        thousands(ax.xaxis)
        ax.grid(True)
    for ax in list(axes.flat)[len(rates):]:
        ax.set_visible(False)
    note = ("point: mean over seeds; bars: 95% intervals" if len(counts) and counts.min() >= MIN_BAND
            else f"point: mean over seeds; dots: each seed (n < {MIN_BAND}: no interval)")  # fmt: skip
    caption(fig, market_scope(jobs), note)
    legend(fig, _name_handles(names, palette, line=False), columns=3)
    return save(fig, out, "acceptance_revenue")


def paired_seeds(jobs: pd.DataFrame, baseline: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Per other name, arrival rate and seed: each metric minus the baseline's on the same workload."""
    base = jobs[jobs.name == baseline][[*PAIR_KEY, *metrics]]
    both = jobs[jobs.name != baseline].merge(base, on=PAIR_KEY, suffixes=("", "_baseline"))
    return both.assign(**{m: both[m] - both[f"{m}_baseline"] for m in metrics})[["name", *PAIR_KEY, *metrics]]


def _paired_vs_load(jobs: pd.DataFrame, table: pd.DataFrame, baseline: str, out: Path, palette: dict[str, str]) -> list[Path]:
    """Each algorithm minus the baseline, paired by seed: the mean difference with the 95% interval (``table``,
    n >= MIN_BAND) or each seed's difference, the algorithms side by side at each arrival rate."""
    panels = [("acceptance_ratio", "VNF-FG acceptance ratio", False), ("revenue", "revenue (price units)", True)]
    rates = sorted(set(table.arrival_rate))
    names = sorted(set(table.name))
    seeds = paired_seeds(jobs, baseline, tuple(m for m, _, _ in panels))
    fig, axes = new_figure(SINGLE_COLUMN, 2 * 1.75 + 0.55, len(panels), 1, sharex=True)
    step = 0.8 / max(1, len(names))  # each algorithm's place within its rate's slot
    for ax, (metric, label, in_thousands) in zip(axes[:, 0], panels):
        rows = table[table.metric == metric]
        for k, name in enumerate(names):
            group = rows[rows.name == name].sort_values("arrival_rate")
            shift = (k - (len(names) - 1) / 2) * step
            x = np.array([rates.index(r) + shift for r in group.arrival_rate])
            colour = palette[name]
            if (group.n >= MIN_BAND).all():
                error = [group["mean"] - group.ci95_low, group.ci95_high - group["mean"]]
                ax.errorbar(x, group["mean"], yerr=error, marker="o", markersize=3, capsize=1.5, linewidth=0.8,
                            linestyle="none", color=colour, label=name)  # fmt: skip
            else:
                own = seeds[seeds.name == name]
                ax.scatter([rates.index(r) + shift for r in own.arrival_rate], own[metric], color=colour, s=5,
                           alpha=0.6, linewidths=0)  # fmt: skip
                ax.plot(x, group["mean"], marker="o", markersize=3, linestyle="none", color=colour, label=name)
        ax.axhline(0.0, color="0.4", linewidth=0.6)
        _slots(ax, rates)
        ax.set_ylabel(f"{label}\nminus {baseline}, paired by seed")
        if in_thousands:
            thousands(ax.yaxis)
        ax.grid(True, axis="y")
    axes[0][0].set_xlabel("")
    counts = table[table.metric == "acceptance_ratio"].n
    note = ("mean difference and its 95% interval" if len(counts) and counts.min() >= MIN_BAND
            else f"mean difference; dots: each seed (n < {MIN_BAND}: no interval)")  # fmt: skip
    caption(fig, market_scope(jobs[jobs.name.isin([*names, baseline])]), note)
    legend(fig, _name_handles(names, palette, line=False), columns=3)
    return save(fig, out, "paired_vs_load")


def own_loads(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per job (index), each domain's node utilization, mean over its evaluation windows
    (``domain{d}_node_utilization``); empty without metrics.csv."""
    if "phase" not in metrics:
        return pd.DataFrame()
    evaluation = metrics[metrics.phase == "eval"]
    columns = [c for c in evaluation.columns if c.startswith("domain") and c.endswith("_node_utilization")]
    return evaluation.groupby("job")[columns].mean() if columns else pd.DataFrame()


def _domains_vs_load(jobs: pd.DataFrame, metrics: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """One row per domain: its mean quoted price and its revenue against its own node utilization: a dot per run,
    and per algorithm a line through its means at each arrival rate (the marker names the rate)."""
    loads = own_loads(metrics)
    if loads.empty:
        return []
    data = jobs.merge(loads, left_on="job", right_index=True)
    domains = sorted(int(c[6:].split("_")[0]) for c in loads.columns)
    rates = _rates(data)
    names = sorted(set(data.name))
    unpriced = sorted({n for n, a in zip(data.name, data.algorithm) if not quotes_prices(a)})
    fig, axes = new_figure(SINGLE_COLUMN, 1.5 * len(domains) + 0.55, len(domains), 2)
    for row, d in zip(axes, domains):
        x = f"domain{d}_node_utilization"
        for ax, (column, label, priced) in zip(row, [(f"domain_mean_price_d{d}", "mean quoted price", True),
                                                     (f"domain_revenue_d{d}", "revenue", False)]):  # fmt: skip
            for name, group in data.groupby("name"):
                if (priced and name in unpriced) or column not in group or group[column].isna().all():
                    continue
                colour = palette[name]
                means = group.groupby("arrival_rate")[[x, column]].mean().sort_index()
                ax.plot(means[x], means[column], color=colour, label=name)  # the path through the loads
                for rate, point in means.iterrows():
                    marker = LOAD_MARKERS[rates.index(rate) % len(LOAD_MARKERS)] if pd.notna(rate) else "o"
                    ax.plot(point[x], point[column], marker=marker, markersize=4, color=colour, linestyle="none")
                ax.scatter(group[x], group[column], color=colour, s=5, alpha=0.45, linewidths=0)  # each run
            ax.set_title(f"domain {d}")
            ax.set_xlabel("its node utilization")
            ax.set_ylabel(label)
            if not priced:
                thousands(ax.yaxis)
            ax.grid(True)
    handles = _name_handles(names, palette, marker=None)
    handles += [Line2D([], [], color="0.4", marker=LOAD_MARKERS[i % len(LOAD_MARKERS)], linestyle="none",
                       label=f"rate {r:g}") for i, r in enumerate(rates)]  # fmt: skip
    note = "x: the domain's own node utilization; dots: each run; line: mean over seeds at each arrival rate (marker)"
    if unpriced:
        note += f"; {', '.join(unpriced)}: no price line (their domains quote no prices of their own)"
    caption(fig, market_scope(data), note)
    legend_groups(fig, [handles[: len(names)], handles[len(names):]])
    return save(fig, out, "domains_vs_load")


# --- figures of any directory -------------------------------------------------------------------------------------


def _price_by_load(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per job, domain and used-share bin: the mean price the domain's elements quoted at that load and how
    many quotes it averages (summary.json's price_by_load; jobs without it are left out)."""
    rows = []
    for job, name, algorithm, rate, seed in zip(jobs.job, jobs.name, jobs.algorithm, jobs.arrival_rate, jobs.seed):
        curve = json.loads((Path(job) / "summary.json").read_text()).get("price_by_load")
        if not curve:
            continue
        edges = curve["used_share_bins"]
        for d, (prices, counts) in enumerate(zip(curve["mean_price"], curve["count"])):
            for b, (price, count) in enumerate(zip(prices, counts)):
                if count:
                    rows.append({"name": name, "algorithm": algorithm, "arrival_rate": rate, "seed": seed, "domain": d,
                                 "used": (edges[b] + edges[b + 1]) / 2, "price": price, "count": count})  # fmt: skip
    return pd.DataFrame(rows)


def _pooled(rows: pd.DataFrame) -> pd.Series:
    """The mean price per used-share bin over ``rows``, weighted by their quotes."""
    sums = rows.assign(total=rows.price * rows["count"]).groupby("used")[["total", "count"]].sum()
    return sums.total / sums["count"]


def _price_vs_load(jobs: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Does a domain's price follow its own load, element by element? One panel per domain: each pricing
    algorithm's mean quoted price of an element (node resource or link) against that element's used share when
    the request arrived, pooled over arrival rates and seeds (weighted by quotes); thin: each seed's. A
    load-following rule rises; a static price is flat."""
    curves = _price_by_load(jobs)
    if curves.empty:
        return []
    curves = curves[[quotes_prices(a) for a in curves.algorithm]]
    if curves.empty:
        return []
    domains, names = sorted(curves.domain.unique()), sorted(curves.name.unique())
    free = len(domains) % 2
    rows_n = (len(domains) + free) // 2
    fig, axes = new_figure(SINGLE_COLUMN, 1.5 * rows_n + 0.55, rows_n, 2, sharex=True, sharey=True)
    for d, group in curves.groupby("domain"):
        ax = axes.flat[domains.index(d)]
        for name, line in group.groupby("name"):
            colour = palette[name]
            for _, seed in line.groupby("seed"):
                one = _pooled(seed)
                ax.plot(one.index, one.values, color=colour, alpha=0.3, linewidth=0.5)
            pooled = _pooled(line)
            ax.plot(pooled.index, pooled.values, marker="o", markersize=2.5, color=colour, label=name)
        ax.set_title(f"domain {d}")
        ax.set_xlabel("element's used share")
        ax.set_ylabel("mean quoted price")
        ax.tick_params(labelbottom=True, labelleft=True)
        ax.grid(True)
    left_out = sorted({n for n, a in zip(jobs.name, jobs.algorithm) if not quotes_prices(a)})
    note = "thick: pooled over arrival rates and seeds (weighted by quotes); thin: each seed"
    if left_out:
        note += f"; no line for {', '.join(left_out)} (no prices of the domains' own)"
    caption(fig, market_scope(jobs[jobs.name.isin(names)]), note)
    legend(fig, _name_handles(names, palette), axes.flat[-1] if free else None)
    return save(fig, out, "price_vs_load")


def _leading_digit(value: float) -> int:
    return round(value / 10 ** np.floor(np.log10(value))) if value > 0 else 0


def _decision_time(jobs: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    means = jobs.groupby("name")[["decision_time_ms_median", "decision_time_ms_p95"]].mean()
    fig, axes = new_figure(SINGLE_COLUMN, 0.8 + 0.2 * len(means), 1, 1)
    ax = axes[0][0]
    y = np.arange(len(means))
    bar_colours = [palette[n] for n in means.index]
    ax.barh(y - 0.2, means.decision_time_ms_median, height=0.4, color=bar_colours)
    ax.barh(y + 0.2, means.decision_time_ms_p95, height=0.4, color=bar_colours, alpha=0.45, hatch="////", linewidth=0)
    ax.set_yticks(y, means.index)
    ax.invert_yaxis()
    ax.set_xscale("log")
    values = means.to_numpy()
    span = values[values > 0].max() / values[values > 0].min() if (values > 0).any() else 10.0
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if span < 10 and _leading_digit(v) in (2, 5) else ""))  # a narrow range: 2s and 5s too
    ax.set_xlabel("decision time per request (ms), log scale")
    ax.grid(True, axis="x", which="both")
    key = [Patch(facecolor="0.55", label="median"), Patch(facecolor="0.55", alpha=0.45, hatch="////", label="p95")]
    caption(fig, market_scope(jobs), "mean over each algorithm's runs (every arrival rate)")
    legend(fig, key)
    return save(fig, out, "decision_time")


def _metrics_tables(jobs: pd.DataFrame) -> pd.DataFrame:
    tables = []
    for job, name, rate, seed in zip(jobs.job, jobs.name, jobs.arrival_rate, jobs.seed):  # figures label a job by its name
        table = read_metrics(Path(job) / "metrics.csv")
        if table is not None:
            tables.append(table.assign(algorithm=name, job=job, arrival_rate=rate, seed=seed))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _domains(jobs: pd.DataFrame, metrics: pd.DataFrame, out: Path) -> list[Path]:
    if "phase" not in metrics:  # no metrics.csv beside the summaries
        return []
    evaluation = metrics[metrics.phase == "eval"]
    domains = sorted({int(c[6:].split("_")[0]) for c in evaluation.columns if c.startswith("domain") and c.endswith("_hosted_vnfs")})
    if evaluation.empty or not domains:
        return []
    panels = [("node_utilization", "node utilization\n(share of capacity)"), ("hosted_vnfs", "hosted VNFs"),
              ("hosted_vls", "hosted VLs")]  # fmt: skip
    fig, axes = new_figure(SINGLE_COLUMN, 1.2 * len(panels) + 0.9, len(panels), 1, sharex=True)  # a row each: the names need the width
    algorithms = sorted(evaluation.algorithm.unique())
    width = 0.8 / max(1, len(domains))
    for ax, (suffix, label) in zip(axes.flat, panels):
        for k, d in enumerate(domains):
            column = f"domain{d}_{suffix}"
            values = [evaluation.loc[evaluation.algorithm == a, column].mean() for a in algorithms]
            ax.bar([i + (k - (len(domains) - 1) / 2) * width for i in range(len(algorithms))], values, width=width,
                   label=f"domain {d}", color=DOMAIN_SHADES[k % len(DOMAIN_SHADES)], edgecolor="black", linewidth=0.4)  # fmt: skip
        ax.set_xticks(range(len(algorithms)), algorithms, rotation=35, ha="right", rotation_mode="anchor")
        ax.set_ylabel(label)
        ax.grid(True, axis="y")
    handles = [Patch(facecolor=DOMAIN_SHADES[k % len(DOMAIN_SHADES)], edgecolor="black", linewidth=0.4, label=f"domain {d}")
               for k, d in enumerate(domains)]  # fmt: skip
    used = jobs[jobs.job.isin(set(evaluation.job))]
    caption(fig, market_scope(used), "bars: mean over the evaluation windows of every arrival rate and seed")
    legend(fig, handles)
    return save(fig, out, "domains")


MAX_BANDS = 4  # curves of a panel that still read with a band each; a panel of more draws none
BY_LOAD = 3  # arms from which the learning curves give each load rows of panels of its own


def _learning_curves(jobs: pd.DataFrame, metrics: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Along training, one panel per metric (2 columns): each algorithm or arm a colour, each seed's windows faint
    and the mean over seeds of their rolling mean bold, with its 95% band where n >= MIN_BAND (and the panel has
    at most MAX_BANDS curves). Several loads: a line style each, or, from BY_LOAD arms on, rows of panels each
    (titled with the rate). Nothing when no job trained (no empty figure)."""
    train = metrics[metrics.phase == "train"] if "phase" in metrics else metrics.iloc[0:0]
    if train.empty:
        return []
    domains = sorted({int(c[6:].split("_")[0]) for c in train.columns if c.startswith("domain") and c.endswith("_mean_price")})
    bounds = [f"learner_domain{d}_at_bounds" for d in domains if f"learner_domain{d}_at_bounds" in train]
    curves = train[["algorithm", "arrival_rate", "job", "requests"]].assign(
        reward=train[[f"domain{d}_revenue" for d in domains]].sum(axis=1, min_count=1),
        price=train[[f"domain{d}_mean_price" for d in domains]].mean(axis=1),
        acceptance=train.acceptance_ratio,
        bounds=train[bounds].mean(axis=1) if bounds else np.nan,
    )  # fmt: skip
    panels = [("reward", "reward per window\n(domains' revenue)", (0, None)),
              ("price", "mean quoted price\n(over domains)", (0, None)),
              ("acceptance", "VNF-FG acceptance\n(while exploring)", (0, 1))]  # (what the band is clipped to)
    if bounds:
        panels.append(("bounds", "actor outputs at\na price bound (share)", (0, 1)))
    panels = [p for p in panels if curves[p[0]].notna().any()]
    windows = int(curves.groupby("job").size().max())
    k = smoothing_windows(windows)
    rates = sorted({r for r in curves.arrival_rate if pd.notna(r)})
    names = sorted(set(curves.algorithm))
    by_load = len(rates) > 1 and len(names) >= BY_LOAD  # rows of panels per load
    styled = len(rates) > 1 and not by_load  # a line style per load
    blocks = rates if by_load else [None]
    per_block = -(-len(panels) // 2)  # rows of panels of one load
    free = len(panels) % 2 == 1 and not by_load  # the legend's cell
    per_panel = len(names) * (1 if by_load else max(1, len(rates)))
    banded = per_panel <= MAX_BANDS
    height = (1.35 if by_load else 1.5) * per_block * len(blocks) + 0.55
    fig, axes = new_figure(SINGLE_COLUMN, height, per_block * len(blocks), 2, sharex=True)
    cells = {(b, i): axes[b * per_block + i // 2][i % 2] for b in range(len(blocks)) for i in range(len(panels))}
    counts = []
    for (name, rate), group in curves.groupby(["algorithm", "arrival_rate"], dropna=False):
        colour = palette.get(name, "gray")
        style = LOAD_STYLES[rates.index(rate) % len(LOAD_STYLES)] if styled and pd.notna(rate) else "-"
        block = rates.index(rate) if by_load else 0
        counts.append(group.job.nunique())
        for i, (column, _, limits) in enumerate(panels):
            ax = cells[(block, i)]
            wide = group.pivot_table(index="requests", columns="job", values=column, dropna=False)
            for job in wide:  # each seed's raw windows, faint
                ax.plot(wide.index, wide[job], color=colour, alpha=0.18 if banded else 0.08, linewidth=0.4, linestyle="-")
            smooth = wide.rolling(k, center=True, min_periods=1).mean()
            mean = smooth.mean(axis=1)
            ax.plot(mean.index, mean.values, color=colour, linestyle=style, linewidth=1.2, label=f"{name} @ {rate:g}")
            if banded and wide.shape[1] >= MIN_BAND:
                band = smooth.apply(lambda row: pd.Series(mean_interval(row)), axis=1)
                low, high = band.ci95_low.clip(*limits), band.ci95_high.clip(*limits)
                ax.fill_between(band.index, low, high, color=colour, alpha=0.12, linewidth=0)
    for (b, i), ax in cells.items():
        column, label, limits = panels[i]
        ax.set_ylabel(label)
        ax.set_xlabel("training requests")
        ax.tick_params(labelbottom=True)
        if by_load:
            ax.set_title(f"arrival rate {blocks[b]:g}")
        thousands(ax.xaxis)
        if column == "reward":
            thousands(ax.yaxis)
        if limits[1] is not None:
            ax.set_ylim(limits[0] - 0.02, limits[1] + 0.02)
        ax.grid(True)
    for ax in axes.flat:
        if ax not in cells.values():
            ax.set_axis_off()
    styles = [Line2D([], [], color="0.3", linestyle=LOAD_STYLES[i % len(LOAD_STYLES)], label=f"rate {r:g}")
              for i, r in enumerate(rates)] if styled else []  # fmt: skip
    window = int(np.median(train.groupby("job").requests.diff().dropna())) if windows > 1 else int(train.requests.max())
    trained = jobs[jobs.job.isin(set(train.job))]
    smooth_note = f"rolling mean over {k} windows of {window:,} requests" if k > 1 else f"windows of {window:,} requests (not smoothed)"
    if max(counts) < MIN_BAND:
        band = ""
    elif not banded:
        band = f"; no 95% bands ({per_panel} curves a panel)"
    else:
        band = "; band: its 95% interval" + ("" if min(counts) >= MIN_BAND else f" where n >= {MIN_BAND}")
    caption(fig, market_scope(trained, f"trained on {listed(train.groupby('job').requests.max())} requests", "curve"),
             f"faint: each seed's windows; line: mean over seeds of their {smooth_note}{band}")  # fmt: skip
    legend_groups(fig, [_name_handles(names, palette, marker=None), styles], axes.flat[-1] if free else None)
    return save(fig, out, "learning_curves")


def plan_figures(directory: Path, jobs: list[Job], baseline: str | None, load: float | None) -> Callable[[], list[Path]]:
    """The multi-domain figures of ``jobs`` and their domain maps at ``load``: every file read and every argument
    checked (nothing written), then the drawing."""
    from mdembed.market.domain_map import draw_maps, plan_maps

    draw = _plan(Path(directory), jobs_table(jobs), baseline)
    maps = plan_maps(directory, jobs, load)
    return lambda: draw() + draw_maps(directory, maps)


def plot_market(directory: Path, jobs: list[Job] | None = None, baseline: str | None = None) -> list[Path]:
    """Every figure that applies to the multi-domain runs ``jobs`` (by default: those found under ``directory``,
    read and checked as aggregate reads them), into ``directory/figures``.

    ``baseline``: the name the paired figure takes differences to; by default
    ``cff_3d`` when the directory holds it (else, or with ``none``, no paired
    figure). Figures against the arrival rate need several rates, the
    comparison of algorithms several algorithms. Everything is read and
    checked before the first figure is written.
    """
    directory = Path(directory)
    jobs = scan(directory, read_market_job)[0] if jobs is None else jobs
    return _plan(directory, jobs_table(jobs), baseline)()


def _plan(directory: Path, jobs: pd.DataFrame, baseline: str | None) -> Callable[[], list[Path]]:
    """What :func:`plot_market` draws, read and checked; the drawing, returned to be called."""
    baseline, pairs = comparison(jobs, baseline)
    table = aggregate(jobs)
    palette = colours(set(jobs.name))
    metrics = _metrics_tables(jobs)
    several_loads = len(_rates(jobs)) > 1
    out = directory / "figures"

    def draw() -> list[Path]:
        out.mkdir(exist_ok=True)
        written: list[Path] = []
        with plt.rc_context(STYLE):
            if several_loads:
                written += _against_load(jobs, table, [("acceptance_ratio", "VNF-FG acceptance ratio", False),
                                                       ("vnf_acceptance_ratio", "VNF acceptance ratio", False),
                                                       ("vl_acceptance_ratio", "VL acceptance ratio", False)],
                                         out, "acceptance_vs_load", palette)  # fmt: skip
                written += _side_by_side(jobs, table, [("revenue", "revenue (price units)", True),
                                                       ("cost", "cost (resource units)", True)],
                                         out, "revenue_cost_vs_load", palette)  # fmt: skip
            if jobs.name.nunique() > 1:
                written += _acceptance_revenue(jobs, table, out, palette)
            if pairs is not None and not pairs.empty:  # against the first baseline named
                written += _paired_vs_load(jobs, pairs[pairs.baseline == baseline], baseline, out, palette)
            if several_loads:
                written += _domains_vs_load(jobs, metrics, out, palette)
            written += _price_vs_load(jobs, out, palette)
            written += _decision_time(jobs, out, palette)
            written += _domains(jobs, metrics, out)
            written += _learning_curves(jobs, metrics, out, palette)
        return written

    return draw
