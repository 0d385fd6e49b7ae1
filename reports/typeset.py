"""Line breaking for Chinese text, as the report's tables and paragraphs need it.

Chinese text may break between any two characters, except:

- inside a unit that reads as one: a date or a date and time (``2024-08-28 13:05``), a number
  or an amount with its unit (``2,325,374.74 元``, ``12.50 万元``, ``36 期``), a run of
  Latin letters, digits and ASCII signs (a USCC, a report, contract or certificate number,
  an address, a word), a document or case number (``京能监许可〔2022〕825号``,
  ``罚〔2026〕236号``, ``(2024)京0108执1816号``), and a short label with the number it
  introduces (``金额 2,325,374.74 元``, ``至 2027-08-28``);
- before closing punctuation or after opening punctuation (避头尾: no line starts with
  ，。、；：？！）》」』〕】”’% and none ends with （《「『〔【“‘).

A unit longer than a whole line is still broken, as a last resort (a long address after a
``/``, ``?``, ``&`` or ``=`` where it can).  :func:`wrap` breaks a plain string (a table
cell); :class:`Paragraph` is reportlab's paragraph breaking its lines by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import paragraph as rl_paragraph

# 避头尾: characters that may not start a line, and those that may not end one.
CLOSING = frozenset("，。、；：？！）》」』〕】〉］｝”’％…‥" ",.;:?!)]}%")
OPENING = frozenset("（《「『〔【〈［｛“‘" "([{￥$")
_UNBROKEN_PAIRS = frozenset("—…‥")  # a pair of these (——, ……) is one sign
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT_SIGNS = "万元|亿元|元|千瓦时|千瓦|兆瓦|kWh|个月|年度|年|月|日|天|期|条|项|次|家|人|分|号|页|倍|％|%"
_UNITS = (
    # a document or case number: issuer, year in brackets, number, 号
    re.compile(rf"[{_HAN}]{{0,8}}[〔［\[(（]\d{{4}}[〕］\])）][{_HAN}A-Za-z0-9\-]{{0,20}}?号"),
    re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?"),  # a date and time
    re.compile(rf"[-+]?\d[\d,]*(?:\.\d+)? ?(?:{_UNIT_SIGNS})"),  # a number and its unit
    re.compile(r"[!-~]+"),  # a run of ASCII signs: a code, a number, a date, an address, a word
)
# A short label (a word of at most four characters after a separator) and the number it
# introduces: kept on one line unless they do not fit on one together.
_LABELLED = re.compile(rf"(?<![{_HAN}])[{_HAN}]{{1,4}} [-+]?\d")
NO, LAST_RESORT, YES = 0, 1, 2  # may a line break here?
_SOFT_IN_UNITS = frozenset("/?&=")  # where a unit longer than a line breaks best: after these
FUZZ = 1e-6


def break_points(text: str) -> list[int]:
    """``ok[i]``: whether a line may break before ``text[i]``: :data:`YES`, :data:`NO`, or
    :data:`LAST_RESORT` between a label and its number (``ok[0]`` and ``ok[len]`` are NO: no
    line is empty)."""
    n = len(text)
    ok = [YES] * (n + 1)
    ok[0] = ok[n] = NO
    for m in _LABELLED.finditer(text):
        for i in range(m.start() + 1, m.end() - 1):
            ok[i] = NO
        ok[m.end() - 1] = LAST_RESORT  # before the number
    for pattern in _UNITS:
        for m in pattern.finditer(text):
            for i in range(m.start() + 1, m.end()):
                ok[i] = NO
    for i in range(1, n):
        before, ch = text[i - 1], text[i]
        if (ch in CLOSING or before in OPENING or ch == " "
                or (ch in _UNBROKEN_PAIRS and before == ch)):
            ok[i] = NO
    return ok


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _last_resort(text: str, start: int, end: int) -> int:
    """Where to break a unit that does not fit a whole line, ``text[start:end]`` being what
    fits: in the line's second half after a ``/``, ``?``, ``&`` or ``=``, else before an
    opening bracket, else not between two Latin letters or digits; failing all that, at the last
    character that fits.  Never before closing nor after opening punctuation when that can
    be avoided."""
    def kinsoku_ok(i: int) -> bool:
        return text[i] not in CLOSING and text[i - 1] not in OPENING

    half = start + (end - start) // 2
    for better in (lambda i: text[i - 1] in _SOFT_IN_UNITS, lambda i: text[i] in OPENING,
                   lambda i: not (_latin(text[i - 1]) and _latin(text[i]))):
        for i in range(end, half, -1):
            if better(i) and kinsoku_ok(i):
                return i
    return next((i for i in range(end, start, -1) if kinsoku_ok(i)), end)


def plan_lines(text: str, widths: Sequence[float], limits: Sequence[float],
               forced: frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """The lines of ``text`` as spans ``(start, end)``: each as full as the line's limit
    allows (``limits[k]`` for line k, the last for the rest), broken only where
    :func:`break_points` allows, except a unit longer than a line.  ``widths[i]`` is
    ``text[i]``'s width; a line must end before each index in ``forced``.  Spaces may hang
    past the limit; a line's trailing spaces are the caller's to trim, and a new line's
    leading spaces are skipped."""
    n = len(text)
    ok = break_points(text)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        limit = limits[min(len(spans), len(limits) - 1)]
        used, last, fallback, i, end = 0.0, -1, -1, start, n
        while i < n:
            if i > start:
                if i in forced:
                    end = i
                    break
                if ok[i] == YES:
                    last = i
                elif ok[i] == LAST_RESORT:
                    fallback = i
            ch = text[i]
            if i > start and ch != " " and used + widths[i] > limit + FUZZ:
                end = last if last > start else fallback if fallback > start else _last_resort(text, start, i)
                break
            used += widths[i]
            i += 1
        spans.append((start, end))
        start = end
        while start < n and text[start] == " " and start not in forced:
            start += 1
    return spans


_WIDTHS: dict[tuple[str, str], float] = {}


def char_width(ch: str, font: str) -> float:
    """A character's advance in ``font`` at size 1."""
    w = _WIDTHS.get((font, ch))
    if w is None:
        w = _WIDTHS[(font, ch)] = pdfmetrics.stringWidth(ch, font, 1000) / 1000
    return w


def wrap(text: str, width: float, font: str, size: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points at ``size``."""
    widths = [char_width(ch, font) * size for ch in text]
    if sum(widths) <= width + FUZZ:
        return [text]  # most cells: one line
    return [text[a:b].rstrip(" ") for a, b in plan_lines(text, widths, [width])] or [""]


class Paragraph(rl_paragraph.Paragraph):
    """reportlab's paragraph, its lines broken by the rules above (with ``wordWrap="CJK"``;
    reportlab's own CJK breaking splits numbers, dates and words, and starts lines with
    closing brackets)."""

    def breakLinesCJK(self, maxWidths: Any) -> Any:  # noqa: N802 (reportlab's name)
        if not isinstance(maxWidths, list | tuple):
            maxWidths = [maxWidths]  # noqa: N806
        if hasattr(self, "blPara") and getattr(self, "_splitpara", False):
            return self.blPara  # a part of a split paragraph keeps its lines
        self.height = 0
        style = self.style
        if not self.frags:
            return rl_paragraph.ParaLines(kind=0, fontSize=style.fontSize, fontName=style.fontName,
                                          textColor=style.textColor, lines=[], ascent=style.fontSize,
                                          descent=-0.2 * style.fontSize)
        auto_leading = getattr(self, "autoLeading", getattr(style, "autoLeading", ""))
        return _break_frags(self.frags, list(maxWidths), auto_leading not in ("", "off"))


def _break_frags(frags: list[Any], max_widths: list[float], calc_bounds: bool) -> Any:
    """reportlab's ``cjkFragSplit`` (one glyph per item, each knowing its fragment), the
    lines chosen by :func:`plan_lines`."""
    glyphs: list[Any] = []
    for f in frags:
        text = f.text.decode("utf8") if isinstance(f.text, bytes) else f.text
        if text:
            glyphs.extend(rl_paragraph.cjkU(t, f, "utf8") for t in text)
        else:  # a <br/>, an image
            glyphs.append(rl_paragraph.cjkU(text, f, "utf8"))
    chars = "".join(g or ("\n" if hasattr(g.frag, "lineBreak") else "\ufffc") for g in glyphs)
    widths = [_width(g, max_widths[0]) for g in glyphs]
    forced = frozenset(i + 1 for i, ch in enumerate(chars) if ch == "\n")
    lines = []
    for k, (a, b) in enumerate(plan_lines(chars, widths, max_widths, forced)):
        while b > a + 1 and chars[b - 1] == " ":
            b -= 1
        max_width = max_widths[min(k, len(max_widths) - 1)]
        used = sum(widths[a:b])
        lines.append(rl_paragraph.makeCJKParaLine(glyphs[a:b], max_width, used, max_width - used,
                                                  chars[b - 1] == "\n", calc_bounds))
    return rl_paragraph.ParaLines(kind=1, lines=lines)


def _width(glyph: Any, max_width: float) -> float:
    w = glyph.width
    if hasattr(w, "normalizedValue"):  # an image's width given as a share of the line
        w._normalizer = max_width
        w = w.normalizedValue(max_width)
    return float(w)
