"""Charts are deterministic, accessible inline SVG (or PNG for PDFs)."""

from __future__ import annotations

from datetime import date

from socialcredit import charts


def test_line_chart_is_inline_svg_with_a_label_and_text_kept_as_text() -> None:
    svg = charts.line_chart(
        {"rongcheng": [(date(2024, 1, 1), 1000.0), (date(2025, 6, 1), 950.0)]},
        title="Score <over> time",
        bands=[(960, 1030, "A"), (850, 960, "B")],
        step=True,
    )
    assert isinstance(svg, str)
    assert svg.startswith('<svg role="img" aria-label="Score &lt;over&gt; time"')
    assert "<?xml" not in svg
    assert ">Score &lt;over&gt; time<" in svg  # the title is text, not glyph paths


def test_charts_are_deterministic() -> None:
    def draw() -> str | bytes:
        return charts.bar_chart(
            ["AAA", "A", "D"], {"now": [1, 5, 2], "what-if": [2, 4, 2]}, title="Grades"
        )

    assert draw() == draw()


def test_heatmap_and_png() -> None:
    svg = charts.heatmap([[0.9, 0.1], [0.3, 0.7]], ["A", "D"], title="Transitions")
    assert "0.90" in str(svg)
    png = charts.line_chart({"s": [(0, 1.0), (1, 2.0)]}, title="png", fmt="png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
