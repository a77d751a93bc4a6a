"""Figures of multi-domain runs, from their result files only (``python -m mdembed.plot DIR``).

DIR is a sweep directory (or a single run). Writes PNG and PDF into DIR/figures:

- ``acceptance_vs_load``: acceptance ratio of VNF-FGs, VNFs and VLs against the
  arrival rate, one line per algorithm, shaded 95% confidence band over seeds;
- ``revenue_cost_vs_load``: revenue and cost against the arrival rate;
- ``decision_time``: median and p95 decision time per algorithm (log scale);
- ``domains``: per-domain node utilization and hosted VNFs and VLs per algorithm
  (evaluation windows, mean over windows and jobs);
- ``learning_curves``: for learning algorithms (per load when there are several),
  the domains' total reward, mean quoted price, acceptance ratio and share of
  actor outputs at a price bound along training (mean over jobs).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mdembed.analysis.aggregate import aggregate, collect  # noqa: E402

FIGURES = ("acceptance_vs_load", "revenue_cost_vs_load", "decision_time", "domains", "learning_curves")


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    fig.tight_layout()
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")  # keeps a legend placed outside the axes
    plt.close(fig)
    return paths


def _lines_vs_load(table: pd.DataFrame, metrics: list[tuple[str, str]], out: Path, name: str) -> list[Path]:
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics):
        rows = table[table.metric == metric]
        for algorithm, group in rows.groupby("name"):
            group = group.sort_values("arrival_rate")
            ax.plot(group.arrival_rate, group["mean"], marker="o", label=algorithm)
            low, high = group.ci95_low.clip(lower=0), group.ci95_high  # every metric here is non-negative
            if metric.endswith("acceptance_ratio"):  # and a ratio is at most 1
                high = high.clip(upper=1)
            ax.fill_between(group.arrival_rate, low, high, alpha=0.15)
        ax.set_xlabel("arrival rate (VNF-FGs per time unit)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    # beside the last panel, so that it never hides a line or a band
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="95% band over seeds", title_fontsize=7)
    return _save(fig, out, name)


def _decision_time(jobs: pd.DataFrame, out: Path) -> list[Path]:
    means = jobs.groupby("name")[["decision_time_ms_median", "decision_time_ms_p95"]].mean()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = range(len(means))
    ax.bar([i - 0.2 for i in x], means.decision_time_ms_median, width=0.4, label="median")
    ax.bar([i + 0.2 for i in x], means.decision_time_ms_p95, width=0.4, label="p95")
    ax.set_xticks(list(x), means.index, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("decision time per request (ms)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, out, "decision_time")


def _metrics_tables(jobs: pd.DataFrame) -> pd.DataFrame:
    tables = []
    for job, name, rate in zip(jobs.job, jobs.name, jobs.arrival_rate):  # figures label a job by its name
        path = Path(job) / "metrics.csv"
        if path.exists():
            tables.append(pd.read_csv(path).assign(algorithm=name, job=job, arrival_rate=rate))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _domains(metrics: pd.DataFrame, out: Path) -> list[Path]:
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
                   label=f"domain {d}")  # fmt: skip
        ax.set_xticks(range(len(algorithms)), algorithms, rotation=20)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return _save(fig, out, "domains")


def _learning_curves(metrics: pd.DataFrame, out: Path) -> list[Path]:
    """Per learner (and load, when the directory has several): mean over jobs of the training windows."""
    train = metrics[metrics.phase == "train"] if "phase" in metrics else metrics.iloc[0:0]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    if train.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no training runs in this directory", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return _save(fig, out, "learning_curves")
    curves = train.groupby(["algorithm", "arrival_rate", "requests"]).mean(numeric_only=True).reset_index()
    domains = sorted({int(c[6:].split("_")[0]) for c in curves.columns if c.endswith("_mean_price")})
    several_loads = curves.arrival_rate.nunique() > 1
    bounds = [f"learner_domain{d}_at_bounds" for d in domains if f"learner_domain{d}_at_bounds" in curves]
    for (algorithm, rate), group in curves.groupby(["algorithm", "arrival_rate"]):
        label = f"{algorithm} @ {rate:g}" if several_loads else algorithm
        line = axes[0].plot(group.requests, group[[f"domain{d}_revenue" for d in domains]].sum(axis=1), label=label)[0]
        colour = line.get_color()
        axes[1].plot(group.requests, group[[f"domain{d}_mean_price" for d in domains]].mean(axis=1), color=colour, label=label)
        axes[2].plot(group.requests, group.acceptance_ratio, color=colour, label=label)
        if bounds:
            axes[3].plot(group.requests, group[bounds].mean(axis=1), color=colour, label=label)
    labels = ["reward per window (revenue of all domains, price units)", "mean quoted price (mean over domains)",
              "VNF-FG acceptance ratio (with exploration)", "actor outputs at a price bound (share)"]  # fmt: skip
    for ax, label in zip(axes, labels):
        ax.set_xlabel("training requests")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[3].set_ylim(-0.02, 1.02)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="mean over seeds", title_fontsize=7)
    return _save(fig, out, "learning_curves")


def plot_market(directory: Path, runs: list[Path] | None = None) -> list[Path]:
    """Every figure of the multi-domain runs under ``directory``, into ``directory/figures``."""
    jobs, _ = collect(directory)
    table = aggregate(jobs)
    out = directory / "figures"
    out.mkdir(exist_ok=True)
    metrics = _metrics_tables(jobs)
    written = _lines_vs_load(
        table, [("acceptance_ratio", "VNF-FG acceptance ratio"), ("vnf_acceptance_ratio", "VNF acceptance ratio"),
                ("vl_acceptance_ratio", "VL acceptance ratio")], out, "acceptance_vs_load",
    )  # fmt: skip
    written += _lines_vs_load(
        table, [("revenue", "revenue (price units)"), ("cost", "cost (resource units)")], out, "revenue_cost_vs_load"
    )
    written += _decision_time(jobs, out)
    written += _domains(metrics, out)
    written += _learning_curves(metrics, out)
    return written
