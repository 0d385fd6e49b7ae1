"""The PDF of a screening, rendered from its frozen document: a pure function, document in,
bytes out (cached per screening by the caller; a screening never changes).

A4 landscape: the header (number, tender, tenderer, time, the rules in words, the counts, a
QR code to ``/verify/{no}`` with the digest and key id), then one table row per bidder —
row, code (its column wide enough that a code is never split), name, grade and its date,
the grade certificate (its number, as unsplit, and status, or 无), lists, outcome, reasons
and warnings — drawn straight
on the canvas (10,000 rows would take a platypus table minutes to lay out, split after
split), its header row repeated on every page; "第 x 页 / 共 y 页", the number and the
digest on every page.  The font is reports' embedded WenQuanYi Micro Hei (registered once
per process by ``reports.pdf.register_font``)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas as pdfcanvas

from app.archive.uscc import ALPHABET
from app.core import clock
from reports.pdf import CELL_PADDING, FONT, GRID, NAVY, SHADE, register_font, wrap_text
from reports.pdf_graphics import QrFlowable

PAGE = landscape(A4)
MARGIN = 14 * mm
SIZE = 7.5  # table text, points
LEADING = 9.6
PAD = 2.5
MAX_CELL_LINES = 40
COLUMNS = (("行", 24), ("统一社会信用代码", 0), ("企业名称", 128), ("信用等级", 48), ("信用等级证书", 0), ("名单", 96),
           ("结论", 34))
CODE_COLUMN = 1  # its width is code_width(): a code is never split over two lines
CERTIFICATE_COLUMN = 4  # its width is certificate_width(): nor is a certificate's number
OUTCOME_COLUMN = 6
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BAD = colors.HexColor("#b42318")


class _Deferred(pdfcanvas.Canvas):
    """Keeps each page until the end, then draws what needs the page count and writes them."""

    def __init__(self, *args: Any, decorate: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []
        self._decorate = decorate

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._decorate(self, number, total)
            super().showPage()
        super().save()


def code_width() -> float:
    """The code column's width: any valid code on one line — the six region digits, the
    twelve other places each as wide as the widest character a code may hold (W), the cell's
    padding and a point to spare.  (The font must be registered.)"""
    def widest(chars: str) -> float:
        return max(pdfmetrics.stringWidth(ch, FONT, SIZE) for ch in chars)

    return 6 * widest("0123456789") + 12 * widest(ALPHABET) + CELL_PADDING + 1


def certificate_width() -> float:
    """The certificate column's width: any certificate number (``PCC`` + the year + 12 base32
    characters, each place as wide as its widest character) on one line, with the padding."""
    def widest(chars: str) -> float:
        return max(pdfmetrics.stringWidth(ch, FONT, SIZE) for ch in chars)

    return (pdfmetrics.stringWidth("PCC", FONT, SIZE) + 4 * widest("0123456789") + 12 * widest(BASE32)
            + CELL_PADDING + 1)


def certificate_cell(r: dict[str, Any]) -> str:
    """The row's certificate: its number and status (公示中，尚未发证 for a result in its
    notice period; with its end for one issued); 无 for a firm found without one; — for a row
    that screened no firm."""
    cert = r.get("certificate")
    if not cert:
        return "无" if r["status"] in ("found", "NR") else "—"
    if cert["status"] == "publicized":
        return f"{cert['certificate_no']}\n公示中，尚未发证"
    until = f"，至 {cert['valid_until']}" if cert.get("valid_until") and cert["status"] != "revoked" else ""
    return f"{cert['certificate_no']}\n{cert['status_label']}{until}"


def _local(iso: str) -> str:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M")


def _cells(r: dict[str, Any], widths: list[float]) -> list[list[str]]:
    grade = r["grade"] or "—"
    if r["grade_as_of"]:
        grade += f"\n{r['grade_as_of']}"
    lists = "；".join(e["label"].split("（")[0] + f"（{e['published_on'] or e['entered_on']} 起）" for e in r["lists"])
    notes = [f"· {x}" for x in r["reasons"]] + [f"提示：{x}" for x in r["warnings"]]
    consent = r.get("consent")
    if consent:
        notes.append("授权：" + ("已使用 " + consent["consent_id"] + "；" + "；".join(consent["added"])
                               if consent["used"] else consent["note"]))
    texts = [str(r["row"]), r["uscc"], r["name"] or r["status_label"], grade, certificate_cell(r), lists or "—",
             r["outcome_label"], "\n".join(notes) or "—"]
    out = []
    for text, width in zip(texts, widths, strict=True):
        lines: list[str] = []
        for part in text.split("\n"):
            lines += wrap_text(part, width, SIZE).split("\n")
        if len(lines) > MAX_CELL_LINES:
            lines = lines[:MAX_CELL_LINES - 1] + ["……（完整内容见 JSON 或 CSV 文件）"]
        out.append(lines)
    return out


def render_screening_pdf(doc: dict[str, Any], *, digest: str, verify_url: str, kid: str) -> bytes:
    """The PDF of a frozen screening document."""
    register_font()
    w, h = PAGE
    left, right = MARGIN, w - MARGIN
    widths = [float(x) for _, x in COLUMNS]
    widths[CODE_COLUMN] = code_width()
    widths[CERTIFICATE_COLUMN] = certificate_width()
    widths.append(right - left - sum(widths))
    titles = [t for t, _ in COLUMNS] + ["原因与提示"]
    number, issued = doc["screening_no"], _local(doc["issued_at"])
    tender = doc["tender"]
    s = doc["summary"]

    def decorate(c: pdfcanvas.Canvas, page: int, total: int) -> None:
        c.saveState()
        c.setFont(FONT, 7)
        c.setFillColor(colors.HexColor("#555555"))
        if page > 1:
            c.drawString(left, h - 9 * mm, f"投标人信用筛查结果 · {tender['name']}")
            c.drawRightString(right, h - 9 * mm, f"编号 {number}")
        c.drawString(left, 7 * mm, f"PowerCredit 电力征信 · {doc['tenderer']['name']} · {issued} · 摘要 {digest[:16]}…")
        c.drawRightString(right, 7 * mm, f"第 {page} 页 / 共 {total} 页")
        c.restoreState()

    buf = io.BytesIO()
    c = _Deferred(buf, pagesize=PAGE, decorate=decorate, invariant=1, initialFontName=FONT)
    c.setTitle(f"投标人信用筛查结果 {number}")
    c.setAuthor("PowerCredit 电力征信")
    c.setSubject(tender["name"])
    c.setCreator("PowerCredit")

    # The header: what was screened, for whom, by which rules, with what result; how to verify.
    y = h - MARGIN
    c.setFillColor(NAVY)
    c.setFont(FONT, 17)
    c.drawString(left, y - 14, "投标人信用筛查结果")
    c.setFillColor(colors.black)
    y -= 30
    facts = [("筛查编号", number), ("招标项目", tender["name"] + (f"（{tender['no']}）" if tender["no"] else "")),
             ("招标人", f"{doc['tenderer']['name']}（{doc['tenderer']['licence_no']}）"),
             ("出具时间", f"{issued}（北京时间），数据截至 {doc['as_of']}"),
             ("筛查规则", "；".join(doc["rules_text"])),
             ("筛查结果", f"共 {s['bidders']} 家投标人：通过 {s['passed']}，不通过 {s['failed']}，"
                         f"未查到或代码无效 {s['not_found']}；重复提交 {s['duplicates']} 行；使用投标人授权 {s['consents_used']} 家")]
    text_width = right - left - 45 * mm - 70
    for label, value in facts:
        lines = wrap_text(value, text_width, 8.5).split("\n")
        c.setFont(FONT, 8.5)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(left, y, label)
        c.setFillColor(colors.black)
        for line in lines:
            c.drawString(left + 70, y, line)
            y -= 12
        y -= 2
    qr_size = 34 * mm
    QrFlowable(verify_url, size=qr_size).drawOn(c, right - qr_size, h - MARGIN - qr_size)
    c.setFont(FONT, 6.5)
    caption = ("扫码核验真伪", f"摘要 {digest[:32]}", digest[32:], f"签名密钥 {kid}（Ed25519）")
    for i, line in enumerate(caption):
        c.drawRightString(right, h - MARGIN - qr_size - 8 - i * 8, line)
    qr_bottom = h - MARGIN - qr_size - 8 - len(caption) * 8
    c.setFont(FONT, 7)
    c.setFillColor(colors.HexColor("#444444"))
    for line in wrap_text(f"核验：{verify_url}。{doc['statement']['notice']}", text_width + 70, 7).split("\n"):
        c.drawString(left, y, line)
        y -= 9
    c.setFillColor(colors.black)
    y = min(y, qr_bottom) - 6

    def header(top: float) -> float:
        height = LEADING + 2 * PAD
        c.setFillColor(NAVY)
        c.rect(left, top - height, right - left, height, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(FONT, SIZE)
        x = left
        for title, width in zip(titles, widths, strict=True):
            c.drawString(x + 3, top - PAD - SIZE, title)
            x += width
        c.setFillColor(colors.black)
        return top - height

    bottom = 12 * mm
    y = header(y)
    for i, r in enumerate(doc["bidders"]):
        cells = _cells(r, widths)
        height = max(len(lines) for lines in cells) * LEADING + 2 * PAD
        if y - height < bottom:
            c.showPage()
            y = header(h - 12 * mm)
        if i % 2:
            c.setFillColor(SHADE)
            c.rect(left, y - height, right - left, height, stroke=0, fill=1)
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.line(left, y - height, right, y - height)
        x = left
        c.setFont(FONT, SIZE)
        for col, (lines, width) in enumerate(zip(cells, widths, strict=True)):
            c.setFillColor(BAD if col == OUTCOME_COLUMN and r["outcome"] == "fail" else colors.black)
            for n, line in enumerate(lines):
                c.drawString(x + 3, y - PAD - SIZE - n * LEADING, line)
            x += width
        y -= height
    c.setFillColor(colors.black)
    if y - 30 < bottom:
        c.showPage()
        y = h - 12 * mm
    c.setFont(FONT, 7)
    for line in wrap_text(doc["statement"]["sources"], right - left, 7).split("\n"):
        y -= 10
        c.drawString(left, y, line)
    c.showPage()
    c.save()
    return buf.getvalue()
