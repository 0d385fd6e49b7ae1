"""The PDF of an issued certificate, drawn from its frozen document with reportlab: one
landscape A4 page — the firm, its code, the grade, the validity and review, the number, the
issuer and date, a QR code to the verification address (number and digest), the digest and
the signing key; a certificate no longer in force carries its status across the page.

A pure function: document in, bytes out. The embedded Chinese font (WenQuanYi Micro Hei) is
registered by the reports' PDF code, which this layer may not import: the roof hands its
registration in at start-up (:func:`set_font`, ``app.wiring``)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas as pdfcanvas

from app.core import clock

NAVY = colors.HexColor("#12355b")
GOLD = colors.HexColor("#b08d3c")
RED = colors.HexColor("#b3261e")
GREY = colors.HexColor("#555555")
QR_SIZE = 32 * mm

_font: list[Callable[[], str]] = []


def set_font(register: Callable[[], str]) -> None:
    """How the embedded CJK font is registered (returns its name); handed in by the roof."""
    _font[:] = [register]


def _font_name() -> str:
    if not _font:
        raise RuntimeError("certificate PDFs have no font: call app.wiring.wire() at start-up")
    return _font[0]()


def qr_drawing(url: str, size: float = QR_SIZE) -> Drawing:
    """The QR code of ``url`` (error correction M), ``size`` points square."""
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines, line, used = [], "", 0.0
    for ch in text:
        w = pdfmetrics.stringWidth(ch, font, size)
        if used + w > width and line:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    if line:
        lines.append(line)
    return lines


def _day(iso: str | None) -> str:
    if not iso:
        return "—"
    y, m, d = iso[:10].split("-")
    return f"{int(y)} 年 {int(m)} 月 {int(d)} 日"


def render_pdf(doc: dict[str, Any], *, digest: str, kid: str, verify_url: str,
               status_label: str | None = None) -> bytes:
    """The certificate page. ``status_label``: the certificate is no longer in force (暂停,
    已撤销, 已过期) — written across the page."""
    font = _font_name()
    buf = io.BytesIO()
    w, h = landscape(A4)
    c = pdfcanvas.Canvas(buf, pagesize=(w, h), pageCompression=1, initialFontName=font)
    c.setTitle(f"{doc['title']} {doc['certificate_no']}")
    c.setAuthor(doc["issuer"])
    c.setSubject(f"{doc['subject']['name']} 信用等级 {doc['grade']}")
    # Frame: an outer navy rule and an inner gold one.
    c.setStrokeColor(NAVY)
    c.setLineWidth(3)
    c.rect(12 * mm, 12 * mm, w - 24 * mm, h - 24 * mm)
    c.setStrokeColor(GOLD)
    c.setLineWidth(1)
    c.rect(16 * mm, 16 * mm, w - 32 * mm, h - 32 * mm)
    # Number, top right.
    c.setFillColor(GREY)
    c.setFont(font, 9)
    c.drawRightString(w - 24 * mm, h - 24 * mm, f"证书编号：{doc['certificate_no']}")
    # Title.
    c.setFillColor(NAVY)
    c.setFont(font, 30)
    c.drawCentredString(w / 2, h - 42 * mm, "信用等级证书")
    c.setFont(font, 12)
    c.drawCentredString(w / 2, h - 51 * mm, doc["title"])
    # The firm and its grade.
    c.setFillColor(colors.black)
    c.setFont(font, 20)
    c.drawCentredString(w / 2, h - 68 * mm, doc["subject"]["name"])
    c.setFont(font, 11)
    c.drawCentredString(w / 2, h - 76 * mm, f"统一社会信用代码：{doc['subject']['uscc']}")
    c.setFont(font, 12)
    c.drawCentredString(w / 2, h - 88 * mm, "经评价并公示，该企业电力行业信用等级为")
    c.setFillColor(NAVY)
    c.setFont(font, 46)
    c.drawCentredString(w / 2, h - 108 * mm, doc["grade"])
    c.setFont(font, 12)
    c.drawCentredString(w / 2, h - 116 * mm, f"（{doc['grade_label']}）" if doc.get("grade_label") else "")
    # Facts, two columns.
    c.setFillColor(colors.black)
    c.setFont(font, 10)
    left = [f"有效期：{_day(doc['valid_from'])} 至 {_day(doc['valid_until'])}",
            f"复核：有效期内每 {doc['review_months']} 个月复核一次",
            f"公示期：{clock.format_cn(_moment(doc['notice']['from']), '%Y-%m-%d')} 至 "
            f"{clock.format_cn(_moment(doc['notice']['until']), '%Y-%m-%d')}"]
    right = [f"评价分数：{doc['score'] or '—'}",
             f"评价基准日：{doc['grade_as_of'] or '—'}",
             f"评分卡版本：{doc['scorecard_version'] or '—'}"]
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        y = h - 130 * mm - i * 6 * mm
        c.drawString(40 * mm, y, a)
        c.drawString(w / 2 + 10 * mm, y, b)
    # The statement.
    c.setFillColor(GREY)
    c.setFont(font, 8.5)
    y = h - 154 * mm
    for line in _wrap(doc["statement"], font, 8.5, w - 120 * mm - QR_SIZE):
        c.drawString(40 * mm, y, line)
        y -= 4.5 * mm
    # Issuer and date, bottom left.
    c.setFillColor(colors.black)
    c.setFont(font, 12)
    c.drawString(40 * mm, 40 * mm, f"发证机构：{doc['issuer']}")
    c.setFont(font, 10)
    c.drawString(40 * mm, 33 * mm, f"发证日期：{_day(clock.format_cn(_moment(doc['issued_at']), '%Y-%m-%d'))}")
    # QR code, bottom right, with the address it encodes.
    qx, qy = w - 40 * mm - QR_SIZE, 33 * mm
    renderPDF.draw(qr_drawing(verify_url), c, qx, qy)
    c.setFont(font, 8)
    c.drawCentredString(qx + QR_SIZE / 2, qy - 4 * mm, "扫码核验证书状态")
    # The digest, the key and the address the QR code encodes, along the foot.
    c.setFillColor(GREY)
    c.setFont(font, 6.5)
    c.drawString(24 * mm, 23 * mm, f"摘要（SHA-256）：{digest}    签名密钥：{kid}（Ed25519，公钥见 /.well-known/jwks.json）")
    c.drawString(24 * mm, 19.5 * mm, f"核验地址：{verify_url}")
    if status_label:  # a band across the grade: no longer in force
        c.saveState()
        c.setFillColor(RED)
        c.setFillAlpha(0.55)
        c.setFont(font, 40)
        c.drawCentredString(w / 2, h - 106 * mm, f"{status_label} · 以核验结果为准")
        c.restoreState()
    c.showPage()
    c.save()
    return buf.getvalue()


def _moment(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
