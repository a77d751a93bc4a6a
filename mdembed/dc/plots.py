"""Figures of data-centre runs, from their result files only (``python -m mdembed.plot DIR``).

DIR is one dc_provisioning run or a directory holding several (e.g. seeds).
Writes PNG and PDF into DIR/figures:

- ``dc_learning_curves``: reward per step, acceptance rate, epsilon, the TD
  loss, the mean Q estimate and the action mix along training, one thin
  line per run and their mean;
- ``dc_comparison`` (runs of one boot delay): the held-out evaluation, the
  DQN against each rule: acceptance rate, SLA violations, resource
  utilization, mean and p95 end-to-end delay, instances in use and reward
  per step; bars are the mean over runs, dots the runs;
- ``dc_vs_boot`` (runs of several boot delays, e.g. the study): each of
  those metrics against the boot delay, one line per policy (mean over the
  runs) with its 95% interval as a band.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mdembed.analysis.aggregate import aggregate_dc, boot_delay, read_job, scan  # noqa: E402
from mdembed.analysis.figures import read_metrics, require_columns, save_figure  # noqa: E402
from mdembed.config import DC_SCENARIO  # noqa: E402

SCENARIO = DC_SCENARIO
POLICIES = (("dqn", "DQN"), ("autoscaler", "threshold autoscaler"), ("predictive", "predictive autoscaler"),
            ("static_mean", "static, mean-sized"), ("static_peak", "static, peak-sized"))  # fmt: skip
COLORS = {"dqn": "tab:blue", "autoscaler": "tab:orange", "predictive": "tab:green", "static_mean": "tab:grey",
          "static_peak": "black"}  # fmt: skip
SHORT = {"dqn": "DQN", "autoscaler": "auto", "predictive": "pred.", "static_mean": "st.mean", "static_peak": "st.peak"}
PANELS = (
    ("acceptance_rate", "acceptance rate (share of requests)"),
    ("sla_violation_rate", "SLA violations (share of served)"),
    ("resource_utilization", "resource utilization (share of DC)"),
    ("e2e_delay_ms_mean", "mean end-to-end delay (ms)"),
    ("e2e_delay_ms_p95", "p95 end-to-end delay (ms)"),
    ("instances", "instances in use (mean)"),
    ("reward_per_step", "reward per step"),
)
DIAGNOSTIC_PANELS = (("loss", "TD loss (window mean)"), ("q_mean", "Q estimate of sampled actions"))


TRAINING_COLUMNS = ("phase_name", "steps", "reward", "acceptance_rate", "epsilon")  # what the learning curves read


def dc_runs(directory: Path) -> list[Path]:
    """Usable dc_provisioning runs under ``directory`` (itself included), as aggregate finds them."""
    return [job.directory for job in scan(directory)[0] if job.scenario == SCENARIO]


def _save(fig: plt.Figure, out: Path, name: str, top: float = 1.0) -> list[Path]:
    fig.tight_layout(rect=(0, 0, 1, top))
    return save_figure(fig, [out / f"{name}.png", out / f"{name}.pdf"])


def _training(runs: list[Path]) -> list[pd.DataFrame]:
    """The training windows of each run that trained (a run without metrics.csv draws no curve)."""
    tables = []
    for i, run in enumerate(runs):
        table = read_metrics(run / "metrics.csv")
        train = table[table.phase == "train"].copy() if table is not None else pd.DataFrame()
        if train.empty:
            continue
        require_columns(train, run / "metrics.csv", TRAINING_COLUMNS)
        train["reward_per_step"] = train.reward / train.steps.diff().fillna(train.steps.iloc[0])
        tables.append(train.assign(run=i))
    return tables


def _learning_curves(tables: list[pd.DataFrame], out: Path) -> list[Path]:
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    axes = axes.ravel()
    if not tables:
        for ax in axes:
            ax.text(0.5, 0.5, "no training in these runs", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return _save(fig, out, "dc_learning_curves")
    curves = pd.concat(tables, ignore_index=True)
    panels = (("reward_per_step", "reward per step"), ("acceptance_rate", "acceptance rate (share of requests)"),
              ("epsilon", "exploration rate epsilon"))  # fmt: skip
    panels += tuple(p for p in DIAGNOSTIC_PANELS if p[0] in curves)  # runs from before the diagnostics have none
    mean = curves.groupby("steps").mean(numeric_only=True).reset_index()
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if "allocate_share" in curves:
        ax = axes[5]
        ax.set_axis_on()
        for op, color in (("allocate", "tab:green"), ("uninstall", "tab:red"), ("wait", "tab:grey")):
            ax.plot(mean.steps, mean[f"{op}_share"], color=color, label=op)
        ax.set_xlabel("training steps")
        ax.set_ylabel("action mix (share of steps)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax, (column, label) in zip(axes, panels):
        if len(tables) > 1:
            for i, group in curves.groupby("run"):
                ax.plot(group.steps, group[column], color="tab:blue", alpha=0.25, linewidth=0.8,
                        label="single run" if i == 0 else None)  # fmt: skip
        ax.plot(mean.steps, mean[column], color="tab:blue", label=f"mean of {len(tables)} runs" if len(tables) > 1 else "DQN")
        ax.set_xlabel("training steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    phase_ends = curves.groupby("phase_name", sort=False).steps.max().iloc[:-1]
    for ax in axes[: len(panels)]:
        for end in phase_ends:
            ax.axvline(end, color="grey", linestyle=":", linewidth=0.8)
    axes[1].legend(fontsize=8, loc="lower right")
    axes[2].set_ylim(0, 1.05)
    axes[2].set_title("phases: " + " | ".join(curves.phase_name.drop_duplicates()), fontsize=8)
    return _save(fig, out, "dc_learning_curves")


def _policies(summaries: list[dict]) -> list[tuple[str, str]]:
    return [(p, name) for p, name in POLICIES if all(p in s for s in summaries)]


def _comparison(summaries: list[dict], out: Path) -> list[Path]:
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    axes = axes.ravel()
    axes[-1].set_axis_off()
    policies = _policies(summaries)
    for ax, (metric, label) in zip(axes, PANELS):
        for x, (policy, name) in enumerate(policies):
            values = np.array([np.nan if s[policy][metric] is None else s[policy][metric] for s in summaries], dtype=float)
            ax.bar(x, np.nanmean(values), width=0.6, color=COLORS[policy], label=name)
            if len(values) > 1:
                ax.scatter(np.full(len(values), x), values, color="black", s=10, zorder=3,
                           label="one seed" if x == 0 else None)  # fmt: skip
        ax.set_xticks(range(len(policies)), [SHORT[p] for p, _ in policies], fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        if metric in ("acceptance_rate", "resource_utilization"):
            ax.set_ylim(0, 1)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, labels, loc="center", fontsize=9, frameon=False)
    boots = sorted({boot_delay(s) for s in summaries})
    fig.suptitle(f"held-out evaluation, boot delay {boots[0]:g} s, {len(summaries)} seed(s)", fontsize=10)
    return _save(fig, out, "dc_comparison", top=0.95)


def _versus_boot(summaries: list[dict], out: Path) -> list[Path]:
    table = aggregate_dc(summaries)
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    axes = axes.ravel()
    axes[-1].set_axis_off()
    for ax, (metric, label) in zip(axes, PANELS):
        for policy, name in _policies(summaries):
            rows = table[(table.policy == policy) & (table.metric == metric)].sort_values("boot_s")
            ax.plot(rows.boot_s, rows["mean"], marker="o", markersize=3, color=COLORS[policy], label=name)
            ax.fill_between(rows.boot_s, rows.ci95_low, rows.ci95_high, color=COLORS[policy], alpha=0.15, linewidth=0)
        ax.set_xlabel("boot delay (s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, labels, loc="center", fontsize=9, frameon=False)
    seeds = table.groupby("boot_s").n.max()
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    fig.suptitle(f"held-out evaluation against boot delay: mean and 95% interval over {count} seeds per boot delay",
                 fontsize=10)  # fmt: skip
    return _save(fig, out, "dc_vs_boot", top=0.95)


def plot_dc(directory: Path, runs: list[Path] | None = None) -> list[Path]:
    """Both figures for the dc runs under ``directory``, into ``directory/figures``; every file is read and
    checked before the first figure is written."""
    runs = dc_runs(directory) if runs is None else runs
    summaries = [read_job(run).summary for run in runs]
    tables = _training(runs)
    out = Path(directory) / "figures"
    out.mkdir(exist_ok=True)
    several = len({boot_delay(s) for s in summaries}) > 1
    return _learning_curves(tables, out) + (_versus_boot(summaries, out) if several else _comparison(summaries, out))
