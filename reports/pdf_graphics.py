"""The report's drawings: the grade gauge, the dimension bars, the grade history chart and
the verification QR code."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from reportlab import rl_config
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
)

FONT = "WQYMicroHei"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",  # Arch
)
GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
GRADE_COLOURS = {"AAA": "#1b7f3b", "AA": "#2e9b4f", "A": "#6db33f", "BBB": "#b7c72d", "BB": "#e0b02a",
                 "B": "#e58a25", "CCC": "#d9541e", "CC": "#c23b22", "C": "#8e1b1b"}
NAVY = colors.HexColor("#12355b")
GRID = colors.HexColor("#b8c4d0")
SHADE = colors.HexColor("#eef3f8")
CN_NUMERALS = "一二三四五六七八九十"
LONG_REPORT_RECORDS = 30  # more records than this (or more than 4 sections): a table of contents

rl_config.shapeChecking = 0  # no attribute validation on every chart shape (a third of the time)

_font_lock = threading.Lock()
_font_ready = False


# --- graphics --------------------------------------------------------------------------------

def grade_gauge(grade: str | None, score: str | None, width: float = 160 * mm) -> Drawing:
    """The nine grades as a coloured bar, the firm's grade marked."""
    h = 22 * mm
    d = Drawing(width, h)
    seg = width / len(GRADES)
    for i, g in enumerate(GRADES):
        current = g == grade
        d.add(Rect(i * seg, 6 * mm, seg - 1, 8 * mm, fillColor=colors.HexColor(GRADE_COLOURS[g]),
                   strokeColor=NAVY if current else None, strokeWidth=2 if current else 0,
                   fillOpacity=1 if current else 0.45))
        d.add(String(i * seg + seg / 2, 8.6 * mm, g, fontName=FONT, fontSize=9 if current else 8,
                     textAnchor="middle", fillColor=colors.white))
        if current:
            x = i * seg + seg / 2
            d.add(PolyLine([x - 4, 5.5 * mm, x, 4 * mm, x + 4, 5.5 * mm], strokeColor=NAVY, strokeWidth=1.5))
            anchor = "start" if i == 0 else "end" if i == len(GRADES) - 1 else "middle"
            tx = i * seg if i == 0 else (i + 1) * seg if i == len(GRADES) - 1 else x
            d.add(String(tx, 1 * mm, f"当前等级 {g}（{score} 分）", fontName=FONT, fontSize=8, textAnchor=anchor,
                         fillColor=NAVY))
    if grade not in GRADES:  # NR: no grade on the scale
        d.add(String(width / 2, 1 * mm, "不予评级（信息不足）：现有信用信息不足以评定等级", fontName=FONT, fontSize=8,
                     textAnchor="middle", fillColor=NAVY))
    d.add(String(0, 16.5 * mm, "信用好", fontName=FONT, fontSize=7, fillColor=colors.grey))
    d.add(String(width, 16.5 * mm, "信用差", fontName=FONT, fontSize=7, textAnchor="end", fillColor=colors.grey))
    return d


def dimension_bars(dimensions: dict[str, str], width: float = 160 * mm) -> Drawing:
    labels = (("willingness", "守信意愿"), ("capability", "守信能力"), ("performance", "守信表现"))
    row = 7 * mm
    d = Drawing(width, row * len(labels))
    bar_x, bar_w = 24 * mm, width - 44 * mm
    for i, (key, label) in enumerate(labels):
        y = (len(labels) - 1 - i) * row + 1.5 * mm
        raw = dimensions.get(key)
        value = float(raw or 0)
        d.add(String(0, y + 1, label, fontName=FONT, fontSize=8.5))
        d.add(Rect(bar_x, y, bar_w, 4 * mm, fillColor=SHADE, strokeColor=None))
        d.add(Rect(bar_x, y, bar_w * max(0.0, min(value, 100.0)) / 100, 4 * mm, fillColor=NAVY, strokeColor=None))
        d.add(String(bar_x + bar_w + 3 * mm, y + 1, "—" if raw is None else f"{value:.1f}", fontName=FONT,
                     fontSize=8.5))
    return d


def history_chart(history: list[dict[str, Any]], width: float = 160 * mm) -> Drawing:
    """Score over time, each point labelled with its grade."""
    h = 42 * mm
    d = Drawing(width, h)
    left, bottom, top = 12 * mm, 8 * mm, h - 4 * mm
    plot_w = width - left - 6 * mm
    for v in (0, 20, 40, 60, 80, 100):
        y = bottom + (top - bottom) * v / 100
        d.add(Line(left, y, left + plot_w, y, strokeColor=GRID, strokeWidth=0.3))
        d.add(String(left - 2 * mm, y - 2.5, str(v), fontName=FONT, fontSize=6.5, textAnchor="end"))
    points = [p for p in history if p["score"] is not None][-12:]  # NR has no score to plot
    if not points:
        return d
    step = plot_w / max(1, len(points) - 1) if len(points) > 1 else 0
    xy: list[float] = []
    for i, p in enumerate(points):
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        y = bottom + (top - bottom) * float(p["score"]) / 100
        xy += [x, y]
        d.add(Rect(x - 1.5, y - 1.5, 3, 3, fillColor=colors.HexColor(GRADE_COLOURS.get(p["grade"], "#12355b")),
                   strokeColor=None))
        d.add(String(x, y + 2.5 * mm, p["grade"], fontName=FONT, fontSize=7, textAnchor="middle", fillColor=NAVY))
        d.add(String(x, 2 * mm, p["as_of"], fontName=FONT, fontSize=6.5, textAnchor="middle"))
    if len(xy) >= 4:
        d.add(PolyLine(xy, strokeColor=NAVY, strokeWidth=1))
    return d


class QrFlowable(Flowable):
    """A QR code drawn straight onto the canvas as one path (far cheaper than one shape
    per module)."""

    def __init__(self, url: str, size: float = 30 * mm) -> None:
        super().__init__()
        qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        qr.addData(url)
        qr.make()
        self.modules = qr.modules
        self.size = size

    def wrap(self, *_: Any) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        n = len(self.modules)
        box = self.size / (n + 8)  # a quiet zone of four modules on each side
        path = self.canv.beginPath()
        for r, row in enumerate(self.modules):
            c = 0
            for dark, run in itertools.groupby(bool(m) for m in row):
                count = len(list(run))
                if dark:
                    path.rect((c + 4) * box, self.size - (r + 5) * box, count * box, box)
                c += count
        self.canv.setFillColor(colors.black)
        self.canv.drawPath(path, stroke=0, fill=1)


