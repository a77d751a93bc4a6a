"""Figures of multi-domain runs, from their result files only (``python -m mdembed.plot DIR``).

DIR is a sweep directory (or a single run). Writes PNG and PDF into DIR/figures:

- ``acceptance_vs_load``: acceptance ratio of VNF-FGs, VNFs and VLs against the
  arrival rate, one line per algorithm, shaded 95% confidence band over seeds;
- ``revenue_cost_vs_load``: revenue and cost against the arrival rate;
- ``paired_vs_load``: per algorithm, the mean over seeds of its difference to
  the baseline (``cff_3d`` unless told otherwise) on the same workloads, with
  the 95% interval, for VNF-FG acceptance and revenue (when the baseline ran);
- ``domains_vs_load``: each domain's revenue and mean quoted price against the
  arrival rate (does a loaded domain raise its prices?);
- ``price_vs_load``: per domain and load, each algorithm's mean quoted price of
  an element (node resource or link) against that element's own used share
  when the request arrived (does a learned policy follow load?);
- ``decision_time``: median and p95 decision time per algorithm (log scale);
- ``domains``: per-domain node utilization and hosted VNFs and VLs per algorithm
  (evaluation windows, mean over windows and jobs);
- ``learning_curves`` (only when the directory holds training runs): for
  learning algorithms (per load when there are several), the domains' total
  reward, mean quoted price, acceptance ratio and share of actor outputs at a
  price bound along training (mean over jobs).

The load axis is logarithmic when the loads span a factor of 10 or more (the
paper sweep's log-spaced rates), and every figure of a directory gives an
algorithm the same colour (:func:`colours`).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from mdembed.analysis.aggregate import aggregate, comparison, jobs_table, read_job, scan  # noqa: E402
from mdembed.io import atomic  # noqa: E402
from mdembed.config import MARKET_SCENARIO  # noqa: E402
from mdembed.errors import MdembedError  # noqa: E402

FIGURES = ("acceptance_vs_load", "revenue_cost_vs_load", "acceptance_revenue", "paired_vs_load", "domains_vs_load",
           "price_vs_load", "decision_time", "domains", "learning_curves")  # fmt: skip
# The registered algorithms keep their colour in every figure; other names (a study's arms) take the next free ones.
ALGORITHM_COLOURS = {"ddpg": "tab:red", "cff_3d": "tab:blue", "cff_sd": "tab:orange", "sa": "tab:green",
                     "sa_cff": "tab:purple", "ilp": "black", "load_linear": "tab:brown", "load_power": "tab:pink",
                     "load_exp": "tab:olive", "ppo": "tab:cyan"}  # fmt: skip
_MORE_COLOURS = ("tab:gray", "gold", "navy", "teal", "lime", "maroon", "darkkhaki", "slateblue", "coral",
                 "darkgreen", "orchid")  # fmt: skip
LOAD_LABEL = "arrival rate (VNF-FGs per time unit)"
DOMAIN_SHADES = ("0.2", "0.5", "0.8", "0.35", "0.65", "0.95")  # greys: the algorithms' colours stay theirs alone
LOAD_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))  # one per load in the learning curves


def colours(names: list[str] | set[str]) -> dict[str, str]:
    """One colour per name, the same in every figure of a directory."""
    free = [c for c in _MORE_COLOURS]
    out = {}
    for name in sorted(names):
        out[name] = ALGORITHM_COLOURS.get(name) or (free.pop(0) if free else "gray")
    return out


def _load_axis(ax: plt.Axes, rates: list[float]) -> None:
    """A log axis with the swept rates as ticks when they span a factor of 10 or more; linear otherwise."""
    rates = sorted({float(r) for r in rates if r == r})
    if len(rates) > 2 and rates[0] > 0 and rates[-1] / rates[0] >= 10:
        ax.set_xscale("log")
        ax.set_xticks(rates)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(LOAD_LABEL + ", log scale")
    else:
        ax.set_xlabel(LOAD_LABEL)


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    fig.tight_layout()
    return save_figure(fig, [out / f"{name}.png", out / f"{name}.pdf"], bbox_inches="tight")  # keeps an outside legend


def save_figure(fig: plt.Figure, paths: list[Path], **options) -> list[Path]:
    """Write ``fig`` to each path through ``NAME.partial`` and a rename, then close it.

    As :func:`mdembed.io.write_atomic` does for tables: a full disk or a
    read-only directory leaves no cut figure behind, only the one-line error
    that names the figure.
    """
    try:
        for path in paths:
            with atomic(path) as partial:
                fig.savefig(partial, format=path.suffix[1:], dpi=150, **options)
    finally:
        plt.close(fig)
    return paths


def read_metrics(path: Path) -> pd.DataFrame | None:
    """A job's metrics.csv; None when the job has none. One that does not parse is a one-line error naming it,
    raised before any figure of its scenario is written."""
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:  # ValueError: not UTF-8 text
        raise MdembedError(f"{path} is not a readable metrics table ({str(err).splitlines()[0]})") from None
    return require_columns(table, path, ("phase",))


def require_columns(table: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """``table`` (read from ``path``) once it has every column a figure reads; a one-line error otherwise."""
    missing = [c for c in columns if c not in table]
    if missing:
        raise MdembedError(f"{path} has no {', '.join(missing)} column: not the metrics table of such a run")
    return table


def _lines_vs_load(table: pd.DataFrame, metrics: list[tuple[str, str]], out: Path, name: str,
                   palette: dict[str, str]) -> list[Path]:  # fmt: skip
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics):
        rows = table[table.metric == metric]
        for algorithm, group in rows.groupby("name"):
            group = group.sort_values("arrival_rate")
            colour = palette[algorithm]
            ax.plot(group.arrival_rate, group["mean"], marker="o", label=algorithm, color=colour)
            low, high = group.ci95_low.clip(lower=0), group.ci95_high  # every metric here is non-negative
            if metric.endswith("acceptance_ratio"):  # and a ratio is at most 1
                high = high.clip(upper=1)
            ax.fill_between(group.arrival_rate, low, high, alpha=0.15, color=colour)
        _load_axis(ax, list(table.arrival_rate))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    # beside the last panel, so that it never hides a line or a band
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="95% band over seeds", title_fontsize=7)
    return _save(fig, out, name)


def _decision_time(jobs: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    means = jobs.groupby("name")[["decision_time_ms_median", "decision_time_ms_p95"]].mean()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = range(len(means))
    bar_colours = [palette[n] for n in means.index]
    ax.bar([i - 0.2 for i in x], means.decision_time_ms_median, width=0.4, label="median", color=bar_colours)
    ax.bar([i + 0.2 for i in x], means.decision_time_ms_p95, width=0.4, label="p95", color=bar_colours, alpha=0.45,
           hatch="//")  # fmt: skip
    ax.set_xticks(list(x), means.index, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("decision time per request (ms)")
    key = [Patch(facecolor="lightgray", label="median"), Patch(facecolor="lightgray", alpha=0.45, hatch="//", label="p95")]
    ax.legend(handles=key, fontsize=8, title="mean over jobs", title_fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, out, "decision_time")


def _metrics_tables(jobs: pd.DataFrame) -> pd.DataFrame:
    tables = []
    for job, name, rate in zip(jobs.job, jobs.name, jobs.arrival_rate):  # figures label a job by its name
        table = read_metrics(Path(job) / "metrics.csv")
        if table is not None:
            tables.append(table.assign(algorithm=name, job=job, arrival_rate=rate))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _domains(metrics: pd.DataFrame, out: Path) -> list[Path]:
    if "phase" not in metrics:  # no metrics.csv beside the summaries
        return []
    evaluation = metrics[metrics.phase == "eval"]
    domains = sorted({int(c[6:].split("_")[0]) for c in evaluation.columns if c.startswith("domain") and c.endswith("_hosted_vnfs")})
    panels = [("node_utilization", "node utilization (share of capacity)"), ("hosted_vnfs", "hosted VNFs"),
              ("hosted_vls", "hosted VLs")]  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    algorithms = sorted(evaluation.algorithm.unique())
    width = 0.8 / max(1, len(domains))
    for ax, (suffix, label) in zip(axes, panels):
        for k, d in enumerate(domains):
            column = f"domain{d}_{suffix}"
            values = [evaluation.loc[evaluation.algorithm == a, column].mean() for a in algorithms]
            ax.bar([i + (k - (len(domains) - 1) / 2) * width for i in range(len(algorithms))], values, width=width,
                   label=f"domain {d}", color=DOMAIN_SHADES[k % len(DOMAIN_SHADES)], edgecolor="black", linewidth=0.5)  # fmt: skip
        ax.set_xticks(range(len(algorithms)), algorithms, rotation=20)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8, title="mean over windows and jobs", title_fontsize=7)
    return _save(fig, out, "domains")


def _learning_curves(metrics: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Per learner (and load, when the directory has several): mean over jobs of the training windows; nothing
    when no job trained (no empty figure)."""
    train = metrics[metrics.phase == "train"] if "phase" in metrics else metrics.iloc[0:0]
    if train.empty:
        return []
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    curves = train.groupby(["algorithm", "arrival_rate", "requests"]).mean(numeric_only=True).reset_index()
    domains = sorted({int(c[6:].split("_")[0]) for c in curves.columns if c.endswith("_mean_price")})
    several_loads = curves.arrival_rate.nunique() > 1
    bounds = [f"learner_domain{d}_at_bounds" for d in domains if f"learner_domain{d}_at_bounds" in curves]
    for (algorithm, rate), group in curves.groupby(["algorithm", "arrival_rate"]):
        label = f"{algorithm} @ {rate:g}" if several_loads else algorithm
        style = LOAD_STYLES[sorted(curves.arrival_rate.unique()).index(rate) % len(LOAD_STYLES)] if several_loads else "-"
        colour = palette.get(algorithm, "gray")
        axes[0].plot(group.requests, group[[f"domain{d}_revenue" for d in domains]].sum(axis=1), label=label, color=colour,
                     linestyle=style)  # fmt: skip
        axes[1].plot(group.requests, group[[f"domain{d}_mean_price" for d in domains]].mean(axis=1), color=colour, label=label,
                     linestyle=style)  # fmt: skip
        axes[2].plot(group.requests, group.acceptance_ratio, color=colour, label=label, linestyle=style)
        if bounds:
            axes[3].plot(group.requests, group[bounds].mean(axis=1), color=colour, label=label, linestyle=style)
    labels = ["reward per window (revenue of all domains, price units)", "mean quoted price (mean over domains)",
              "VNF-FG acceptance ratio (with exploration)", "actor outputs at a price bound (share)"]  # fmt: skip
    for ax, label in zip(axes, labels):
        ax.set_xlabel("training requests")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[3].set_ylim(-0.02, 1.02)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="mean over seeds", title_fontsize=7)
    return _save(fig, out, "learning_curves")


def _acceptance_revenue(table: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Per load, each algorithm a point: revenue across, acceptance up, each with its 95% interval over seeds.

    Who accepts most and who earns most, at a glance: an algorithm up and to
    the right of another beats it on both.
    """
    rates = sorted(set(table.arrival_rate))
    columns = 1 if len(rates) <= 3 else 2  # sized for a paper's column (3.4 in) at 1:1: 7-8 pt text
    rows_n = -(-len(rates) // columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(3.4 * columns, 2.2 * rows_n + 0.9), squeeze=False)
    for ax, rate in zip(axes.flat, rates):
        at = table[table.arrival_rate == rate].set_index(["name", "metric"])
        for name in sorted({n for n, _ in at.index}):
            if (name, "acceptance_ratio") not in at.index or (name, "revenue") not in at.index:
                continue
            accept, revenue = at.loc[(name, "acceptance_ratio")], at.loc[(name, "revenue")]
            x, y = revenue["mean"] / 1000, accept["mean"]  # intervals clipped to what the metrics can be
            x_low, x_high = max(revenue.ci95_low, 0.0) / 1000, revenue.ci95_high / 1000
            y_low, y_high = max(accept.ci95_low, 0.0), min(accept.ci95_high, 1.0)
            ax.errorbar(x, y, xerr=[[x - x_low], [x_high - x]], yerr=[[y - y_low], [y_high - y]], color=palette[name],
                        label=name, marker="o", markersize=4, capsize=2, linewidth=1)  # fmt: skip
        ax.set_title(f"arrival rate {rate:g}", fontsize=8)
        ax.set_xlabel("revenue (x1000 price units)", fontsize=7)
        ax.set_ylabel("VNF-FG acceptance", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rates):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]}
    legend_rows = -(-len(handles) // 3)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3, fontsize=7, bbox_to_anchor=(0.5, 0.0),
               title="mean over seeds, 95% intervals", title_fontsize=7, frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0, (0.25 + 0.16 * legend_rows) / fig.get_figheight(), 1, 1))
    return save_figure(fig, [out / "acceptance_revenue.png", out / "acceptance_revenue.pdf"], bbox_inches="tight")


def _paired_vs_load(jobs: pd.DataFrame, table: pd.DataFrame, baseline: str, out: Path, palette: dict[str, str]) -> list[Path]:
    """Each algorithm minus the baseline, paired by seed, with the 95% interval of the mean difference (``table``)."""
    panels = [("acceptance_ratio", "VNF-FG acceptance ratio"), ("revenue", "revenue (price units)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    names = sorted(set(table.name))
    for ax, (metric, label) in zip(axes[0], panels):
        rows = table[table.metric == metric]
        for k, name in enumerate(names):
            group = rows[rows.name == name].sort_values("arrival_rate")
            shift = 1.0 + 0.04 * (k - (len(names) - 1) / 2)  # side by side at each load (multiplicative: log axis)
            x = group.arrival_rate * shift
            error = [group["mean"] - group.ci95_low, group.ci95_high - group["mean"]]
            ax.errorbar(x, group["mean"], yerr=error, marker="o", capsize=3, color=palette[name], label=name)
        ax.axhline(0.0, color="gray", linewidth=0.8)
        _load_axis(ax, list(jobs.arrival_rate))
        ax.set_ylabel(f"{label}\nminus {baseline}, paired by seed")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="mean, 95% interval",
                       title_fontsize=7)  # fmt: skip
    return _save(fig, out, "paired_vs_load")


def _domains_vs_load(table: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """One row per domain: its revenue and its mean quoted price against the load, a line per algorithm."""
    domains = sorted({int(m.rsplit("_d", 1)[1]) for m in table.metric if m.startswith("domain_revenue_d")})
    if not domains:
        return []
    fig, axes = plt.subplots(len(domains), 2, figsize=(10, 2.8 * len(domains)), squeeze=False, sharex=True)
    for row, d in zip(axes, domains):
        for ax, (metric, label) in zip(row, [(f"domain_revenue_d{d}", "revenue (price units)"),
                                             (f"domain_mean_price_d{d}", "mean quoted price (price units)")]):  # fmt: skip
            rows = table[(table.metric == metric) & table["mean"].notna()]
            # markers shrink in drawing order: algorithms that quote the same static prices
            # (cff_3d, sa, ilp) draw concentric rings instead of hiding one another
            for i, (name, group) in enumerate(rows.groupby("name")):
                group = group.sort_values("arrival_rate")
                ax.plot(group.arrival_rate, group["mean"], marker="o", markersize=max(10 - 1.5 * i, 3),
                        color=palette[name], label=name)  # fmt: skip
            _load_axis(ax, list(table.arrival_rate))
            ax.set_ylabel(f"domain {d}: {label}", fontsize=8)
            ax.grid(alpha=0.3)
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       title="mean over seeds", title_fontsize=7)  # fmt: skip
    return _save(fig, out, "domains_vs_load")


def _price_by_load(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per job, domain and used-share bin: the mean price the domain's elements quoted at that load and how
    many quotes it averages (summary.json's price_by_load; jobs without it are left out)."""
    rows = []
    for job, name, rate in zip(jobs.job, jobs.name, jobs.arrival_rate):
        curve = json.loads((Path(job) / "summary.json").read_text()).get("price_by_load")
        if not curve:
            continue
        edges = curve["used_share_bins"]
        for d, (prices, counts) in enumerate(zip(curve["mean_price"], curve["count"])):
            for b, (price, count) in enumerate(zip(prices, counts)):
                if count:
                    rows.append({"name": name, "arrival_rate": rate, "domain": d, "used": (edges[b] + edges[b + 1]) / 2,
                                 "price": price, "count": count})  # fmt: skip
    return pd.DataFrame(rows)


def _price_vs_load(jobs: pd.DataFrame, out: Path, palette: dict[str, str]) -> list[Path]:
    """Does a domain's price follow its own load, element by element? Per domain (rows) and load (columns), each
    algorithm's mean quoted price of an element (node resource or link) against that element's used share when the
    request arrived, pooled over seeds (weighted by quotes). A load-following rule rises; a static price is flat."""
    curves = _price_by_load(jobs)
    if curves.empty:
        return []
    domains, rates = sorted(curves.domain.unique()), sorted(curves.arrival_rate.unique())
    fig, axes = plt.subplots(len(domains), len(rates), figsize=(3.2 * len(rates) + 1.8, 2.4 * len(domains)),
                             squeeze=False, sharex=True, sharey=True)  # fmt: skip
    for (d, rate), group in curves.groupby(["domain", "arrival_rate"]):
        ax = axes[domains.index(d)][rates.index(rate)]
        for name, line in group.groupby("name"):
            pooled = line.assign(total=line.price * line["count"]).groupby("used")[["total", "count"]].sum()
            ax.plot(pooled.index, pooled.total / pooled["count"], marker="o", markersize=3, color=palette[name], label=name)
    for i, d in enumerate(domains):
        axes[i][0].set_ylabel(f"domain {d}: mean quoted price", fontsize=8)
    for j, rate in enumerate(rates):
        axes[0][j].set_title(f"arrival rate {rate:g}", fontsize=8)
        axes[-1][j].set_xlabel("element's used share when quoting", fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       title="pooled over seeds", title_fontsize=7)  # fmt: skip
    return _save(fig, out, "price_vs_load")


def market_jobs(directory: Path, runs: list[Path] | None = None) -> pd.DataFrame:
    """The table of the multi-domain runs ``runs`` (by default: those :func:`~mdembed.analysis.aggregate.scan`
    finds under ``directory``), read and checked as aggregate reads them."""
    jobs = [read_job(run) for run in runs] if runs is not None else scan(directory)[0]
    market = [job for job in jobs if job.scenario == MARKET_SCENARIO]
    if not market:
        raise MdembedError(f"no multi-domain run under {directory}")
    return jobs_table(market)


def plot_market(directory: Path, runs: list[Path] | None = None, baseline: str | None = None) -> list[Path]:
    """Every figure of the multi-domain runs under ``directory``, into ``directory/figures``.

    ``baseline``: the name the paired figure takes differences to; by default
    ``cff_3d`` when the directory holds it (else, or with ``none``, no paired
    figure). Everything is read and checked before the first figure is written.
    """
    directory = Path(directory)
    jobs = market_jobs(directory, runs)
    baseline, pairs = comparison(jobs, baseline)
    table = aggregate(jobs)
    palette = colours(set(jobs.name))
    metrics = _metrics_tables(jobs)
    out = directory / "figures"
    out.mkdir(exist_ok=True)
    written = _lines_vs_load(
        table, [("acceptance_ratio", "VNF-FG acceptance ratio"), ("vnf_acceptance_ratio", "VNF acceptance ratio"),
                ("vl_acceptance_ratio", "VL acceptance ratio")], out, "acceptance_vs_load", palette,
    )  # fmt: skip
    written += _lines_vs_load(
        table, [("revenue", "revenue (price units)"), ("cost", "cost (resource units)")], out, "revenue_cost_vs_load", palette
    )
    written += _acceptance_revenue(table, out, palette)
    if pairs is not None and not pairs.empty:  # against the first baseline named
        written += _paired_vs_load(jobs, pairs[pairs.baseline == baseline], baseline, out, palette)
    written += _domains_vs_load(table, out, palette)
    written += _price_vs_load(jobs, out, palette)
    written += _decision_time(jobs, out, palette)
    written += _domains(metrics, out)
    written += _learning_curves(metrics, out, palette)
    return written
