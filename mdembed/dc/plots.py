"""Figures of data-centre runs, from their result files only (``mdembed plot DIR``).

DIR is one dc_provisioning run or a directory holding several (e.g. seeds).
Writes PNG (300 dpi) and PDF into DIR/figures, sized and captioned as the
multi-domain figures are (:mod:`mdembed.market.figures`; what they share is :mod:`mdembed.core.figures`): 3.35 in (8.5 cm) wide,
panels in 2 columns, 7-8 pt text, the legend under the panels or in the grid's
free panel, and above the panels the scope: one data centre (one domain), the
requests of the held-out evaluation, the training, the seeds and n. A 95%
interval over seeds is drawn only where n >= 3; with fewer, each seed's value.

- ``dc_learning_curves`` (runs that trained): reward per step, acceptance
  rate, epsilon, the TD loss, the mean Q estimate and the action mix along
  training: each run's windows faint, the mean over runs of their rolling
  mean bold (with its 95% band where n >= 3); dotted lines mark the phases;
- ``dc_comparison`` (runs of one boot delay): the held-out evaluation, the
  DQN against each rule: acceptance rate, SLA violations, resource
  utilization, mean and p95 end-to-end delay, instances in use and reward
  per step; bars are the mean over runs, dots the runs, whiskers the 95%
  interval (n >= 3);
- ``dc_vs_boot`` (runs of several boot delays, e.g. the study): each of
  those metrics against the boot delay, one line per policy (mean over the
  runs) with its 95% interval as a band (n >= 3) or the runs' own values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mdembed.core.runs import Job, scan  # noqa: E402
from mdembed.core.statistics import mean_interval  # noqa: E402
from mdembed.dc.aggregate import aggregate_dc, boot_delay, read_dc_job  # noqa: E402
from mdembed.core.figures import (  # noqa: E402
    SINGLE_COLUMN, MIN_BAND, STYLE, caption, count_range, legend, listed, new_figure, read_metrics, require_columns, save,
    seed_list, smoothing_windows, spread_note, thousands,
)  # fmt: skip

POLICIES = (("dqn", "DQN"), ("autoscaler", "threshold autoscaler"), ("predictive", "predictive autoscaler"),
            ("static_mean", "static, mean-sized"), ("static_peak", "static, peak-sized"))  # fmt: skip
COLORS = {"dqn": "tab:blue", "autoscaler": "tab:orange", "predictive": "tab:green", "static_mean": "tab:grey",
          "static_peak": "black"}  # fmt: skip
SHORT = {"dqn": "DQN", "autoscaler": "auto", "predictive": "pred.", "static_mean": "st.mean", "static_peak": "st.peak"}
PANELS = (
    ("acceptance_rate", "acceptance rate\n(share of requests)"),
    ("sla_violation_rate", "SLA violations\n(share of served)"),
    ("resource_utilization", "resource utilization\n(share of DC)"),
    ("e2e_delay_ms_mean", "mean end-to-end\ndelay (ms)"),
    ("e2e_delay_ms_p95", "p95 end-to-end\ndelay (ms)"),
    ("instances", "instances in use\n(mean)"),
    ("reward_per_step", "reward per step"),
)
SHARES = ("acceptance_rate", "sla_violation_rate", "resource_utilization")  # between 0 and 1
DIAGNOSTIC_PANELS = (("loss", "TD loss\n(window mean)"), ("q_mean", "Q estimate of\nsampled actions"))
ACTIONS = (("allocate", "tab:green"), ("uninstall", "tab:red"), ("wait", "tab:grey"))


TRAINING_COLUMNS = ("phase_name", "steps", "reward", "acceptance_rate", "epsilon")  # what the learning curves read


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


def dc_scope(summaries: list[dict], tables: list[pd.DataFrame] | None = None, per: str = "point", n: str | None = None) -> str:
    """One line: one data centre (one domain), the evaluation's requests (or, with training ``tables``, the
    training's steps), the seeds and n (by default the number of runs) per ``per``."""
    topology = listed(s.get("topology", "datacentre") for s in summaries)
    if tables:
        what = f"trained {listed(int(t.steps.max()) for t in tables)} steps"
    else:
        steps = listed(s.get("eval_steps") for s in summaries)
        arrived = [s["dqn"]["arrived"] for s in summaries if isinstance(s.get("dqn", {}).get("arrived"), (int, float))]
        requests = f", {count_range(arrived)} requests per run" if arrived else ""
        what = (f"evaluated {steps} steps" if steps != "?" else "evaluated") + requests
    seeds = [s["seed"] for s in summaries]
    boots = {boot_delay(s) for s in summaries}
    boots = f", boot delays {listed(boots)} s" if len(boots) > 1 else ""
    return f"topology {topology} (one data centre, 1 domain), {what}, {seed_list(seeds)}{boots} (n = {n or len(summaries)} per {per})"


def _learning_curves(tables: list[pd.DataFrame], summaries: list[dict], out: Path) -> list[Path]:
    """Each panel a training metric: each run's windows faint, the mean over runs of their rolling mean, its 95%
    band where n >= MIN_BAND; nothing when no run trained (no empty figure)."""
    if not tables:
        return []
    curves = pd.concat(tables, ignore_index=True)
    panels = [("reward_per_step", "reward per step", None), ("acceptance_rate", "acceptance rate\n(share of requests)", (0, 1)),
              ("epsilon", "exploration\nrate epsilon", (0, 1))]  # fmt: skip
    panels += [(c, label, None) for c, label in DIAGNOSTIC_PANELS if c in curves]  # runs from before the diagnostics have none
    mix = "allocate_share" in curves
    rows = -(-(len(panels) + mix) // 2)
    n = len(tables)
    fig, axes = new_figure(SINGLE_COLUMN, 1.4 * rows + 0.55, rows, 2, sharex=True)
    k = smoothing_windows(int(curves.groupby("run").size().max()))
    for ax, (column, label, limits) in zip(axes.flat, panels):
        wide = curves.pivot_table(index="steps", columns="run", values=column, dropna=False)
        for run in wide:
            ax.plot(wide.index, wide[run], color="tab:blue", alpha=0.25, linewidth=0.5)
        smooth = wide.rolling(k, center=True, min_periods=1).mean()
        mean = smooth.mean(axis=1)
        ax.plot(mean.index, mean.values, color="tab:blue", linewidth=1.2)
        if n >= MIN_BAND:
            band = smooth.apply(lambda row: pd.Series(mean_interval(row)), axis=1)
            low, high = (band.ci95_low, band.ci95_high) if limits is None else (band.ci95_low.clip(*limits), band.ci95_high.clip(*limits))
            ax.fill_between(band.index, low, high, color="tab:blue", alpha=0.15, linewidth=0)
        ax.set_ylabel(label)
        if limits is not None:
            ax.set_ylim(limits[0] - 0.03, limits[1] + 0.03)
    if mix:
        ax = axes.flat[len(panels)]
        for op, color in ACTIONS:
            wide = curves.pivot_table(index="steps", columns="run", values=f"{op}_share", dropna=False)
            mean = wide.rolling(k, center=True, min_periods=1).mean().mean(axis=1)
            ax.plot(wide.index, wide.mean(axis=1), color=color, alpha=0.3, linewidth=0.5)
            ax.plot(mean.index, mean.values, color=color, linewidth=1.2)
        ax.set_ylabel("action mix\n(share of steps)")
        ax.set_ylim(-0.03, 1.03)
    used = len(panels) + mix
    for ax in axes.flat[used:]:
        ax.set_axis_off()
    phase_ends = curves.groupby("phase_name", sort=False).steps.max().iloc[:-1]
    for ax in axes.flat[:used]:
        for end in phase_ends:
            ax.axvline(end, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("training steps")
        thousands(ax.xaxis, ticks=4)
        ax.tick_params(labelbottom=True)
        ax.grid(True)
    window = int(curves.groupby("run").steps.diff().median()) if curves.groupby("run").size().max() > 1 else int(curves.steps.max())
    smooth_note = f"rolling mean over {k} windows of {window:,} steps" if k > 1 else f"windows of {window:,} steps"
    handles = [Line2D([], [], color="tab:blue", alpha=0.4, linewidth=0.5, label="each run's windows"),
               Line2D([], [], color="tab:blue", linewidth=1.2, label="DQN, mean over runs")]  # fmt: skip
    if n >= MIN_BAND:
        handles.append(Patch(color="tab:blue", alpha=0.15, label="95% interval"))
    handles.append(Line2D([], [], color="grey", linestyle=":", label="phase end"))
    if mix:
        handles += [Line2D([], [], color=c, label=op) for op, c in ACTIONS]
    phases = " | ".join(curves.phase_name.drop_duplicates())
    caption(fig, dc_scope(summaries, tables, "curve"), f"line: mean over runs of their {smooth_note}; phases: {phases}")
    legend(fig, handles, columns=2)
    return save(fig, out, "dc_learning_curves")


def _label(policy: str, name: str) -> str:
    return name if SHORT[policy] == name else f"{SHORT[policy]}: {name}"


def _policies(summaries: list[dict]) -> list[tuple[str, str]]:
    return [(p, name) for p, name in POLICIES if all(p in s for s in summaries)]


def _values(summaries: list[dict], policy: str, metric: str) -> np.ndarray:
    return np.array([np.nan if s[policy][metric] is None else s[policy][metric] for s in summaries], dtype=float)


def _comparison(summaries: list[dict], out: Path) -> list[Path]:
    policies = _policies(summaries)
    fig, axes = new_figure(SINGLE_COLUMN, 1.35 * 4 + 0.55, 4, 2)
    n = len(summaries)
    for ax, (metric, label) in zip(axes.flat, PANELS):
        for x, (policy, _) in enumerate(policies):
            values = _values(summaries, policy, metric)
            seen = values[~np.isnan(values)]
            mean = seen.mean() if len(seen) else np.nan
            ax.bar(x, mean, width=0.6, color=COLORS[policy], alpha=0.85)
            if len(seen) >= MIN_BAND:
                interval = mean_interval(pd.Series(seen))
                low, high = interval["ci95_low"], interval["ci95_high"]
                if metric in SHARES:
                    low, high = max(low, 0.0), min(high, 1.0)
                ax.errorbar(x, mean, yerr=[[mean - low], [high - mean]], color="0.2", capsize=2, linewidth=0.8)
            if len(seen) > 1:
                ax.scatter(np.full(len(seen), x), seen, color="black", s=5, zorder=3, linewidths=0)
        ax.set_xticks([])  # the colours name the policies (legend): five names do not fit under a 1.5 in panel
        ax.set_ylabel(label)
        ax.grid(True, axis="y")
        if metric in ("acceptance_rate", "resource_utilization"):
            ax.set_ylim(0, 1)
    handles = [Patch(color=COLORS[p], label=_label(p, name)) for p, name in policies]
    if n > 1:
        handles.append(Line2D([], [], color="black", marker="o", markersize=2.5, linestyle="none", label="one seed"))
    if n >= MIN_BAND:
        handles.append(Line2D([], [], color="0.2", marker="_", markersize=6, linestyle="none", label="95% interval"))
    boots = sorted({boot_delay(s) for s in summaries})
    if n == 1:
        spread = "bars: the run's values"
    else:
        spread = "bars: mean over runs; " + ("whiskers: 95% interval" if n >= MIN_BAND else f"dots: each run (n < {MIN_BAND}: no interval)")
    note = f"held-out evaluation, boot delay {boots[0]:g} s; {spread}"
    caption(fig, dc_scope(summaries), note)
    legend(fig, handles, axes.flat[-1])
    return save(fig, out, "dc_comparison")


def _versus_boot(summaries: list[dict], out: Path) -> list[Path]:
    table = aggregate_dc(summaries)
    fig, axes = new_figure(SINGLE_COLUMN, 1.35 * 4 + 0.55, 4, 2, sharex=True)
    boots = np.array([boot_delay(s) for s in summaries])
    for ax, (metric, label) in zip(axes.flat, PANELS):
        for policy, _ in _policies(summaries):
            rows = table[(table.policy == policy) & (table.metric == metric)].sort_values("boot_s")
            colour = COLORS[policy]
            ax.plot(rows.boot_s, rows["mean"], marker="o", markersize=3, color=colour)
            if (rows.n >= MIN_BAND).all():
                low, high = rows.ci95_low, rows.ci95_high
                if metric in SHARES:
                    low, high = low.clip(0, 1), high.clip(0, 1)
                ax.fill_between(rows.boot_s, low, high, color=colour, alpha=0.15, linewidth=0)
            else:
                ax.scatter(boots, _values(summaries, policy, metric), color=colour, s=5, alpha=0.6, linewidths=0)
        ax.set_xlabel("boot delay (s)")
        ax.tick_params(labelbottom=True)
        ax.set_ylabel(label)
        ax.grid(True)
    handles = [Line2D([], [], color=COLORS[p], marker="o", markersize=3, label=_label(p, name))
               for p, name in _policies(summaries)]  # fmt: skip
    seeds = table.groupby("boot_s").n.max()
    caption(fig, dc_scope(summaries, per="boot delay", n=count_range(seeds)),
             "held-out evaluation against boot delay; " + spread_note(seeds, "mean over runs"))  # fmt: skip
    legend(fig, handles, axes.flat[-1])
    return save(fig, out, "dc_vs_boot")


def plan_figures(directory: Path, jobs: list[Job], baseline: str | None = None, load: float | None = None) -> Callable[[], list[Path]]:
    """The figures that apply to these data-centre runs: every file read and checked (nothing written), then the
    drawing, into ``directory/figures`` (they compare the DQN with its rules: no baseline, no load axis)."""
    summaries = [job.summary for job in jobs]
    tables = _training([job.directory for job in jobs])
    out = Path(directory) / "figures"
    several = len({boot_delay(s) for s in summaries}) > 1

    def draw() -> list[Path]:
        out.mkdir(exist_ok=True)
        with plt.rc_context(STYLE):
            written = _learning_curves(tables, [summaries[t.run.iloc[0]] for t in tables], out)
            return written + (_versus_boot(summaries, out) if several else _comparison(summaries, out))

    return draw


def plot_dc(directory: Path, jobs: list[Job] | None = None) -> list[Path]:
    """The figures that apply to the data-centre runs ``jobs`` (by default: those found under ``directory``, as
    aggregate finds them), into ``directory/figures``; every file is read and checked before the first is written."""
    jobs = scan(directory, read_dc_job)[0] if jobs is None else jobs
    return plan_figures(directory, jobs)()
