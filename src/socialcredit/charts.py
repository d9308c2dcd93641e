"""Charts for reports, pages and the simulation lab, drawn once on the server.

Every chart people compare (a score over time, a grade distribution, a transition matrix)
is drawn here with matplotlib, so the credit report, the web pages and the simulation
report look alike and need no JavaScript or CDN. SVG output keeps its text as text
(``svg.fonttype = none``): it stays small, searchable, readable by screen readers, and can
show Chinese labels with whatever font the browser has. PNG output is for the PDF report.
Output is deterministic (no timestamps, fixed ids) so generated documents can be compared.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

import matplotlib
from cycler import cycler

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

Format = Literal["svg", "png"]

#: Colour-blind safe palette (Okabe–Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

_STYLE: Any = {
    "svg.fonttype": "none",
    "svg.hashsalt": "socialcredit",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
}

X = float | int | date


def _figure(width: float, height: float) -> Figure:
    return plt.figure(figsize=(width, height), dpi=100)


def _render(fig: Figure, title: str, fmt: Format) -> str | bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    else:
        fig.savefig(buffer, format="png", dpi=150, metadata={"Title": title})
    plt.close(fig)
    data = buffer.getvalue()
    if fmt == "png":
        return data
    text = data.decode("utf-8")
    # Inline use: drop the XML prologue and DOCTYPE, keep the <svg> element with a role.
    text = text[text.index("<svg") :]
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def line_chart(
    series: Mapping[str, Sequence[tuple[X, float]]],
    *,
    title: str,
    y_label: str = "",
    bands: Sequence[tuple[float, float, str]] = (),
    step: bool = False,
    fmt: Format = "svg",
    size: tuple[float, float] = (7.0, 3.2),
) -> str | bytes:
    """One line per series; ``bands`` shades horizontal ranges (e.g. grade bands).

    ``step`` draws a staircase: a score holds its value until the next change, which is
    the honest picture of a registry that only changes when a record arrives or expires.
    """
    with plt.rc_context(_STYLE):
        fig = _figure(*size)
        ax = fig.add_subplot()
        for low, high, label in bands:
            ax.axhspan(low, high, alpha=0.06, color="#555555", linewidth=0)
            ax.text(
                1.0,
                (low + high) / 2,
                f" {label}",
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=8,
                color="#555555",
            )
        for name, points in series.items():
            xs: list[Any] = [p[0] for p in points]
            ys = [p[1] for p in points]
            if step:
                ax.step(xs, ys, where="post", label=name)
            else:
                ax.plot(xs, ys, label=name)
        ax.set_title(title)
        ax.set_ylabel(y_label)
        if len(series) > 1:
            ax.legend(frameon=False)
        return _render(fig, title, fmt)


def bar_chart(
    categories: Sequence[str],
    values: Mapping[str, Sequence[float]],
    *,
    title: str,
    y_label: str = "",
    fmt: Format = "svg",
    size: tuple[float, float] = (7.0, 3.2),
    label_rotation: float = 0,
) -> str | bytes:
    """Grouped bars: one group per category, one bar per series (e.g. before / after).

    ``label_rotation`` tilts the category labels (degrees) when they are long names, such as
    providers, that would overlap if written level.
    """
    with plt.rc_context(_STYLE):
        fig = _figure(*size)
        ax = fig.add_subplot()
        count = max(len(values), 1)
        width = 0.8 / count
        positions = range(len(categories))
        for index, (name, heights) in enumerate(values.items()):
            offset = (index - (count - 1) / 2) * width
            ax.bar([p + offset for p in positions], list(heights), width, label=name)
        ax.set_xticks(list(positions), list(categories))
        if label_rotation:
            ax.tick_params(axis="x", labelrotation=label_rotation)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        ax.set_title(title)
        ax.set_ylabel(y_label)
        if len(values) > 1:
            ax.legend(frameon=False)
        return _render(fig, title, fmt)


def heatmap(
    matrix: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    title: str,
    row_title: str = "from",
    column_title: str = "to",
    value_format: str = "{:.2f}",
    fmt: Format = "svg",
    size: tuple[float, float] = (5.5, 4.5),
) -> str | bytes:
    """A square matrix with its values written in the cells (e.g. grade transitions)."""
    with plt.rc_context(_STYLE):
        fig = _figure(*size)
        ax = fig.add_subplot()
        ax.imshow(matrix, cmap="Blues", vmin=0)
        ax.set_xticks(range(len(labels)), list(labels))
        ax.set_yticks(range(len(labels)), list(labels))
        ax.set_xlabel(column_title)
        ax.set_ylabel(row_title)
        peak = max((max(row) for row in matrix if row), default=0.0) or 1.0
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                colour = "white" if value > peak * 0.6 else "black"
                ax.text(
                    j,
                    i,
                    value_format.format(value),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        ax.set_title(title)
        return _render(fig, title, fmt)
