"""The pages' line charts: value ticks at an even, round step (not 79, 77, 76, 74, 72), the
last month's label inside the picture, and the first point's label clear of the value axis."""

from __future__ import annotations

import re

from flask import Flask

from app.web import nice_scale

CHAR_WIDTH = 13 * 0.62  # the chart-label font (13 px), a digit or hyphen at most this wide


def render(app: Flask, labels: list[str], values: list[float], point_labels: list[str] | None = None,
           lo: float | None = None, hi: float | None = None) -> str:
    with app.test_request_context():
        template = app.jinja_env.from_string(
            "{% from '_ui.html' import lines %}{{ lines('t', labels, [('s', values)], lo, hi, point_labels) }}")
        return template.render(labels=labels, values=values, point_labels=point_labels, lo=lo, hi=hi)


def test_ticks_fall_on_a_round_even_step() -> None:
    scale = nice_scale([79, 77, 76, 74, 72])
    steps = {round(b - a, 9) for a, b in zip(scale["ticks"], scale["ticks"][1:], strict=False)}
    assert len(steps) == 1 and steps.pop() in (1, 2, 2.5, 5)
    assert scale["lo"] <= 72 and scale["hi"] >= 79 and all(float(t).is_integer() for t in scale["ticks"])
    assert nice_scale([3], 0, 100)["ticks"] == [0, 25, 50, 75, 100]


def test_the_axis_labels_are_even_and_the_labels_stay_inside(app: Flask) -> None:
    months = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]
    svg = render(app, months, [79 - (i % 5) * 1.7 for i in range(len(months))])
    axis = [float(v) for v in re.findall(r'text-anchor="end" class="chart-label">([\d.]+)</text>', svg)]
    gaps = {round(b - a, 6) for a, b in zip(axis, axis[1:], strict=False)}
    assert len(axis) >= 3 and len(gaps) == 1, axis
    width = float(re.search(r'viewBox="0 0 (\d+)', svg).group(1))  # type: ignore[union-attr]
    for x, label in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" class="chart-label">([^<]+)</text>',
                               svg):
        assert float(x) + len(label) * CHAR_WIDTH / 2 <= width, (label, x)
    assert "2026-11" in svg  # the last month is labelled


def test_the_first_points_label_clears_the_value_axis(app: Flask) -> None:
    svg = render(app, ["2026-01-31", "2026-02-28"], [92.0, 95.0], ["AAA", "AAA"], 0, 100)
    axis_right = max(float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end"', svg))
    first = min(float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" class="chart-value"',
                                             svg))
    assert first - 3 * CHAR_WIDTH / 2 > axis_right + 2  # "AAA" centred on the point starts right of "100"
