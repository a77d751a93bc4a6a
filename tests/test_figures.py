"""The figures' rules (issue 27), on sweeps built by hand from the fixture jobs: nothing is simulated.

Every figure states its scope (topology, domains, requests, seeds and n) above its panels; it is one column
(3.35 in, 8.5 cm) wide, its panels in at most 2 columns, its text 7-8 pt, its legend outside the data and inside
the figure;
a 95% band needs n >= 3 seeds, fewer show each seed; revenue reads in thousands; the learning curves are
smoothed, one panel per metric, colour the algorithm and line style the load; a directory a figure does not
apply to gets none of it (a single run: nothing against the arrival rate; sa, sa_cff, ilp: no price line);
domains_vs_load puts each domain's price against the domain's own node utilization.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from mdembed.core import figures  # noqa: E402  (every figure is saved through its save_figure)
from mdembed.dc.aggregate import DC_METRICS  # noqa: E402
from mdembed.market.figures import AGAINST_LOAD, FIGURES, plot_market, quotes_prices  # noqa: E402
from mdembed.core.figures import SINGLE_COLUMN  # noqa: E402
from mdembed.dc.plots import plot_dc  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "aggregate_sweep" / "jobs" / "cff_3d_seed1_rate0.5"
DOMAINS = 3


def market_job(root: Path, algorithm: str, seed: int, rate: float, train_windows: int = 0, arm: str = "") -> Path:
    """A finished market job (a study's ``arm`` of ``algorithm``): the fixture's summary with its algorithm, seed
    and numbers changed, its Hydra files, and a metrics.csv of 4 evaluation windows (and ``train_windows``
    training ones) whose domain d's node utilization is (d + 1) x rate / 4 + seed / 100."""
    rng = np.random.default_rng([seed, int(rate * 1000), len(algorithm + arm)])
    axis = f"arm={arm}" if arm else f"algorithm={algorithm}"
    job = root / f"{axis},seed={seed},workload.arrival_rate={rate:g}"
    (job / ".hydra").mkdir(parents=True)
    summary = json.loads((FIXTURE / "summary.json").read_text())
    summary.update(algorithm=algorithm, seed=seed, requests=500, acceptance_ratio=float(rng.uniform(0.3, 0.9)),
                   revenue=float(rng.uniform(50_000, 400_000)), cost=float(rng.uniform(5_000, 40_000)),
                   domain_revenue=rng.uniform(1_000, 100_000, DOMAINS).tolist(),
                   domain_mean_price=rng.uniform(2, 8, DOMAINS).tolist())  # fmt: skip
    summary["price_by_load"] = {"used_share_bins": [0.0, 0.5, 1.0], "mean_price": [[2.0, 4.0 + seed]] * DOMAINS,
                                "count": [[10, 5]] * DOMAINS}  # fmt: skip
    (job / "summary.json").write_text(json.dumps(summary))
    (job / ".hydra" / "config.yaml").write_text(f"workload:\n  arrival_rate: {rate}\n")
    (job / ".hydra" / "overrides.yaml").write_text(f"- {axis}\n- seed={seed}\n- workload.arrival_rate={rate}\n")
    rows = []
    for phase, windows in (("train", train_windows), ("eval", 4)):
        for w in range(windows):
            row = {"phase": phase, "window": w, "requests": 100 * (w + 1), "acceptance_ratio": rng.uniform(0.2, 0.9)}
            for d in range(DOMAINS):
                row |= {f"domain{d}_revenue": rng.uniform(1_000, 20_000), f"domain{d}_mean_price": rng.uniform(2, 8),
                        f"domain{d}_node_utilization": (d + 1) * rate / 4 + seed / 100 + 0.01 * (w % 2),
                        f"domain{d}_hosted_vnfs": 10 + d, f"domain{d}_hosted_vls": 20 + d}  # fmt: skip
                if phase == "train":
                    row[f"learner_domain{d}_at_bounds"] = rng.uniform(0, 1)
            rows.append(row)
    pd.DataFrame(rows).to_csv(job / "metrics.csv", index=False)
    return job


def market_sweep(root: Path, seeds=(1, 2, 3), rates=(0.05, 0.5), algorithms=("cff_3d", "ddpg", "sa")) -> Path:
    for algorithm in algorithms:
        for seed in seeds:
            for rate in rates:
                market_job(root, algorithm, seed, rate, train_windows=30 if algorithm == "ddpg" else 0)
    return root


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved, by name, kept open for the test to read (it is written too)."""
    kept = {}
    real = figures.save_figure

    def keep(fig, paths, **options):
        kept[paths[0].stem] = fig
        return real(fig, paths, **options)

    monkeypatch.setattr(figures, "save_figure", keep)
    return kept


def caption(fig) -> str:
    return fig._suptitle.get_text().replace("\n", " ")


def data_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.axison and ax.get_visible()]


def lines_labelled(ax, label: str) -> list:
    return [line for line in ax.get_lines() if line.get_label() == label]


def render(fig):
    """The figure drawn again on an Agg canvas (saving and closing it left it none); its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def inside(fig, box) -> bool:
    """Whether a box (in pixels) lies within the figure, to a thousandth of its size."""
    edges = fig.bbox.expanded(1.001, 1.001)
    return edges.contains(box.x0, box.y0) and edges.contains(box.x1, box.y1)


def check_layout(name: str, fig, png: Path) -> None:
    """Width, columns of panels, font sizes, legends outside the data."""
    image = Image.open(png)
    width = image.width / image.info["dpi"][0]
    assert width == pytest.approx(SINGLE_COLUMN, abs=0.02), name
    assert len({round(ax.get_position().x0, 2) for ax in data_axes(fig)}) <= 2, f"{name}: more than 2 columns of panels"
    sizes = {t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()}
    assert min(sizes) >= 7 and max(sizes) <= 8, (name, sizes)
    renderer = render(fig)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert legends, f"{name} has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in data_axes(fig):
            assert not box.overlaps(ax.get_window_extent(renderer)), f"{name}: a legend over the data"
        assert inside(fig, box), f"{name}: a legend cut off"
    assert fig.get_figwidth() == pytest.approx(SINGLE_COLUMN)


def test_every_figure_states_its_scope_and_reads_at_column_width(tmp_path, drawn):
    sweep = market_sweep(tmp_path / "sweep")
    written = plot_market(sweep)
    assert {p.stem for p in written} == set(FIGURES) == set(drawn)
    for name, fig in drawn.items():
        text = caption(fig)
        for part in ("topology abilene", "3 domains", "seeds 1-3", "n = 3 per"):
            assert part in text, (name, text)
        assert ("trained on 3,000 requests" if name == "learning_curves" else "500 requests per run") in text, (name, text)
        check_layout(name, fig, sweep / "figures" / f"{name}.png")
        assert (sweep / "figures" / f"{name}.pdf").stat().st_size > 1000


def test_a_legend_too_big_for_the_free_panel_goes_under_the_panels(tmp_path, drawn):
    """Ten arms of long names (the pricing study's) do not fit one panel's room: the legend goes under the panels,
    the figure growing by its height, instead of running off the figure's edge."""
    arms = [f"ppo_element_coop_{k}" for k in range(10)]
    for arm in arms:
        for seed in (1, 2, 3):
            for rate in (0.05, 0.5):
                market_job(tmp_path / "sweep", "ddpg", seed, rate, arm=arm)
    plot_market(tmp_path / "sweep", baseline="none")
    for name in ("acceptance_vs_load", "price_vs_load"):  # 3 panels each: the 4th cell is free
        fig = drawn[name]
        check_layout(name, fig, tmp_path / "sweep" / "figures" / f"{name}.png")
        assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes), name
    few = market_sweep(tmp_path / "few")  # 3 short names still fit the free panel
    plot_market(few)
    assert not drawn["acceptance_vs_load"].legends and drawn["acceptance_vs_load"].axes[-1].get_legend()


def test_a_single_run_or_a_single_load_draws_nothing_against_the_load(tmp_path, drawn):
    one = market_job(tmp_path / "one", "ddpg", 1, 0.5, train_windows=10)
    assert {p.stem for p in plot_market(one)} == {"price_vs_load", "decision_time", "domains", "learning_curves"}
    assert "seed 1 (n = 1 per" in caption(drawn["decision_time"])
    sweep = market_sweep(tmp_path / "sweep", rates=(0.5,))
    names = {p.stem for p in plot_market(sweep)}
    assert not names & set(AGAINST_LOAD)
    assert {"acceptance_revenue", "paired_vs_load", "price_vs_load"} <= names  # comparisons at one load still apply


def test_algorithms_without_prices_of_their_own_draw_no_price_line(tmp_path, drawn):
    assert [quotes_prices(a) for a in ("sa", "sa_cff", "ilp")] == [False] * 3
    assert [quotes_prices(a) for a in ("cff_3d", "cff_sd", "ddpg", "ppo", "load_exp", "a_plugin")] == [True] * 6
    plot_market(market_sweep(tmp_path / "sweep"))
    fig = drawn["domains_vs_load"]
    price_axes = [ax for ax in fig.axes if "mean quoted price" in ax.get_ylabel()]
    revenue_axes = [ax for ax in fig.axes if "revenue" in ax.get_ylabel()]
    assert len(price_axes) == len(revenue_axes) == DOMAINS
    for ax in price_axes:
        assert lines_labelled(ax, "ddpg") and lines_labelled(ax, "cff_3d") and not lines_labelled(ax, "sa")
    for ax in revenue_axes:
        assert lines_labelled(ax, "sa")
    assert "sa: no price line" in caption(fig)
    for ax in data_axes(drawn["price_vs_load"]):
        assert lines_labelled(ax, "ddpg") and not lines_labelled(ax, "sa")


def test_domains_vs_load_puts_each_domain_at_its_own_utilization(tmp_path, drawn):
    plot_market(market_sweep(tmp_path / "sweep"))
    fig = drawn["domains_vs_load"]
    for d in range(DOMAINS):
        ax = next(ax for ax in fig.axes if ax.get_title() == f"domain {d}" and ax.get_ylabel() == "mean quoted price")
        assert ax.get_xlabel() == "its node utilization"
        (line,) = lines_labelled(ax, "ddpg")
        # mean over windows (0.005 from the alternation) and seeds 1-3 (0.02), at each rate
        expected = [(d + 1) * rate / 4 + 0.02 + 0.005 for rate in (0.05, 0.5)]
        assert line.get_xdata() == pytest.approx(expected)
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert sum(len(c.get_offsets()) for c in dots) == 2 * 2 * 3  # a dot per run: 2 priced algorithms x 2 rates x 3 seeds


def test_bands_need_three_seeds_and_fewer_show_each_seed(tmp_path, drawn):
    plot_market(market_sweep(tmp_path / "three"))
    three = drawn["acceptance_vs_load"]
    assert all(any(isinstance(c, PolyCollection) for c in ax.collections) for ax in data_axes(three))
    assert "band: its 95% interval" in caption(three)
    drawn.clear()
    plot_market(market_sweep(tmp_path / "two", seeds=(1, 2)))
    for name in ("acceptance_vs_load", "learning_curves"):
        fig = drawn[name]
        assert "n = 2 per" in caption(fig) and "seeds 1, 2" in caption(fig)
        assert not any(isinstance(c, PolyCollection) for ax in data_axes(fig) for c in ax.collections), name
    ax = data_axes(drawn["acceptance_vs_load"])[0]
    assert sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)) == 3 * 2 * 2  # each seed
    assert "dots: each seed (n < 3: no interval)" in caption(drawn["acceptance_vs_load"])


def test_revenue_and_cost_read_in_thousands(tmp_path, drawn):
    plot_market(market_sweep(tmp_path / "sweep"))
    fig = drawn["revenue_cost_vs_load"]
    render(fig)
    for ax in data_axes(fig):
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all(label == "0" or label.endswith("k") for label in labels), labels
        assert max(abs(float(label.rstrip("k").replace("\u2212", "-"))) for label in labels) < 1000


def test_learning_curves_are_smoothed_one_panel_per_metric_colour_the_arm_style_the_load(tmp_path, drawn):
    plot_market(market_sweep(tmp_path / "sweep"))
    fig = drawn["learning_curves"]
    axes = data_axes(fig)
    assert [ax.get_ylabel().replace("\n", " ") for ax in axes] == [
        "reward per window (domains' revenue)", "mean quoted price (over domains)", "VNF-FG acceptance (while exploring)",
        "actor outputs at a price bound (share)"]  # fmt: skip
    for ax in axes:
        slow, fast = lines_labelled(ax, "ddpg @ 0.05"), lines_labelled(ax, "ddpg @ 0.5")
        assert len(slow) == len(fast) == 1
        assert slow[0].get_color() == fast[0].get_color() and slow[0].get_linestyle() != fast[0].get_linestyle()
        faint = [line for line in ax.get_lines() if line.get_alpha() is not None and line.get_alpha() < 0.5]
        assert len(faint) == 2 * 3  # each seed's raw windows at each load
        raw = np.mean([line.get_ydata() for line in faint[:3]], axis=0)  # the first load's seeds
        smooth = slow[0].get_ydata()
        assert np.abs(np.diff(smooth)).sum() < np.abs(np.diff(raw)).sum()  # smoother than the mean of the raw windows
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts() if t.get_text()]
    assert labels == ["ddpg", "rate 0.05", "rate 0.5"]
    assert "rolling mean over 3 windows of 100 requests" in caption(fig)


def test_learning_curves_of_many_arms_give_each_load_its_rows_and_no_band_past_four_curves(tmp_path, drawn):
    root = tmp_path / "study"
    arms = ("ddpg", "ddpg_node", "ddpg_tanh", "ddpg_slot", "ddpg_td3")
    for arm in arms[:3]:
        for seed in (1, 2, 3):
            for rate in (0.05, 0.5):
                market_job(root, "ddpg", seed, rate, train_windows=20, arm=arm)
    plot_market(root)
    fig = drawn["learning_curves"]
    axes = data_axes(fig)
    assert len(axes) == 2 * 4 and [ax.get_title() for ax in axes] == ["arrival rate 0.05"] * 4 + ["arrival rate 0.5"] * 4
    for ax in axes:
        bold = [line for line in ax.get_lines() if line.get_alpha() is None]
        assert sorted(line.get_label().split(" @ ")[0] for line in bold) == sorted(arms[:3])
        assert {line.get_linestyle() for line in bold} == {"-"}  # the load is the block, not a line style
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 3  # 3 curves, 3 seeds: a band each
    check_layout("learning_curves", fig, root / "figures" / "learning_curves.png")
    drawn.clear()
    for arm in arms[3:]:
        for seed in (1, 2, 3):
            for rate in (0.05, 0.5):
                market_job(root, "ddpg", seed, rate, train_windows=20, arm=arm)
    plot_market(root)
    fig = drawn["learning_curves"]
    assert not any(isinstance(c, PolyCollection) for ax in data_axes(fig) for c in ax.collections)
    assert "no 95% bands (5 curves a panel)" in caption(fig)


def dc_run(root: Path, seed: int, boot: float = 30.0, train_windows: int = 0) -> Path:
    """A finished data-centre run by hand: its summary and (with ``train_windows``) the training windows."""
    rng = np.random.default_rng(seed)
    run = root / f"boot{boot:g}_seed{seed}"
    run.mkdir(parents=True)
    policies = {p: {m: float(rng.uniform(0.1, 0.9)) for m in DC_METRICS} | {"arrived": 200 + seed}
                for p in ("dqn", "autoscaler", "predictive", "static_mean", "static_peak")}  # fmt: skip
    summary = {"scenario": "dc_provisioning", "algorithm": "dqn", "topology": "datacentre", "seed": seed,
               "eval_steps": 600, "conditions": {"boot_s": boot}, **policies}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    if train_windows:
        phases = ["exploration", "balanced", "exploitation", "fine_tuning"]
        rows = [{"phase": "train", "policy": "dqn", "window": w, "steps": 600 * (w + 1),
                 "phase_name": phases[w * 4 // train_windows], "reward": rng.uniform(0, 300),
                 "acceptance_rate": rng.uniform(0.4, 0.9), "epsilon": 1 - w / train_windows, "loss": rng.uniform(0, 1),
                 "q_mean": rng.uniform(0, 5), "allocate_share": 0.3, "uninstall_share": 0.3, "wait_share": 0.4}
                for w in range(train_windows)]  # fmt: skip
        pd.DataFrame(rows).to_csv(run / "metrics.csv", index=False)
    return run


def test_data_centre_figures_state_their_scope_and_read_at_column_width(tmp_path, drawn):
    root = tmp_path / "dc"
    for seed in (1, 2, 3):
        dc_run(root, seed, train_windows=20)
    assert {p.stem for p in plot_dc(root)} == {"dc_learning_curves", "dc_comparison"}
    for name, fig in drawn.items():
        text = caption(fig)
        assert "topology datacentre (one data centre, 1 domain)" in text and "seeds 1-3 (n = 3 per" in text, text
        assert ("trained 12,000 steps" if name == "dc_learning_curves" else "evaluated 600 steps, 201-203 requests") in text
        check_layout(name, fig, root / "figures" / f"{name}.png")
    curves = drawn["dc_learning_curves"]
    assert all(any(isinstance(c, PolyCollection) for c in ax.collections) for ax in data_axes(curves)[:5])
    assert "rolling mean over 2 windows of 600 steps" in caption(curves)


def test_data_centre_runs_without_training_or_with_two_seeds(tmp_path, drawn):
    root = tmp_path / "dc"
    for seed, boot in ((1, 5.0), (2, 5.0), (1, 30.0), (2, 30.0)):
        dc_run(root, seed, boot)
    assert {p.stem for p in plot_dc(root)} == {"dc_vs_boot"}  # no training: no learning curves
    fig = drawn["dc_vs_boot"]
    assert "n = 2 per boot delay" in caption(fig) and "dots: each seed" in caption(fig)
    assert not any(isinstance(c, PolyCollection) for ax in data_axes(fig) for c in ax.collections)
    check_layout("dc_vs_boot", fig, root / "figures" / "dc_vs_boot.png")
    shutil.rmtree(root / "figures")


def panel_height(groups: tuple[int, ...], columns: int | None = None, name: str = "algorithm") -> float:
    """The inches of height the one panel of a 2-inch figure keeps once a legend of ``groups`` is under it."""
    with plt.rc_context(figures.STYLE):
        fig, axes = figures.new_figure(SINGLE_COLUMN, 2, 1, 1)
        keys = [[Line2D([], [], marker="o", label=f"{name}_{g}{k}") for k in range(n)] for g, n in enumerate(groups)]
        if len(groups) == 1:
            figures.legend(fig, keys[0], columns=columns)
        else:
            figures.legend_groups(fig, keys)
        renderer = render(fig)
        assert inside(fig, fig.legends[0].get_window_extent(renderer)), "a legend cut off"
        return axes[0][0].get_window_extent(renderer).height / fig.dpi


@pytest.mark.parametrize("groups, columns", [((3,), None), ((5,), None), ((9,), None), ((9,), 3), ((7,), 2),
                                             ((12,), None), ((9, 3), None), ((4, 2), None)])  # fmt: skip
def test_a_legend_under_the_panels_takes_no_height_from_them(groups, columns):
    """The figure grows by its legend's height: a legend of 12 keys leaves its panel the height one of 1 key does."""
    assert panel_height(groups, columns) == pytest.approx(panel_height((1,)), abs=0.01)


def test_a_legend_of_long_names_takes_fewer_columns_not_more_than_the_width():
    assert panel_height((9,), name="a_name_of_some_twenty_characters") == pytest.approx(panel_height((1,)), abs=0.01)
