"""The report's drawings: the grade gauge, the dimension bars, the grade history chart, the
verification QR code, and text drawn as glyph outlines (the watermark: shapes, not text, so
text extraction and search return the report's text and nothing else)."""

from __future__ import annotations

import itertools
import struct
import threading
from typing import Any

from reportlab import rl_config
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import FILL_NON_ZERO
from reportlab.pdfgen.pathobject import PDFPathObject
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
    """Score over time, each point labelled with its grade.  The points stand clear of the
    axis (a date label's half width in from each end) and below the top (a grade label's
    height), so no label touches the axis labels or another drawing."""
    h = 44 * mm
    d = Drawing(width, h)
    left, bottom, top = 12 * mm, 8 * mm, h - 7 * mm
    plot_w = width - left - 2 * mm
    for v in (0, 20, 40, 60, 80, 100):
        y = bottom + (top - bottom) * v / 100
        d.add(Line(left, y, left + plot_w, y, strokeColor=GRID, strokeWidth=0.3))
        d.add(String(left - 2 * mm, y - 2.5, str(v), fontName=FONT, fontSize=6.5, textAnchor="end"))
    points = [p for p in history if p["score"] is not None][-12:]  # NR has no score to plot
    if not points:
        return d
    inset = max(pdfmetrics.stringWidth(p["as_of"], FONT, 6.5) for p in points) / 2 + 1 * mm
    step = (plot_w - 2 * inset) / (len(points) - 1) if len(points) > 1 else 0
    xy: list[float] = []
    for i, p in enumerate(points):
        x = left + (inset + i * step if len(points) > 1 else plot_w / 2)
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




# --- text as glyph outlines ------------------------------------------------------------------

_Contour = list[tuple[float, float, bool]]  # points in font units, on the curve or off it
_glyph_paths: dict[tuple[str, str], str] = {}  # a glyph's outline as PDF path operators, in font units


def _glyph_contours(glyf: bytes, loca: list[int], gid: int, depth: int = 0) -> list[_Contour]:
    """A TrueType glyph's contours, read from the font's ``glyf`` table (simple glyphs, and
    composite ones as their components moved and scaled)."""
    start, end = loca[gid], loca[gid + 1]
    if end <= start or depth > 8:
        return []  # no outline (a space)
    (n,) = struct.unpack_from(">h", glyf, start)
    p = start + 10
    if n >= 0:
        ends = struct.unpack_from(f">{n}H", glyf, p)
        p += 2 * n
        (skip,) = struct.unpack_from(">H", glyf, p)
        p += 2 + skip  # the hinting instructions
        count = ends[-1] + 1 if n else 0
        flags: list[int] = []
        while len(flags) < count:
            flag = glyf[p]
            p += 1
            flags.append(flag)
            if flag & 8:  # repeated
                flags += [flag] * glyf[p]
                p += 1
        coords: list[list[int]] = []
        for short, same in ((2, 16), (4, 32)):  # x, then y
            values, v = [], 0
            for flag in flags[:count]:
                if flag & short:
                    v += glyf[p] if flag & same else -glyf[p]
                    p += 1
                elif not flag & same:
                    v += struct.unpack_from(">h", glyf, p)[0]
                    p += 2
                values.append(v)
            coords.append(values)
        contours: list[_Contour] = []
        first = 0
        for last in ends:
            contours.append([(float(coords[0][k]), float(coords[1][k]), bool(flags[k] & 1))
                             for k in range(first, last + 1)])
            first = last + 1
        return contours
    contours = []
    more = True
    while more:
        flag, component = struct.unpack_from(">HH", glyf, p)
        p += 4
        dx, dy = struct.unpack_from(">hh" if flag & 1 else ">bb", glyf, p)
        p += 4 if flag & 1 else 2
        if not flag & 2:
            dx = dy = 0  # components placed by matching points: rare in CJK fonts, not needed here
        a, b, c, dd = 1.0, 0.0, 0.0, 1.0
        if flag & 8:
            a = dd = struct.unpack_from(">h", glyf, p)[0] / 16384
            p += 2
        elif flag & 0x40:
            a, dd = (v / 16384 for v in struct.unpack_from(">hh", glyf, p))
            p += 4
        elif flag & 0x80:
            a, b, c, dd = (v / 16384 for v in struct.unpack_from(">hhhh", glyf, p))
            p += 8
        contours += [[(a * x + c * y + dx, b * x + dd * y + dy, on) for x, y, on in contour]
                     for contour in _glyph_contours(glyf, loca, component, depth + 1)]
        more = bool(flag & 0x20)
    return contours


def _glyph_path(ch: str, font: str) -> str:
    """A character's glyph as PDF path operators in font units ("" for a blank one)."""
    key = (font, ch)
    code = _glyph_paths.get(key)
    if code is None:
        face = pdfmetrics.getFont(font).face
        path = PDFPathObject()
        for contour in _glyph_contours(face.get_table("glyf"), face.glyphPos, face.charToGlyph.get(ord(ch), 0)):
            _add_contour(path, contour)
        code = _glyph_paths[key] = path.getCode()
    return code


def draw_text_outline(c: Any, text: str, x: float, y: float, size: float, font: str = FONT,
                      anchor: str = "start") -> None:
    """Draw ``text`` on canvas ``c`` as its glyphs' outlines (filled shapes, no text), in the
    current fill colour, its baseline starting at (x, y) — or centred on x with
    ``anchor="middle"``.  Each glyph's path is built once per process."""
    if anchor == "middle":
        x -= pdfmetrics.stringWidth(text, font, size) / 2
    units = pdfmetrics.getFont(font).face.unitsPerEm
    c.saveState()
    c.translate(x, y)
    c.scale(size / units, size / units)
    for ch in text:
        code = _glyph_path(ch, font)
        if code:
            c.drawPath(PDFPathObject(code=[code]), stroke=0, fill=1, fillMode=FILL_NON_ZERO)
        c.translate(pdfmetrics.stringWidth(ch, font, units), 0)
    c.restoreState()


def _add_contour(path: PDFPathObject, points: _Contour) -> None:
    """One closed TrueType contour (quadratic B-spline) as lines and cubic curves."""
    if not points:
        return
    if not points[0][2]:  # start on the curve: at an on-curve point, or between two off-curve ones
        k = next((i for i, pt in enumerate(points) if pt[2]), None)
        if k is None:
            (x0, y0, _), (x1, y1, _) = points[-1], points[0]
            points = [((x0 + x1) / 2, (y0 + y1) / 2, True), *points]
        else:
            points = points[k:] + points[:k]
    cx, cy = points[0][0], points[0][1]
    path.moveTo(cx, cy)
    control: tuple[float, float] | None = None

    def quad(qx: float, qy: float, ex: float, ey: float) -> None:
        path.curveTo(cx + 2 / 3 * (qx - cx), cy + 2 / 3 * (qy - cy), ex + 2 / 3 * (qx - ex), ey + 2 / 3 * (qy - ey),
                     ex, ey)

    for px, py, on in [*points[1:], points[0]]:
        if on:
            if control is None:
                path.lineTo(px, py)
            else:
                quad(*control, px, py)
                control = None
            cx, cy = px, py
        elif control is None:
            control = (px, py)
        else:
            mx, my = (control[0] + px) / 2, (control[1] + py) / 2
            quad(*control, mx, my)
            cx, cy, control = mx, my, (px, py)
    path.close()
