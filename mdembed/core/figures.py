"""What every figure of mdembed shares, whatever its scenario: one column of a two-column paper wide (3.35 in,
8.5 cm) and read there at 1:1, panels in at most 2 columns, 7-8 pt text, the scope written above the panels, the
legend outside the data, 95% bands only where n >= MIN_BAND, and files written whole (PNG at 300 dpi and PDF)
or not at all."""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from mdembed.core.errors import MdembedError  # noqa: E402
from mdembed.core.io import atomic  # noqa: E402

SINGLE_COLUMN = 3.35  # inches: one column of a two-column paper (8.5 cm), the width of every figure
LEGEND_COLUMN = 1.1  # inches a column of the legend takes (a key and a name of about 12 characters at 7 pt)
MIN_BAND = 3  # seeds a 95% band or interval needs; a point of fewer seeds shows the seeds' own values
DPI = 300
CAPTION_CHARACTERS = 19.5  # characters of 7 pt text per inch of caption: a line wraps before it leaves the figure
STYLE = {
    "font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.title_fontsize": 7, "figure.titlesize": 7, "legend.frameon": False,
    "lines.linewidth": 1.0, "lines.markersize": 3.5, "axes.linewidth": 0.6, "grid.linewidth": 0.4, "grid.alpha": 0.35,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5, "ytick.minor.size": 1.5, "pdf.fonttype": 42, "ps.fonttype": 42,
    "figure.constrained_layout.h_pad": 0.02, "figure.constrained_layout.w_pad": 0.02,
}  # fmt: skip


def new_figure(width: float, height: float, rows: int, columns: int, **options) -> tuple[plt.Figure, np.ndarray]:
    """A figure ``width`` x ``height`` inches whose layout keeps its caption, labels and an outside legend inside
    it (the saved file is exactly that size), and its grid of axes."""
    fig = plt.figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, columns, squeeze=False, **options)


def caption(fig: plt.Figure, *lines: str) -> None:
    """The scope and how to read the figure, above its panels, each line wrapped to the figure's width."""
    width = int(fig.get_figwidth() * CAPTION_CHARACTERS)
    text = "\n".join(textwrap.fill(line, width) for line in lines if line)
    fig.suptitle(text, fontsize=7, color="0.2")


def legend(fig: plt.Figure, handles: list, free: plt.Axes | None = None, title: str | None = None,
           columns: int | None = None) -> None:  # fmt: skip
    """The legend in the grid's free panel when there is one and it fits there, else under the panels: never over
    the data or off the figure. Under the panels, the figure grows by the legend's height, so the panels keep the
    height the figure gave them whatever the number and length of the names."""
    if free is None or not _in_panel(fig, handles, free, title, columns):
        _under_panels(fig, handles, title, columns)


def legend_groups(fig: plt.Figure, groups: list[list], free: plt.Axes | None = None) -> None:
    """A legend of several groups of keys (e.g. the algorithms' colours, then the loads' line styles), each group
    in columns of its own under the panels (or one after the other in the free panel, where they fit)."""
    blank = Line2D([], [], linestyle="none", label="")
    groups = [g for g in groups if g]
    if free is not None and _in_panel(fig, [h for g in groups for h in [*g, blank]][:-1], free):
        return
    rows = _legend_rows([len(g) for g in groups], _legend_columns(fig.get_figwidth()))
    handles = [h for g in groups for h in [*g, *[blank] * (-len(g) % rows)]]  # each group fills whole columns
    _under_panels(fig, handles, columns=len(handles) // rows)


def _in_panel(fig: plt.Figure, handles: list, free: plt.Axes, title: str | None = None, columns: int | None = None) -> bool:
    """Whether the legend fits the free panel: drawn there and laid out with the rest of the figure, it stays
    inside the figure and off every panel that shows data. It is left there if so, removed if not."""
    free.set_axis_off()
    box = free.legend(handles, [h.get_label() for h in handles], loc="center", title=title,
                      ncol=columns or (1 if len(handles) <= 8 else 2))  # fmt: skip
    with warnings.catch_warnings():  # a legend too big for its panel collapses the layout: that is the answer
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    extent = _keys_extent(fig, box, renderer)
    inside = fig.bbox.expanded(1.001, 1.001)
    if (inside.contains(extent.x0, extent.y0) and inside.contains(extent.x1, extent.y1)
            and not any(ax.axison and extent.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)):  # fmt: skip
        return True
    box.remove()  # too many keys, or names too long, for one panel's room
    return False


def _keys_extent(fig: plt.Figure, box, renderer):
    """The legend's box without its border's blank padding: that may run past the figure's edge, the keys not."""
    pad = box.borderpad * box.prop.get_size_in_points() * fig.dpi / 72
    return box.get_window_extent(renderer).padded(-pad)


def _under_panels(fig: plt.Figure, handles: list, title: str | None = None, columns: int | None = None) -> None:
    """The legend under the panels in as many columns as asked for and the figure's width holds (fewer where the
    names are long), the figure grown by its height."""
    renderer = fig.canvas.get_renderer()
    across = min(columns or len(handles), _legend_columns(fig.get_figwidth()))
    while True:
        box = fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", title=title, ncol=across)
        if _keys_extent(fig, box, renderer).width <= fig.bbox.width or across == 1:
            break
        box.remove()
        across -= 1
    fig.set_figheight(fig.get_figheight() + box.get_window_extent(renderer).height / fig.dpi)


def thousands(axis, ticks: int = 5) -> None:
    """Tick labels in thousands (150000 reads 150k), at most ``ticks`` of them: a panel is about 1.5 in wide."""
    axis.set_major_locator(MaxNLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0"))


def _legend_columns(width: float) -> int:
    """The columns of keys a legend under the panels holds within a figure ``width`` inches wide."""
    return max(1, int(width / LEGEND_COLUMN))


def _legend_rows(groups: list[int], columns: int) -> int:
    """The fewest rows of a legend of ``groups`` (each a number of keys, none empty, in columns of its own) whose
    columns fit in ``columns``."""
    rows = 1
    while sum(-(-g // rows) for g in groups) > columns and rows < max(groups, default=1):
        rows += 1
    return rows


def save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    return save_figure(fig, [out / f"{name}.png", out / f"{name}.pdf"])


def save_figure(fig: plt.Figure, paths: list[Path], **options) -> list[Path]:
    """Write ``fig`` to each path through ``NAME.partial`` and a rename, then close it.

    As :func:`mdembed.core.io.write_atomic` does for tables: a full disk or a
    read-only directory leaves no cut figure behind, only the one-line error
    that names the figure.
    """
    try:
        for path in paths:
            with atomic(path) as partial:
                fig.savefig(partial, format=path.suffix[1:], dpi=DPI, **options)
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


# --- the scope every figure states -------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def listed(values: Iterable) -> str:
    """The distinct values, in order, separated by commas ("?" when there is none)."""
    distinct = sorted({v for v in values if pd.notna(v)})
    return ", ".join(_number(v) if isinstance(v, (int, float, np.number)) else str(v) for v in distinct) or "?"


def seed_list(seeds: Iterable) -> str:
    """``seed 4``, ``seeds 1-5`` (a run of three or more), ``seeds 1, 3``."""
    found = sorted({int(s) for s in seeds})
    if len(found) == 1:
        return f"seed {found[0]}"
    if len(found) > 2 and found == list(range(found[0], found[-1] + 1)):
        return f"seeds {found[0]}-{found[-1]}"
    return "seeds " + ", ".join(map(str, found))


def count_range(counts: Iterable) -> str:
    """``3``, or ``2-3`` when the counts differ."""
    found = [int(c) for c in counts]
    low, high = min(found, default=0), max(found, default=0)
    return f"{low}" if low == high else f"{low}-{high}"


def spread_note(counts: Iterable, mean: str = "mean over seeds") -> str:
    """How a figure shows the seeds' spread: a 95% band where n >= MIN_BAND, each seed's value where fewer."""
    found = [int(c) for c in counts]
    if found and min(found) >= MIN_BAND:
        return f"line: {mean}; band: its 95% interval"
    if found and max(found) < MIN_BAND:
        return f"line: {mean}; dots: each seed (n < {MIN_BAND}: no interval)"
    return f"line: {mean}; band: its 95% interval where n >= {MIN_BAND}, dots: each seed where fewer"


def smoothing_windows(windows: int) -> int:
    """The windows of the learning curves' rolling mean: about a tenth of the training's windows, at least 1."""
    return max(1, round(windows / 10))
