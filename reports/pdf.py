"""The PDF of an issued report, rendered from its frozen JSON with reportlab.

The Chinese font is WenQuanYi Micro Hei (TrueType, Apache-2.0), embedded in every PDF —
never ``STSong-Light``, which viewers without Chinese fonts show as empty boxes.  It is
registered once per process.  One layout pass: the running header and footer ("第 x 页 /
共 y 页"), the watermark (recipient and time) and the contents' page numbers are drawn when
the document is saved, once every page is known, so no second layout pass is needed.

Text is broken by Chinese rules (``reports.typeset``: no break inside a date, amount, code
or document number, no closing punctuation at a line's start); amounts are written by one
helper (:func:`money`); the watermark is drawn as glyph outlines, once per document as a
form marked as an artifact, so copying or extracting the text (``pdftotext``) gives the
report's text and nothing else.  Rendered PDFs never change; :func:`cached_pdf` keeps them
on disk per report.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reportlab import rl_config
from reportlab.graphics import shapes
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.core import clock
from app.core.errors import ServiceUnavailable
from app.oauth.scopes import REPORT_SECTIONS
from reports.bidding import NO_CERTIFICATE, SECTION_TITLES
from reports.describe import POLARITY_LABELS, SEVERITY_LABELS, STATUS_LABELS, describe
from reports.pdf_graphics import (
    QrFlowable,
    dimension_bars,
    draw_text_outline,
    grade_gauge,
    history_chart,
)
from reports.sections import RECORD_SECTIONS
from reports.typeset import Paragraph, wrap

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
WATERMARK = "pc-watermark"  # the form each page draws its watermark with


def _watermark_form(c: pdfcanvas.Canvas, text: str) -> None:
    """Define the watermark (``text`` four times, diagonally) as a form of glyph outlines:
    shapes, not text, drawn in the colour and opacity of the page that shows it.  The line
    is a form of its own, drawn four times."""
    w, h = A4
    c.beginForm(f"{WATERMARK}-line", -w, -h, w, h)
    draw_text_outline(c, text, 0, 0, 15, FONT, anchor="middle")
    c.endForm()
    c.beginForm(WATERMARK)
    c.translate(w / 2, h / 2)
    c.rotate(35)
    for dy in (-230, -80, 70, 220):
        c.saveState()
        c.translate(0, dy)
        c.doForm(f"{WATERMARK}-line")
        c.restoreState()
    c.endForm()


def _page_frame(c: pdfcanvas.Canvas, running_head: str | None, report_no: str) -> None:
    """What every page of a report carries: the diagonal watermark (an artifact, not
    content) and, past the first page, the running head (title left, number right, a rule
    under them).  Leaves the canvas in the footer's state (small grey type, saved: the
    caller restores it)."""
    w, h = A4
    c.saveState()
    c.setFillColor(NAVY)
    c.setFillAlpha(0.07)
    c.addLiteral("/Artifact <</Type /Pagination /Subtype /Watermark>> BDC")
    c.doForm(WATERMARK)
    c.addLiteral("EMC")
    c.restoreState()
    c.saveState()
    c.setFont(FONT, 7.5)
    c.setFillColor(colors.HexColor("#555555"))
    if running_head is not None:
        c.drawString(18 * mm, h - 12 * mm, running_head)
        c.drawRightString(w - 18 * mm, h - 12 * mm, f"报告编号 {report_no}")
        c.setStrokeColor(GRID)
        c.line(18 * mm, h - 14 * mm, w - 18 * mm, h - 14 * mm)


def font_path() -> str:
    configured = os.environ.get("PC_PDF_FONT")
    for path in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if path and Path(path).is_file():
            return path
    raise ServiceUnavailable(
        "生成 PDF 所需的中文字体（文泉驿微米黑 WenQuanYi Micro Hei）未安装：请安装 Debian 软件包 "
        "fonts-wqy-microhei，或以 PC_PDF_FONT 指定 wqy-microhei.ttc 的路径", code="pdf_font_missing")


def register_font() -> str:
    """Register the embedded CJK font once per process."""
    global _font_ready
    if not _font_ready:
        with _font_lock:
            if not _font_ready:
                pdfmetrics.registerFont(TTFont(FONT, font_path(), subfontIndex=0))
                # Charts start from reportlab's default state, whose font is the non-embedded
                # Helvetica: make ours the default so no PDF of ours references it.
                shapes.STATE_DEFAULTS["fontName"] = FONT
                _font_ready = True
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=11),
        "h1": ParagraphStyle("h1", parent=base, fontSize=14, leading=20, textColor=NAVY, spaceBefore=8,
                             spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=16, textColor=NAVY, spaceBefore=6,
                             spaceAfter=4),
        "title": ParagraphStyle("title", parent=base, fontSize=26, leading=34, alignment=TA_CENTER,
                                textColor=NAVY),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=13, leading=20, alignment=TA_CENTER),
        "note": ParagraphStyle("note", parent=base, fontSize=8, leading=12, textColor=colors.HexColor("#444444")),
    }


def _esc(value: Any) -> str:
    text = "—" if value in (None, "") else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CELL_FONT_SIZE = 8
CELL_PADDING = 6  # what wrap_text leaves free of a width by default, points
TABLE_PADDING = 12  # left + right padding of a cell of our tables (reportlab's 6 + 6)


def wrap_text(text: str, width: float, size: float = CELL_FONT_SIZE, padding: float = CELL_PADDING) -> str:
    """Break ``text`` into lines that fit ``width`` less ``padding`` (points) at ``size``, by
    the rules of Chinese typesetting (``reports.typeset``); a plain multi-line string for a
    table cell.  Far cheaper than a Paragraph per cell, which long tables lay out again at
    every page split."""
    if not text:
        return "—"
    return "\n".join(wrap(text, width - padding, FONT, size))


def _cell(text: Any, width: float) -> str:
    """A plain cell of one of our tables, broken to its column's width."""
    return wrap_text("" if text is None else str(text), width, padding=TABLE_PADDING)


def amount(value: Any) -> str:
    """An amount as the report writes every amount: thousands separated, two decimals or as
    many as it was given (``2,325,374.74``, ``0.125`` 万元 of a fine); what is not a number
    stays as it is."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    places = max(2, -int(number.as_tuple().exponent))
    return f"{number:,.{places}f}"


def quantity(value: Any) -> str:
    """A quantity (kilowatt-hours), thousands separated, its decimals as given."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:,f}" if number.is_finite() else str(value)


def money(value: Any, unit: str = "元") -> str:
    """An amount with its unit (``2,325,374.74 元``); "—" when there is none."""
    return "—" if value in (None, "") else f"{amount(value)} {unit}"


def _wan(value: str | None) -> str:
    """An amount in yuan shown in 万元, as registration documents state capital."""
    return "—" if not value else money((Decimal(value) / 10000).quantize(Decimal("0.01")), "万元")


# The payload members that hold amounts (``reports.describe`` adds their unit: 元, or 万元 for
# a penalty's fine) and quantities, written as every amount of the report is.
AMOUNT_MEMBERS = ("amount", "amount_due", "arrears_amount", "breach_amount", "direct_loss", "fine_amount",
                  "penalty_amount")
QUANTITY_MEMBERS = ("consumption_kwh",)


def _describe(record: dict[str, Any]) -> str:
    """A record's line (``reports.describe``), its amounts written by :func:`amount`."""
    payload = record.get("payload")
    if isinstance(payload, dict):
        payload = dict(payload)
        for key in AMOUNT_MEMBERS:
            if payload.get(key):
                payload[key] = amount(payload[key])
        for key in QUANTITY_MEMBERS:
            if payload.get(key):
                payload[key] = quantity(payload[key])
        record = {**record, "payload": payload}
    return describe(record)


def _local(iso: str | None) -> str:
    if not iso:
        return "—"
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M")


# --- document --------------------------------------------------------------------------------

class _Anchor(Flowable):
    """A zero-size marker: where a section starts (for the contents and the PDF outline)."""

    def __init__(self, key: str, title: str) -> None:
        super().__init__()
        self.key, self.title = key, title

    def wrap(self, *_: Any) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.canv.bookmarkPage(self.key)
        self.canv.addOutlineEntry(self.title, self.key, level=0)


class _Doc(BaseDocTemplate):
    def __init__(self, buf: io.BytesIO, **kw: Any) -> None:
        super().__init__(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=22 * mm,
                         bottomMargin=20 * mm, initialFontName=FONT, **kw)  # no stray Helvetica
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="cover", frames=[frame]), PageTemplate(id="body", frames=[frame])])
        self.anchors: list[tuple[str, str, int]] = []

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, _Anchor):
            self.anchors.append((flowable.key, flowable.title, self.page))


def _canvas_class(decorate: Callable[[pdfcanvas.Canvas, int, int], None], watermark: str) -> type[pdfcanvas.Canvas]:
    class DeferredCanvas(pdfcanvas.Canvas):
        """Keeps each page until the end, then draws the decorations that need the page
        count (and the contents' page numbers) and writes the pages out; the watermark is
        defined once, as a form every page draws."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            _watermark_form(self, watermark)  # on the blank page after the last: no page's code
            total = len(self._saved)
            for number, state in enumerate(self._saved, start=1):
                self.__dict__.update(state)
                decorate(self, number, total)
                super().showPage()
            super().save()

    return DeferredCanvas


class _Table(Table):
    """A table that does not draw empty cells (reportlab draws an empty string like any other)."""

    def _drawCell(self, cellval: Any, *args: Any) -> None:  # noqa: N802 (reportlab's name)
        if cellval == "":
            return
        super()._drawCell(cellval, *args)


def _header_width(title: str) -> float:
    return pdfmetrics.stringWidth(title, FONT, CELL_FONT_SIZE) + TABLE_PADDING


def _columns(head: list[str], widths: list[float]) -> list[float]:
    """Column widths in which each header fits on one line (a header never wraps): a column
    too narrow for its header takes the room from the widest one."""
    out = list(widths)
    for i, title in enumerate(head):
        short = _header_width(title) - out[i]
        if short > 0:
            widest = max(range(len(out)), key=out.__getitem__)
            out[widest] -= short
            out[i] += short
    return out


def _table(rows: list[list[Any]], widths: list[float], *, header: bool = True, zebra: bool = True) -> Table:
    if header:
        for title, w in zip(rows[0], widths, strict=True):
            if isinstance(title, str) and _header_width(title) > w + 0.01:
                raise ValueError(f"header {title!r} does not fit its column ({w:.1f} pt): size it with _columns")
    table = _Table(rows, colWidths=widths, repeatRows=1 if header else 0, splitByRow=True)
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 8),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
        ("BOX", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), NAVY), ("TEXTCOLOR", (0, 0), (-1, 0), colors.white)]
    if zebra:
        style += [("ROWBACKGROUNDS", (0, 1 if header else 0), (-1, -1), [colors.white, SHADE])]
    table.setStyle(TableStyle(style))
    return table


def _kv(pairs: list[tuple[str, Any]], st: dict[str, ParagraphStyle], width: float) -> Table:
    rows = [[k, Paragraph(_esc(v), st["cell"])] for k, v in pairs]
    t = _table(rows, [32 * mm, width - 32 * mm], header=False, zebra=False)
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), SHADE)]))
    return t


def render_pdf(doc: dict[str, Any], *, digest: str, verify_url: str, kid: str) -> bytes:
    """The PDF of a frozen report document (as stored)."""
    if doc["kind"] == "bidding":
        return render_bidding_pdf(doc, digest=digest, verify_url=verify_url, kid=kid)
    register_font()
    st = _styles()
    buf = io.BytesIO()
    pdf = _Doc(buf, title=f"企业信用报告 {doc['report_no']}", author="PowerCredit 电力征信",
               subject=doc["subject"]["name"], creator="PowerCredit", invariant=1)
    width = pdf.width
    sections: dict[str, Any] = doc["sections"]
    subject, recipient = doc["subject"], doc["recipient"]
    issued = _local(doc["issued_at"])
    evaluation = sections.get("evaluation")
    n_records = sum(len(sections.get(s) or ()) for s in RECORD_SECTIONS)
    with_toc = n_records > LONG_REPORT_RECORDS or len(doc["section_list"]) > 4

    story: list[Flowable] = [NextPageTemplate("body")]
    # Cover.
    story += [Spacer(1, 12 * mm), Paragraph("企业信用报告", st["title"]), Spacer(1, 3 * mm),
              Paragraph(f"（{doc['kind_label']}）", st["subtitle"]), Spacer(1, 12 * mm)]
    cover = [("被查询企业", subject["name"]), ("统一社会信用代码", subject["uscc"]), ("报告编号", doc["report_no"]),
             ("出具时间", f"{issued}（北京时间）"), ("报告使用者", recipient["name"])]
    consent = doc.get("consent")
    if consent:
        cover += [("查询原因", consent["purpose_label"]), ("授权编号", consent["consent_id"])]
    story.append(_kv(cover, st, width))
    story.append(Spacer(1, 8 * mm))
    if evaluation:
        story += [Paragraph("信用等级（PowerCredit 衍生产品）", st["h2"]),
                  grade_gauge(evaluation["grade"], evaluation["score"], width)]
    story.append(Spacer(1, 8 * mm))
    qr = QrFlowable(verify_url)
    verify_text = Paragraph(
        f"报告真伪核验：扫描二维码或访问<br/>{_esc(verify_url)}<br/><br/>报告摘要（SHA-256）：<br/>"
        f"<font size=7>{digest}</font><br/>签名密钥：{_esc(kid)}（Ed25519，公钥见 /.well-known/jwks.json）", st["small"])
    story.append(Table([[qr, verify_text]], colWidths=[34 * mm, width - 34 * mm],
                       style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("FONT", (0, 0), (-1, -1), FONT, 8)])))
    story += [Spacer(1, 6 * mm), Paragraph(_esc(doc["statement"]["notice"]), st["note"])]
    if doc["statement"]["disputed_records"]:
        story.append(Paragraph(f"异议提示：本报告有 {doc['statement']['disputed_records']} 条记录正在异议处理中。"
                               + _esc(doc["statement"]["dispute_notice"]), st["note"]))
    contents = _Contents(len(doc["section_list"]) + 1)
    if with_toc:  # on the cover when they fit there, else atop the next page with the sections following
        story += [KeepTogether([Spacer(1, 4 * mm), Paragraph("目　录", st["h2"]), contents]), _CoverEnd()]
    else:
        story.append(PageBreak())

    titles = {k: v.split("（")[0] for k, v in REPORT_SECTIONS.items()}
    providers = {x["provider"]: x["name"] for x in doc["statement"]["sources"]}
    for number, key in enumerate(doc["section_list"]):
        title = f"{_numeral(number)}、{titles[key]}"
        story += [CondPageBreak(30 * mm), _Anchor(key, title), Paragraph(title, st["h1"])]
        story += _section(key, sections.get(key), st, width, providers)
    story += [CondPageBreak(40 * mm), _Anchor("statement", f"{_numeral(len(doc['section_list']))}、数据说明与声明"),
              Paragraph(f"{_numeral(len(doc['section_list']))}、数据说明与声明", st["h1"])]
    story += _statement(doc, st, width, digest, kid, verify_url)

    def decorate(c: pdfcanvas.Canvas, page: int, total: int) -> None:
        w, h = A4
        _page_frame(c, f"企业信用报告 · {subject['name']}" if page > 1 else None, doc["report_no"])
        c.drawString(18 * mm, 10 * mm, "PowerCredit 电力征信 · 仅供参考")
        number = f"第 {page} 页 / 共 {total} 页"
        c.drawCentredString(w / 2, 10 * mm, number)
        # The recipient beside the page number, or under it when its name is too long for that.
        right = f"{recipient['name']} · {issued}"
        beside = c.stringWidth(right) <= w / 2 - c.stringWidth(number) / 2 - 4 * mm - 18 * mm
        c.drawRightString(w - 18 * mm, 10 * mm if beside else 6.5 * mm, right)
        if page == contents.page:
            contents.fill(c, pdf.anchors)
        c.restoreState()

    pdf.build(story, canvasmaker=_canvas_class(decorate, f"{recipient['name']}  {issued}"))
    return buf.getvalue()


class _CoverEnd(Flowable):
    """The end of the cover: a page break when it comes on the cover, nothing when what
    came before it (the contents) already went on to the next page."""

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        if self.canv.getPageNumber() == 1:
            return avail_width, avail_height + 1  # more than is left: the rest goes to page 2
        return 0, 0

    def split(self, *_: Any) -> list[Flowable]:
        return []

    def draw(self) -> None:
        pass


class _Contents(Flowable):
    """Room for the contents, in two columns, filled in when the document is saved (once
    every section's page is known): on the cover or atop the sections, never a page of its
    own."""

    ROW = 5.6 * mm
    SIZE = 9
    GAP = 10 * mm

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.rows = (entries + 1) // 2
        self.page = 0
        self.top_left = (0.0, 0.0)

    def wrap(self, avail_width: float, *_: Any) -> tuple[float, float]:
        self.width = avail_width
        return avail_width, self.rows * self.ROW

    def draw(self) -> None:
        self.page = self.canv.getPageNumber()
        self.top_left = self.canv.absolutePosition(0, self.rows * self.ROW)

    def fill(self, c: pdfcanvas.Canvas, anchors: list[tuple[str, str, int]]) -> None:
        x0, top = self.top_left
        column = (self.width - self.GAP) / 2
        c.setFillColor(colors.black)
        c.setFont(FONT, self.SIZE)
        for i, (key, title, page) in enumerate(anchors):
            x = x0 + (i // self.rows) * (column + self.GAP)
            y = top - (i % self.rows + 1) * self.ROW + 2
            number = str(page)
            c.drawString(x, y, title)
            c.drawRightString(x + column, y, number)
            c.setStrokeColor(GRID)
            c.setDash(1, 2)
            c.line(x + pdfmetrics.stringWidth(title, FONT, self.SIZE) + 2 * mm, y + 1,
                   x + column - pdfmetrics.stringWidth(number, FONT, self.SIZE) - 2 * mm, y + 1)
            c.setDash()
            c.linkRect("", key, (x, y - 2, x + column, y + self.SIZE), relative=0, thickness=0)


def _numeral(i: int) -> str:
    n = i + 1
    if n <= 10:
        return CN_NUMERALS[n - 1]
    return ("十" if n < 20 else CN_NUMERALS[n // 10 - 1] + "十") + (CN_NUMERALS[n % 10 - 1] if n % 10 else "")


def _none(st: dict[str, ParagraphStyle], text: str = "无记录。") -> list[Flowable]:
    return [Paragraph(text, st["base"]), Spacer(1, 3 * mm)]


def _records_table(records: list[dict[str, Any]], st: dict[str, ParagraphStyle], width: float,
                   providers: dict[str, str]) -> Table:
    """The records, each with its nature (良好/不良/中性), severity (轻微/一般/严重 for a bad
    record, — for the others), source (the provider's name) and status (正常/异议中/已更正)."""
    head = ["日期", "内容", "性质", "程度", "来源", "状态"]
    widths = _columns(head, [20 * mm, width - 20 * mm - 12 * mm - 12 * mm - 32 * mm - 13 * mm, 12 * mm, 12 * mm,
                             32 * mm, 13 * mm])
    rows: list[list[Any]] = [head]
    disputed_rows = []
    for i, r in enumerate(records, start=1):
        if r["disputed"]:
            disputed_rows.append(i)
        cells = [r["occurred_on"], _describe(r), POLARITY_LABELS.get(r["polarity"], r["polarity"]),
                 SEVERITY_LABELS.get(r["severity"] or 0, str(r["severity"])),
                 _source(providers, r["provider"]), STATUS_LABELS.get(r["status"], r["status"])]
        rows.append([_cell(text, w) for text, w in zip(cells, widths, strict=True)])
    table = _table(rows, widths)
    extra = [("TEXTCOLOR", (2, i), (2, i), colors.HexColor("#b3261e")) for i, r in enumerate(records, start=1)
             if r["polarity"] == "bad"]
    extra += [("BACKGROUND", (5, i), (5, i), colors.HexColor("#fde7c8")) for i in disputed_rows]
    if extra:
        table.setStyle(TableStyle(extra))
    return table


def _source(providers: dict[str, str], code: str) -> str:
    """A source by its name (the statement's sources name every provider of the records)."""
    return providers.get(code) or code


UTILITY_MARKS = {"on_time": "按时", "late": "逾期", "arrears": "欠费"}


def _utility_grid(records: list[dict[str, Any]], st: dict[str, ParagraphStyle], width: float,
                  providers: dict[str, str]) -> list[Flowable]:
    """Electricity bills as a payment-history grid (year × month), as credit reports show
    repayment records; the totals above, disputed bills listed in full below."""
    months: dict[int, dict[int, dict[str, Any]]] = {}
    counts = {"on_time": 0, "late": 0, "arrears": 0}
    kwh = Decimal(0)
    for r in records:
        p = r.get("payload") or {}
        try:
            year, month = (int(x) for x in str(p["month"]).split("-")[:2])
        except (KeyError, ValueError):
            continue
        months.setdefault(year, {})[month] = r
        counts[p.get("status", "on_time")] = counts.get(p.get("status", "on_time"), 0) + 1
        kwh += Decimal(str(p.get("consumption_kwh") or 0))
    head = ["年份", *[f"{m}月" for m in range(1, 13)]]
    rows: list[list[Any]] = [head]
    style: list[tuple[Any, ...]] = [("ALIGN", (1, 0), (-1, -1), "CENTER")]
    for i, year in enumerate(sorted(months, reverse=True), start=1):
        row: list[Any] = [str(year)]
        for m in range(1, 13):
            bill = months[year].get(m)
            if bill is None:
                row.append("")
                continue
            status = (bill.get("payload") or {}).get("status", "")
            row.append(UTILITY_MARKS.get(status, status) + ("*" if bill["disputed"] else ""))
            if status == "late":
                style.append(("BACKGROUND", (m, i), (m, i), colors.HexColor("#fde7c8")))
            elif status == "arrears":
                style.append(("BACKGROUND", (m, i), (m, i), colors.HexColor("#f6c9c4")))
        rows.append(row)
    table = _table(rows, [16 * mm] + [(width - 16 * mm) / 12] * 12, zebra=False)
    table.setStyle(TableStyle(style))
    flow: list[Flowable] = [
        Paragraph(f"共 {len(records)} 期电费：按时 {counts['on_time']} 期，逾期 {counts['late']} 期，"
                  f"欠费 {counts['arrears']} 期；用电量合计 {kwh:,.0f} 千瓦时。"
                  + ("带 * 的月份有异议。" if any(r["disputed"] for r in records) else ""), st["base"]),
        Spacer(1, 2 * mm), table, Spacer(1, 3 * mm)]
    disputed = [r for r in records if r["disputed"]]
    if disputed:
        flow += [Paragraph("异议中的电费记录", st["h2"]), _records_table(disputed, st, width, providers),
                 Spacer(1, 3 * mm)]
    return flow


def _section(key: str, data: Any, st: dict[str, ParagraphStyle], width: float,
             providers: dict[str, str]) -> list[Flowable]:
    if key == "identity":
        return [_kv([("企业名称", data["name"]), ("统一社会信用代码", data["uscc"]),
                     ("所属领域", data["segment_label"]), ("注册地", f"{data['region']}（{data['region_code']}）"),
                     ("注册资本", _wan(data["registered_capital"])),
                     ("成立日期", data["founded_on"]), ("登记状态", {"active": "存续", "cancelled": "注销",
                                                             "revoked": "吊销"}.get(data["status"], data["status"]))],
                    st, width), Spacer(1, 3 * mm)]
    if key == "evaluation":
        if not data:
            return _none(st, "该企业尚未进行信用评价。")
        facts = [("信用等级", f"{data['grade']}（{data['grade_label']}）")]
        if data.get("not_rated"):
            facts += [("不予评级原因", data["reason"])]
        else:
            facts += [("综合得分", data["score"]), ("分类监管", data["supervision_label"])]
        if data.get("coverage") is not None:
            facts += [("数据覆盖", f"{float(data['coverage']):.0%}（有数据来源覆盖的评价项在评分卡中的权重占比）")]
        facts += [("评价基准日", data["as_of"]), ("评分卡版本", data["scorecard_version"])]
        flow: list[Flowable] = [
            _kv(facts, st, width),
            Spacer(1, 3 * mm), grade_gauge(data["grade"], data["score"], width), Spacer(1, 2 * mm)]
        if data.get("adverse_factors"):
            widths = _columns(["因素", "说明"], [40 * mm, width - 40 * mm])
            flow += [Paragraph("主要不利因素", st["h2"]),
                     _table([["因素", "说明"]] + [[_cell(a["label"], widths[0]), Paragraph(_esc(a["reason"]), st["cell"])]
                                                 for a in data["adverse_factors"]], widths)]
        if not data.get("not_rated"):
            flow += [KeepTogether([Paragraph("信用电力指数三维度得分", st["h2"]), dimension_bars(data["dimensions"], width)])]
        if data["history"]:
            flow += [KeepTogether([Paragraph("信用等级变化", st["h2"]), history_chart(data["history"], width)])]
        flow += [Paragraph(_esc(data["note"]), st["note"]), Spacer(1, 3 * mm)]
        return flow
    if key == "summary":
        if not data:
            return _none(st)
        head = ["类别", "良好", "不良", "中性", "异议中"]
        widths = _columns(head, [width - 4 * 22 * mm] + [22 * mm] * 4)
        rows = [head] + [
            [_cell(r["category_label"], widths[0]), r["good"], r["bad"], r["neutral"], r["disputed"]] for r in data]
        rows.append(["合计", *(sum(r[k] for r in data) for k in ("good", "bad", "neutral", "disputed"))])
        return [_table(rows, widths), Spacer(1, 3 * mm)]
    if key == "utility" and data:
        return _utility_grid(data, st, width, providers)
    if key in RECORD_SECTIONS or key == "objections":
        if not data:
            return _none(st)
        return [_records_table(data, st, width, providers), Spacer(1, 3 * mm)]
    if key == "lists":
        if not data:
            return _none(st, "未列入红名单、黑名单或重点关注名单。")
        return [_table([["名单"]] + [[_cell(m["label"], width)] for m in data], [width]), Spacer(1, 3 * mm)]
    if key == "query_records":
        if not data:
            return _none(st, "报告期内无查询记录。")
        head = ["查询时间", "查询者", "查询原因", "查询内容"]
        widths = _columns(head, [30 * mm, width - 30 * mm - 34 * mm - 30 * mm, 34 * mm, 30 * mm])
        rows = [head] + [
            [_cell(text, w) for text, w in zip(
                (_local(q["at"]), q["querier"], q["purpose_label"],
                 f"{len(q['sections'])} 个部分" if q["sections"] else "全部"), widths, strict=True)]
            for q in data]
        return [_table(rows, widths), Spacer(1, 3 * mm)]
    return []


def _data_range(rng: dict[str, Any], as_of: str) -> str:
    """The records' time range in words: 全部历史记录，截至报告日 2026-12-07; 2024-01-01 起的记录…"""
    start, end = rng.get("from"), rng.get("to")
    if start and end:
        return f"{start} 至 {end} 发生的记录"
    if start:
        return f"{start} 起发生的记录，截至报告日 {as_of}"
    if end:
        return f"{end} 及以前发生的全部历史记录"
    return f"全部历史记录，截至报告日 {as_of}"


def _sources(sources: list[dict[str, Any]], st: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    """The sources of the records shown, each by its name, with how many records it gave."""
    if not sources:
        return []
    head = ["数据来源", "记录数"]
    widths = _columns(head, [width - 20 * mm, 20 * mm])
    rows = [head] + [[Paragraph(_esc(x["name"] or x["provider"]), st["cell"]), x["records"]] for x in sources]
    return [_table(rows, widths), Spacer(1, 3 * mm)]


def _statement(doc: dict[str, Any], st: dict[str, ParagraphStyle], width: float, digest: str, kid: str,
               verify_url: str) -> list[Flowable]:
    s = doc["statement"]
    flow: list[Flowable] = [_kv([
        ("数据截至", f"{s['as_of']}（记录最近更新 {_local(s['data_updated_to'])}）"),
        ("数据范围", _data_range(s["data_range"], s["as_of"])),
        ("异议中记录", f"{s['disputed_records']} 条"),
        ("报告摘要", digest), ("签名", f"Ed25519，密钥 {kid}"), ("核验", verify_url)], st, width),
        Spacer(1, 3 * mm)]
    flow += _sources(s["sources"], st, width)
    flow += [Paragraph(_esc(s["notice"]), st["note"]), Paragraph(_esc(s["dispute_notice"]), st["note"]),
             Paragraph(_esc(s["retention"]), st["note"])]
    return flow


# --- the bidding edition (招投标专用版) ----------------------------------------------------------

ALERT = colors.HexColor("#b3261e")
ALERT_SHADE = colors.HexColor("#fbe3e1")
WARN_SHADE = colors.HexColor("#fdf0d5")
GOOD_SHADE = colors.HexColor("#e3f3e6")
LIST_EFFECT_LABELS = {"barred": "投标限制", "warning": "风险提示", "incentive": "守信激励"}


def _grade_line(rating: dict[str, Any] | None) -> str:
    if rating is None:
        return "尚未进行信用评价"
    if rating["not_rated"]:
        return f"NR　不予评级：{rating['reason'] or '现有信用信息不足以评定等级'}"
    return f"{rating['grade']}（{rating['grade_label']}）　综合得分 {rating['score'] or '—'}"


def _validity_line(rating: dict[str, Any] | None) -> str:
    if rating is None:
        return "—"
    if rating["not_rated"]:
        return f"不予评级，无有效期（评价基准日 {rating['as_of']}）"
    state = "有效" if rating["in_force"] else "已过有效期，请以最新评价为准"
    return f"{rating['valid_from']} 至 {rating['valid_until']}（{state}；评价基准日 {rating['as_of']}）"


def _site(verify_url: str) -> str:
    parts = urlsplit(verify_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _certificate_status(cert: dict[str, Any]) -> str:
    return cert["status_label"] + (f"（{cert['status_reason']}）" if cert.get("status_reason") else "")


def _certificate_lines(cert: dict[str, Any] | None, site: str) -> str:
    """The certificate in the box, as Paragraph markup (each value escaped)."""
    if cert is None:
        return NO_CERTIFICATE
    review = f"，年度复核 {cert['next_review_on']}" if cert.get("next_review_on") else ""
    return "<br/>".join(_esc(line) for line in (
        f"证书编号 {cert['certificate_no']}　等级 {cert['grade'] or '—'}　状态 {_certificate_status(cert)}",
        f"有效期 {cert['valid_from'] or '—'} 至 {cert['valid_until'] or '—'}{review}",
        f"核验 {site}{cert['verify_path']}"))


def _basis_text(entry: dict[str, Any]) -> str:
    """A list entry's basis: each criterion met, with the public documents behind it."""
    parts = []
    for b in entry["basis"]:
        docs = "、".join(" ".join(x for x in (d["category_label"], d["number"], d["date"]) if x) for d in b["documents"])
        parts.append(b["label"] + (f"（{docs}）" if docs else ""))
    return "；".join(parts) or "—"


def _entry_dates(entry: dict[str, Any]) -> str:
    ends = f"，期限至 {entry['ends_on']}" if entry["ends_on"] else ""
    return f"列入日期 {entry['published_on'] or entry['entered_on']}{ends}"


def _bidding_box(sections: dict[str, Any], st: dict[str, ParagraphStyle], width: float, site: str) -> Table:
    """Page one's box: the grade and its validity, the certificate, the lists and what they
    mean in a tender."""
    rating, cert, limits = sections["rating"], sections["certificate"], sections["restrictions"]
    strong = ParagraphStyle("box", parent=st["base"], fontSize=10, leading=15)
    grade_style = ParagraphStyle("grade", parent=strong, fontSize=13, leading=18, textColor=NAVY)
    # Each list with what it means in a tender; with neither the black nor the watch list,
    # first that nothing restricts the firm.
    lines = ([] if limits["barred"] or limits["warning"] else [_esc(limits["summary"])]) + [
        _esc(f"{e['text']}（{_entry_dates(e)}）") for e in limits["entries"]]
    rows = [
        [Paragraph("招投标信用信息摘要", ParagraphStyle("boxhead", parent=strong, textColor=colors.white)), ""],
        ["信用等级", Paragraph(_esc(_grade_line(rating)), grade_style)],
        ["等级有效期", Paragraph(_esc(_validity_line(rating)), strong)],
        ["信用等级证书", Paragraph(_certificate_lines(cert, site), strong)],
        ["名单与投标限制", Paragraph("<br/>".join(lines), strong)],
    ]
    box = Table(rows, colWidths=[30 * mm, width - 30 * mm])
    shade = ALERT_SHADE if limits["barred"] else WARN_SHADE if limits["warning"] else GOOD_SHADE
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 9.5),
        ("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("BOX", (0, 0), (-1, -1), 1.6, NAVY), ("LINEBELOW", (0, 1), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 1), (0, -1), SHADE), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("BACKGROUND", (1, 4), (1, 4), shade),
    ]
    if limits["barred"]:
        style += [("TEXTCOLOR", (0, 4), (0, 4), ALERT), ("BOX", (0, 4), (-1, 4), 1.2, ALERT)]
    if cert and cert["status"] != "issued":
        style += [("BACKGROUND", (1, 3), (1, 3), WARN_SHADE)]
    box.setStyle(TableStyle(style))
    return box


def render_bidding_pdf(doc: dict[str, Any], *, digest: str, verify_url: str, kid: str) -> bytes:
    """The bidding edition: a cover whose box holds what a tenderer checks first (grade and
    validity, certificate, lists and restrictions), then the public sections, the number
    and the verify address in every page's footer."""
    register_font()
    st = _styles()
    buf = io.BytesIO()
    pdf = _Doc(buf, title=f"企业信用报告（招投标专用版） {doc['report_no']}", author="PowerCredit 电力征信",
               subject=doc["subject"]["name"], creator="PowerCredit", invariant=1)
    width = pdf.width
    sections: dict[str, Any] = doc["sections"]
    subject = doc["subject"]
    issued = _local(doc["issued_at"])
    site = _site(verify_url)

    story: list[Flowable] = [NextPageTemplate("body")]
    story += [Spacer(1, 6 * mm), Paragraph("企业信用报告", st["title"]), Spacer(1, 2 * mm),
              Paragraph(f"（{_esc(doc['kind_label'])}）", st["subtitle"]), Spacer(1, 6 * mm)]
    story.append(_kv([("被查询企业", subject["name"]), ("统一社会信用代码", subject["uscc"]),
                      ("报告编号", doc["report_no"]), ("出具时间", f"{issued}（北京时间）"),
                      ("报告用途", "招投标使用：投标人资格审查、评标定标"), ("出具方式", "被查询企业自行查询出具")], st, width))
    story += [Spacer(1, 5 * mm), _bidding_box(sections, st, width, site), Spacer(1, 5 * mm)]
    qr = QrFlowable(verify_url)
    verify_text = Paragraph(
        f"报告真伪核验：扫描二维码或访问<br/>{_esc(verify_url)}<br/><br/>报告摘要（SHA-256）：<br/>"
        f"<font size=7>{digest}</font><br/>签名密钥：{_esc(kid)}（Ed25519，公钥见 /.well-known/jwks.json）", st["small"])
    story.append(Table([[qr, verify_text]], colWidths=[34 * mm, width - 34 * mm],
                       style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("FONT", (0, 0), (-1, -1), FONT, 8)])))
    story += [Spacer(1, 3 * mm), Paragraph(_esc(doc["statement"]["notice"]), st["note"])]
    if doc["statement"]["disputed_records"]:
        story.append(Paragraph(f"异议提示：本报告有 {doc['statement']['disputed_records']} 条记录正在异议处理中。"
                               + _esc(doc["statement"]["dispute_notice"]), st["note"]))
    story.append(PageBreak())

    for number, key in enumerate(doc["section_list"]):
        title = f"{_numeral(number)}、{SECTION_TITLES[key]}"
        story += [CondPageBreak(30 * mm), _Anchor(key, title), Paragraph(title, st["h1"])]
        story += _bidding_section(key, sections.get(key), st, width, site)
    last = _numeral(len(doc["section_list"]))
    story += [CondPageBreak(40 * mm), _Anchor("statement", f"{last}、数据说明与声明"),
              Paragraph(f"{last}、数据说明与声明", st["h1"])]
    story += _bidding_statement(doc, st, width, digest, kid, verify_url)

    def decorate(c: pdfcanvas.Canvas, page: int, total: int) -> None:
        w, h = A4
        _page_frame(c, f"企业信用报告（招投标专用版） · {subject['name']}" if page > 1 else None, doc["report_no"])
        c.drawString(18 * mm, 12 * mm, f"招投标专用版 · 报告编号 {doc['report_no']}")
        c.drawCentredString(w / 2, 12 * mm, f"第 {page} 页 / 共 {total} 页")
        c.drawRightString(w - 18 * mm, 12 * mm, f"出具 {issued}")
        c.setFont(FONT, 6)
        c.drawCentredString(w / 2, 8 * mm, f"核验：{verify_url}")
        c.restoreState()

    pdf.build(story, canvasmaker=_canvas_class(decorate, f"招投标专用版  {subject['name']}  {issued}"))
    return buf.getvalue()


def _bidding_section(key: str, data: Any, st: dict[str, ParagraphStyle], width: float, site: str) -> list[Flowable]:
    if key == "identity":
        return _section("identity", data, st, width, {})
    if key == "rating":
        if data is None:
            return _none(st, "该企业尚未进行信用评价。")
        facts = [("信用等级", _grade_line(data)), ("有效期", _validity_line(data))]
        if not data["not_rated"]:
            facts += [("分类监管", data["supervision_label"])]
        facts += [("评价基准日", data["as_of"]), ("评价时间", _local(data["evaluated_at"])),
                  ("评分卡版本", data["scorecard_version"]), ("有效期规则", data["validity_rule"])]
        return [_kv(facts, st, width), Spacer(1, 3 * mm), grade_gauge(data["grade"], data["score"], width),
                Paragraph(_esc(data["note"]), st["note"]), Spacer(1, 3 * mm)]
    if key == "certificate":
        if data is None:
            return _none(st, NO_CERTIFICATE + "。")
        return [_kv([("证书编号", data["certificate_no"]), ("证书等级", data["grade"]),
                     ("证书状态", _certificate_status(data)),
                     ("评价基准日", data["grade_as_of"]), ("发证时间", _local(data["issued_at"])),
                     ("有效期", f"{data['valid_from'] or '—'} 至 {data['valid_until'] or '—'}"),
                     ("年度复核", data["next_review_on"]), ("证书核验", f"{site}{data['verify_path']}")], st, width),
                Spacer(1, 3 * mm)]
    if key == "restrictions":
        flow: list[Flowable] = [Paragraph(_esc(data["summary"]), st["base"]), Spacer(1, 2 * mm)]
        if not data["entries"]:
            return flow + [Paragraph("未列入红名单、黑名单或重点关注名单。", st["base"]), Spacer(1, 3 * mm)]
        head = ["名单", "影响与依据", "日期"]
        widths = _columns(head, [30 * mm, width - 30 * mm - 44 * mm, 44 * mm])
        rows: list[list[Any]] = [head]
        for e in data["entries"]:
            basis = _basis_text(e)
            rows.append([_cell(e["label"], widths[0]),
                         Paragraph(f"<b>{LIST_EFFECT_LABELS[e['effect']]}</b>：{_esc(e['text'])}<br/>依据：{_esc(basis)}"
                                   f"<br/>名单记录编号 {e['entry_no']}（列入标准 {_esc(e['criteria_version'])}）", st["cell"]),
                         "\n".join(_cell(part, widths[2]) for part in _entry_dates(e).split("，"))])
        table = _table(rows, widths)
        table.setStyle(TableStyle([("TEXTCOLOR", (0, i), (0, i), ALERT)
                                   for i, e in enumerate(data["entries"], start=1) if e["effect"] == "barred"]))
        return flow + [table, Spacer(1, 3 * mm)]
    if key in ("licences", "penalties"):
        if not data:
            return _none(st, "无公示期内的记录。" if key == "penalties" else "无有效期内的记录。")
        category, state = ("licence", "有效") if key == "licences" else ("penalty", "公示中")
        head = ["决定日期", "内容", "状态"]
        widths = _columns(head, [22 * mm, width - 22 * mm - 16 * mm, 16 * mm])
        rows = [head] + [
            [_cell(item.get("decided_on"), widths[0]), _cell(_describe({"category": category, "payload": item}), widths[1]),
             state + ("\n异议中" if item["disputed"] else "")] for item in data]
        table = _table(rows, widths)
        disputed = [("BACKGROUND", (2, i), (2, i), colors.HexColor("#fde7c8"))
                    for i, item in enumerate(data, start=1) if item["disputed"]]
        if disputed:
            table.setStyle(TableStyle(disputed))
        return [table, Spacer(1, 3 * mm)]
    if key == "commitments":
        if not data:
            return _none(st, "未签署信用承诺。")
        head = ["承诺书", "版本", "签署时间", "编号"]
        widths = _columns(head, [width - 100 * mm, 18 * mm, 32 * mm, 50 * mm])
        rows = [head] + [
            [_cell(text, w) for text, w in zip(
                (c["title"], c["version"], _local(c["signed_at"]), c["commitment_no"]), widths, strict=True)]
            for c in data]
        return [_table(rows, widths), Spacer(1, 3 * mm)]
    return []


def _bidding_statement(doc: dict[str, Any], st: dict[str, ParagraphStyle], width: float, digest: str, kid: str,
                       verify_url: str) -> list[Flowable]:
    s = doc["statement"]
    flow: list[Flowable] = [_kv([
        ("数据截至", f"{s['as_of']}" + (f"（双公示记录最近更新 {_local(s['data_updated_to'])}）" if s["data_updated_to"] else "")),
        ("内容范围", "公开信用信息：登记信息、信用等级及有效期、信用等级证书、信用名单、双公示行政许可与行政处罚、信用承诺"),
        ("异议中记录", f"{s['disputed_records']} 条"),
        ("报告摘要", digest), ("签名", f"Ed25519，密钥 {kid}"), ("核验", verify_url)], st, width),
        Spacer(1, 3 * mm)]
    flow += _sources(s["sources"], st, width)
    flow += [Paragraph(_esc(s["notice"]), st["note"]), Paragraph(_esc(s["dispute_notice"]), st["note"]),
             Paragraph(_esc(s["retention"]), st["note"])]
    return flow


# --- cache -----------------------------------------------------------------------------------

def cached_pdf(cache_dir: Path, report_no: str, render: Callable[[], bytes]) -> bytes:
    """The rendered PDF of a report, from disk when it was rendered before (a report never
    changes); written atomically, so concurrent workers never read half a file."""
    path = cache_dir / f"{report_no}.pdf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = render()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data
