"""The PDF's text as a reader (and pdftotext) gets it, on demo-like reports built here with long
names, dates, amounts, codes and document numbers in table cells and paragraphs, in both
editions: no unit broken across lines, no line starting with closing punctuation or ending
with opening punctuation, amounts in one format, every column filled, sources named in
Chinese, and the watermark shown but never in the text."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import reports.pdf
from reports.pdf import WATERMARK, render_pdf
from reports.typeset import CLOSING, OPENING

POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")
pytestmark = pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: scripts/test.sh installs it")

# Rare characters, found nowhere in a report but in these names: what counts their copies.
BANK = "鑫淼银行股份有限公司内蒙古自治区鄂尔多斯市准格尔旗薛家湾支行"
FIRM = "内蒙古犇骉新能源电力工程建设集团有限责任公司准格尔旗第二分公司"
USCC = "91150622MA0N8K2X4L"
REPORT_NO = "PC20261207ABCDEFGHJKLM"
VERIFY = f"https://pc.example/verify/{REPORT_NO}?digest={'ab' * 32}"
PAD = "特种设备生产许可电力业务许可承装修试"  # content of varying length: units land anywhere on a line


def record(i: int, category: str, payload: dict[str, Any], *, polarity: str = "good", severity: int = 0,
           status: str = "active", provider: str = "nea-credit", occurred: str = "2026-03-02") -> dict[str, Any]:
    return {"id": i, "provider": provider, "provider_ref": f"{category}-{i}", "category": category,
            "polarity": polarity, "severity": severity, "occurred_on": occurred, "ended_on": None,
            "expires_on": None, "status": status, "disputed": status == "disputed", "version": 1, "payload": payload}


def licences(n: int) -> list[dict[str, Any]]:
    return [{"licence_category": "general", "decision_doc_name": f"关于准予{PAD[:i % len(PAD)]}许可证的决定",
             "decision_doc_no": f"京能监许可〔{2010 + i}〕{801 + i}号", "authority": "国家能源局华北监管局",
             "decided_on": f"2025-{1 + i % 12:02d}-{10 + i:02d}", "valid_from": f"2025-{1 + i % 12:02d}-{10 + i:02d}",
             "valid_to": f"{2030 + i}-08-{10 + i:02d}"} for i in range(n)]


def penalties(n: int) -> list[dict[str, Any]]:
    return [{"decision_no": f"京能监罚〔2026〕{231 + i}号", "violation_type": f"未按规定报送{PAD[:i % len(PAD)]}信息",
             "penalty_types": ["warning", "fine"], "fine_amount": f"{12 + i}.5", "authority": "国家能源局华北监管局",
             "decided_on": f"2026-{1 + i % 12:02d}-{3 + i:02d}", "publish_until": f"{2029 + i}-03-{3 + i:02d}"}
            for i in range(n)]


def judgments(n: int) -> list[dict[str, Any]]:
    return [{"case_no": f"({2014 + i})京01{i:02d}执{1811 + i}号" if i % 2 else f"（{2014 + i}）内06{i:02d}执恢{2071 + i}号",
             "court": f"准格尔旗人民法院{PAD[:i % len(PAD)]}", "performance": "partial", "amount": f"{1234567 + i}.8"}
            for i in range(n)]


def contracts(n: int) -> list[dict[str, Any]]:
    return [{"contract_no": f"ECP-2026-{53131 + i}", "subject": f"{PAD[:i % len(PAD)]}采购",
             "counterparty_name": "国网内蒙古东部电力有限公司", "amount": f"{2325374 + 1001 * i}.74",
             "due_on": f"2026-{1 + i % 12:02d}-{11 + i:02d}", "status": "on_time"} for i in range(n)]


def loans(n: int) -> list[dict[str, Any]]:
    return [{"lender": f"中国建设银行股份有限公司内蒙古自治区{PAD[:i % len(PAD)]}分行", "amount": f"{14574900 + 7 * i}.08",
             "start_on": f"2024-{1 + i:02d}-01", "end_on": f"2027-{1 + i:02d}-28", "status": "normal"} for i in range(n)]


SOURCES = [{"provider": "nea-credit", "name": "国家能源局资质和信用信息系统", "records": 40},
           {"provider": "court-zxgk", "name": "中国执行信息公开网", "records": 8},
           {"provider": "power-ecp", "name": "电力集团电子商务采购平台", "records": 12},
           {"provider": "bank-credit", "name": "中国建设银行股份有限公司内蒙古自治区分行（信贷信息）", "records": 6},
           {"provider": "chinatax", "name": "国家税务总局纳税信用评价", "records": 1}]


def standard_report() -> dict[str, Any]:
    """A lender's report (授信机构版) of every section, with records in many categories."""
    recs = {
        "licence_penalty": [record(i, "licence", p) for i, p in enumerate(licences(14))]
        + [record(100 + i, "penalty", p, polarity="bad", severity=1 + i % 3) for i, p in enumerate(penalties(8))],
        "judicial": [record(200 + i, "judicial", p, polarity="bad", severity=2, provider="court-zxgk",
                            status="disputed" if i == 1 else "corrected" if i == 2 else "active")
                     for i, p in enumerate(judgments(8))],
        "contract": [record(300 + i, "contract", p, provider="power-ecp") for i, p in enumerate(contracts(12))],
        "loan": [record(400 + i, "loan", p, provider="bank-credit") for i, p in enumerate(loans(6))],
        "tax": [record(500, "tax", {"year": 2025, "grade": "A", "points": 95}, provider="chinatax")],
    }
    history = [{"as_of": f"2026-{m:02d}-28", "evaluated_at": f"2026-{m:02d}-28T01:00:00Z", "grade": "AAA",
                "score": f"{96 + m % 3}.50", "scorecard_version": "2.0"} for m in range(1, 13)]
    sections = {
        "identity": {"uscc": USCC, "name": FIRM, "segment": "construction", "segment_label": "电力建设",
                     "region_code": "150622", "region": "内蒙古自治区鄂尔多斯市准格尔旗", "registered_capital": "123456789.00",
                     "founded_on": "2003-05-18", "status": "active", "legacy_uscc": False},
        "evaluation": {"grade": "AAA", "grade_label": "信用极好", "score": "97.50", "not_rated": False, "reason": None,
                       "coverage": "1.0000", "dimensions": {"willingness": "100.00", "capability": "91.25",
                                                            "performance": "98.00"},
                       "adverse_factors": [{"key": "paid_in_capital", "kind": "factor", "label": "实缴资本",
                                            "points": 60.0, "points_lost": 2.4,
                                            "reason": "实缴资本（万元；实缴未知时按认缴资本的 30% 计）：3,703.70，得 60 分；"
                                                      "最近一期实缴出资 2025-06-30 到位 1,234.5 万元（京工商验〔2025〕77号）"}],
                       "supervision_class": "A", "supervision_label": "A 类（绿色通道）", "scorecard_version": "2.0",
                       "as_of": "2026-12-07", "evaluated_at": "2026-12-07T01:00:02Z", "history": history,
                       "note": "信用等级为 PowerCredit 依据公开的评分卡计算的衍生产品，不构成授信建议。"},
        "summary": [{"category": "licence", "category_label": "行政许可", "good": 14, "bad": 0, "neutral": 0,
                     "disputed": 0}],
        **recs,
        "lists": [{"list": "watch", "label": "重点关注名单"}],
        "objections": [r for rs in recs.values() for r in rs if r["disputed"]],
        "query_records": [],
    }
    return {
        "schema_version": "1.2", "report_no": REPORT_NO, "kind": "institution", "kind_label": "授信机构版",
        "issued_at": "2026-12-07T05:53:00Z", "subject": {"uscc": USCC, "name": FIRM},
        "recipient": {"type": "institution", "name": BANK, "licence_no": "B0004B232000001"},
        "consent": {"consent_id": "cst_34ozbi3qq37fdj5rpty4rztr", "purpose": "loan_application",
                    "purpose_label": "贷款申请审查"},
        "section_list": list(sections), "sections": sections,
        "statement": {"as_of": "2026-12-07", "data_updated_to": "2026-12-07T01:00:02Z",
                      "data_range": {"from": None, "to": None}, "sources": SOURCES, "disputed_records": 1,
                      "notice": "本报告依据《征信业管理条例》出具，仅供报告使用者在授权用途范围内参考，不得用于其他用途，"
                                "不得向第三方提供。信用等级为 PowerCredit 衍生产品，不构成授信建议。",
                      "dispute_notice": "标注「异议中」的记录正在异议处理中（20 日内答复），其内容可能变更。",
                      "retention": "不良信息自不良行为或事件终止之日起保存 5 年，期满不再展示（《征信业管理条例》第十六条）。"},
    }


def bidding_report() -> dict[str, Any]:
    """The bidding edition (招投标专用版) of the same firm: black-listed, its certificate suspended."""
    base = standard_report()
    entry = {"list": "black", "label": "黑名单（失信联合惩戒）", "effect": "barred",
             "text": "列入失信联合惩戒名单：限制参加电力集团公司及所属企业招标与物资采购", "entry_no": 4711,
             "criteria_version": "2024.1", "entered_on": "2026-04-02", "published_on": "2026-04-09",
             "ends_on": "2029-04-08",
             "basis": [{"label": "被人民法院依法认定为失信被执行人",
                        "documents": [{"category": "judicial", "category_label": "司法信息", "number": j["case_no"],
                                       "date": f"2026-0{1 + i}-15"} for i, j in enumerate(judgments(3))]},
                       {"label": "受到严重行政处罚", "documents": [
                           {"category": "penalty", "category_label": "行政处罚", "number": p["decision_no"],
                            "date": p["decided_on"]} for p in penalties(2)]}]}
    sections = {
        "identity": base["sections"]["identity"],
        "rating": {"grade": "C", "grade_label": "信用缺失", "not_rated": False, "reason": None, "score": "38.40",
                   "supervision_class": "D", "supervision_label": "D 类（重点监管）", "scorecard_version": "2.0",
                   "as_of": "2026-11-30", "evaluated_at": "2026-12-01T01:00:00Z", "valid_from": "2026-11-30",
                   "valid_until": "2027-11-29", "in_force": True,
                   "validity_rule": "信用等级自评价基准日起 12 个月内有效（至基准日满 12 个月的前一日）；有效期内重新评价的，"
                                    "以最新评价为准。不予评级（NR）无有效期。",
                   "note": "信用等级为 PowerCredit 依据公开的评分卡计算的衍生产品，不构成授信建议。"},
        "certificate": {"certificate_no": "PCC2026KCJUYGBW46WJ", "grade": "A", "grade_as_of": "2026-01-31",
                        "status": "suspended", "status_label": "暂停", "status_reason": "列入失信联合惩戒名单",
                        "issued_at": "2026-02-23T16:15:00Z", "valid_from": "2026-02-24", "valid_until": "2029-02-23",
                        "next_review_on": "2027-02-24", "verify_path": "/verify/PCC2026KCJUYGBW46WJ"},
        "restrictions": {"barred": True, "warning": False, "summary": entry["text"] + "。", "entries": [entry]},
        "licences": [{**p, "disputed": i == 3} for i, p in enumerate(licences(10))],
        "penalties": [{**p, "disputed": False} for p in penalties(6)],
        "commitments": [{"title": "信用电力自律公约（2024 年修订版，适用于电力建设、承装修试企业）", "version": "2024",
                         "signed_at": "2026-12-07T01:00:02Z", "commitment_no": "cmt_2d82bf5d2a8f"}],
    }
    return {**base, "kind": "bidding", "kind_label": "招投标专用版", "consent": None,
            "recipient": {"type": "enterprise", "name": FIRM, "uscc": USCC},
            "section_list": list(sections), "sections": sections,
            "statement": {**base["statement"], "sources": SOURCES[:1], "disputed_records": 1}}


def render(doc: dict[str, Any]) -> bytes:
    return render_pdf(copy.deepcopy(doc), digest="ab" * 32, verify_url=VERIFY, kid="s1")


def pdftotext(pdf: bytes, tmp_path: Path, *flags: str) -> str:
    path = tmp_path / "layout.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", *flags, str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def amount(value: str, unit: str) -> str:
    number = Decimal(value)
    return f"{number:,.{max(2, -int(number.as_tuple().exponent))}f} {unit}"


def units_of(doc: dict[str, Any]) -> list[str]:
    """What must stay whole on one line, each printed once: document and case numbers,
    contract numbers, amounts with their unit, and the dates found only in a record's text."""
    s = doc["sections"]
    lic = s.get("licences") or [r["payload"] for r in s.get("licence_penalty", []) if r["category"] == "licence"]
    pen = s.get("penalties") or [r["payload"] for r in s.get("licence_penalty", []) if r["category"] == "penalty"]
    out = [p["decision_doc_no"] for p in lic] + [p["valid_to"] for p in lic]
    out += [p["decision_no"] for p in pen] + [amount(p["fine_amount"], "万元") for p in pen]
    out += [p["publish_until"] for p in pen]
    for r in s.get("judicial", []):
        out += [r["payload"]["case_no"], amount(r["payload"]["amount"], "元")]
    for r in s.get("contract", []):
        out += [r["payload"]["contract_no"], amount(r["payload"]["amount"], "元"), r["payload"]["due_on"]]
    for r in s.get("loan", []):
        out += [amount(r["payload"]["amount"], "元"), r["payload"]["end_on"]]
    return out


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_text(text: str, units: list[str], flavour: str) -> None:
    lines = text.splitlines()
    for unit in units:
        whole = squeeze(unit)
        assert any(whole in squeeze(line) for line in lines), f"{flavour}: {unit} broken or missing"
    # -layout puts the columns side by side: each run of text between wide gaps is a cell's line.
    for line in lines:
        for part in re.split(r"\s{2,}", line.strip()):
            assert part[:1] not in CLOSING, f"{flavour}: a line starts with closing punctuation: {line!r}"
            assert part[-1:] not in OPENING, f"{flavour}: a line ends with opening punctuation: {line!r}"


@pytest.mark.parametrize("build", [standard_report, bidding_report])
def test_no_unit_is_broken_and_no_line_breaks_against_the_punctuation(build, tmp_path):
    doc = build()
    units = units_of(doc)
    assert len(units) > 30
    pdf = render(doc)
    for flags in ((), ("-layout",)):
        check_text(pdftotext(pdf, tmp_path, *flags), units, " ".join(flags) or "plain")


def test_amounts_are_written_one_way(tmp_path):
    flat = squeeze(pdftotext(render(standard_report()), tmp_path))
    assert "金额14,574,900.08元" in flat  # a loan
    assert "注册资本12,345.68万元" in flat  # the capital, in 万元
    assert "罚款12.50万元" in flat  # a fine, in 万元
    assert "标的1,234,567.80元" in flat  # a judgment
    assert not re.search(r"\d{4,}\.\d\d(万)?元", flat)  # no amount without its thousands separators


def test_every_record_shows_its_severity_and_status(tmp_path):
    pages = pdftotext(render(standard_report()), tmp_path, "-layout")
    rows = [line for line in pages.splitlines() if re.match(r"\s*\d{4}-\d\d-\d\d\s", line)]
    penalty_rows = [line for line in rows if "京能监罚" in line]
    judicial_rows = [line for line in rows if "执" in line]
    assert penalty_rows and all(re.search(r"不良\s+(轻微|一般|严重)\s", line) for line in penalty_rows)
    assert all(re.search(r"良好\s+—\s", line) for line in rows if "京能监许可" in line)
    assert all(re.search(r"(正常|异议中|已更正)$", line.strip()) for line in penalty_rows + judicial_rows)
    assert sum("已更正" in line for line in judicial_rows) == 1
    # The disputed judgment, in its section and under 异议处理中的记录.
    assert sum(re.search(r"异议中$", line.strip()) is not None for line in judicial_rows) == 2


def test_sources_are_named_in_chinese(tmp_path):
    for doc in (standard_report(), bidding_report()):
        text = pdftotext(render(doc), tmp_path)
        for code in ("bank-credit", "chinatax", "nea-credit", "court-zxgk", "power-ecp"):
            assert code not in text
        assert "国家能源局资质和信用信息系统" in text
    assert "中国建设银行股份有限公司内蒙古自治区分行（信贷信息）" in squeeze(pdftotext(render(standard_report()), tmp_path))


def test_the_data_range_reads_as_a_sentence(tmp_path):
    doc = standard_report()
    assert "数据范围全部历史记录，截至报告日2026-12-07" in squeeze(pdftotext(render(doc), tmp_path))
    doc["statement"]["data_range"] = {"from": "2024-01-01", "to": None}
    assert "2024-01-01起发生的记录，截至报告日2026-12-07" in squeeze(pdftotext(render(doc), tmp_path))
    doc["statement"]["data_range"] = {"from": "2024-01-01", "to": "2025-12-31"}
    assert "2024-01-01至2025-12-31发生的记录" in squeeze(pdftotext(render(doc), tmp_path))


@pytest.mark.parametrize("cover", ["short", "full"])
def test_the_contents_are_not_a_page_of_their_own(cover, tmp_path):
    doc = standard_report()
    if cover == "full":  # a cover with no room left: the contents go atop the sections
        doc["statement"]["notice"] *= 9
    pages = pdftotext(render(doc), tmp_path).split("\f")
    at = next(i for i, page in enumerate(pages) if "目录" in squeeze(page))
    here = squeeze(pages[at])
    if cover == "short":
        assert at == 0 and "被查询企业" in here and "企业名称" not in here  # the cover's; 登记信息 overleaf
    else:
        assert at == 1 and "企业名称" in here.split("目录")[1] and FIRM in here and USCC in here
    assert "目录" not in squeeze("".join(pages[at + 1:]))
    # Each section listed with the page it starts on (the first one, the statement last).
    for title in ("一、身份与登记信息", "十二、数据说明与声明"):
        listed = re.search(rf"{title}\.*?(\d+)", here)
        assert listed, title
        starts = [i for i, page in enumerate(pages, start=1) if title in squeeze(page)]
        assert int(listed.group(1)) == starts[-1]


def rare(text: str, chars: str) -> int:
    return sum(text.count(ch) for ch in chars)


@pytest.mark.parametrize("build", [standard_report, bidding_report])
def test_the_watermark_is_not_text(build, tmp_path):
    doc = build()
    text = pdftotext(render(doc), tmp_path)
    pages = [p for p in text.split("\f") if p.strip()]
    if doc["kind"] == "bidding":  # 招投标专用版 · firm · time: the firm named on the cover, in 登记信息 and each running head
        expected = 2 + (len(pages) - 1)
        assert rare(text, "犇") == expected and rare(text, "骉") == expected
    else:  # the bank · time: the bank named on the cover and in every footer
        assert rare(text, "鑫") == len(pages) + 1 and rare(text, "淼") == len(pages) + 1
    assert "份PC" not in squeeze(text) and f"报告编号 {REPORT_NO}" in text


def cover_pixels(pdf: bytes, tmp_path: Path) -> bytes:
    """The cover, rasterised in grey (one byte a pixel)."""
    path = tmp_path / "wm.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "wm")], check=True)
    image = next(tmp_path.glob("wm*.pgm"))
    data = image.read_bytes()
    image.unlink()
    return data.split(maxsplit=4)[4]


@pytest.mark.parametrize("build", [standard_report, bidding_report])
def test_the_watermark_still_shows(build, tmp_path, monkeypatch):
    shown = cover_pixels(render(build()), tmp_path)

    def empty_form(c: Any, text: str) -> None:
        c.beginForm(WATERMARK)
        c.endForm()

    monkeypatch.setattr(reports.pdf, "_watermark_form", empty_form)
    bare = cover_pixels(render(build()), tmp_path)
    assert len(shown) == len(bare)
    tint = [b - a for a, b in zip(shown, bare, strict=True) if b - a >= 3]
    assert len(tint) > 1000  # the four lines across the page
    assert max(tint) < 40  # faint: a tint over the page, not text in its own right


@pytest.mark.parametrize("count", [1, 2, 12])
def test_the_grade_history_labels_touch_nothing(count):
    from itertools import combinations

    from reportlab.graphics.shapes import String
    from reportlab.lib.units import mm

    from reports.pdf import register_font
    from reports.pdf_graphics import history_chart

    register_font()
    scores = ("96.50", "100.00", "0.00")  # the demo's AAA (its label met the axis's "100"), the top, the bottom
    history = [{"as_of": f"2026-{m:02d}-28", "evaluated_at": None, "grade": "AAA" if m % 3 else "CCC",
                "score": scores[(m - 1) % 3], "scorecard_version": "2.0"} for m in range(1, count + 1)]
    chart = history_chart(history, 174 * mm)
    boxes = [(s.text, s.getBounds()) for s in chart.contents if isinstance(s, String)]
    assert len(boxes) == 6 + 2 * count  # the axis, and each point's grade and date
    for (a, (ax0, ay0, ax1, ay1)), (b, (bx0, by0, bx1, by1)) in combinations(boxes, 2):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} touches {b}"
    for text, (x0, y0, x1, y1) in boxes:
        assert x0 >= 0 and y0 >= 0 and x1 <= chart.width and y1 <= chart.height, text


def test_a_header_never_wraps():
    from reportlab.lib.units import mm

    from reports.pdf import _columns, _header_width, _table, register_font

    register_font()
    head = ["决定日期", "内容", "状态"]
    widths = _columns(head, [10 * mm, 150 * mm, 5 * mm])
    assert sum(widths) == pytest.approx(165 * mm)
    assert all(_header_width(title) <= w for title, w in zip(head, widths, strict=True))
    with pytest.raises(ValueError, match="does not fit"):
        _table([head, ["2026-01-01", "x", "y"]], [10 * mm, 150 * mm, 5 * mm])


def test_a_long_recipient_name_leaves_the_page_number_alone(tmp_path):
    pages = [p for p in pdftotext(render(standard_report()), tmp_path).split("\f") if p.strip()]
    for number, page in enumerate(pages, start=1):
        flat = squeeze(page)
        assert f"第{number}页/共{len(pages)}页" in flat and f"{BANK}·2026-12-0713:53" in flat


def test_the_outlines_are_the_fonts_glyphs(tmp_path):
    """The watermark's shapes are its text's glyphs: drawn as outlines and as text, the two
    rasterise alike, and only the text is text."""
    from reportlab.pdfgen import canvas

    from reports.pdf import FONT, register_font
    from reports.pdf_graphics import draw_text_outline

    register_font()
    text = f"招投标专用版  {FIRM[:14]}  2026-12-07 13:53（PC）〔京〕gjy%"
    pixels, texts = [], []
    for outlined in (False, True):
        path = tmp_path / f"glyphs-{outlined}.pdf"
        c = canvas.Canvas(str(path), pagesize=(760, 40), invariant=1)
        if outlined:
            draw_text_outline(c, text, 10, 12, 20, FONT)
        else:
            c.setFont(FONT, 20)
            c.drawString(10, 12, text)
        c.save()
        subprocess.run(["pdftoppm", "-gray", "-r", "72", str(path), str(tmp_path / f"g{outlined}")], check=True)
        pixels.append(next(tmp_path.glob(f"g{outlined}*.pgm")).read_bytes().split(maxsplit=4)[4])
        texts.append(squeeze(pdftotext(path.read_bytes(), tmp_path)))
    inked = sum(v < 128 for v in pixels[0])
    opposed = sum(abs(a - b) > 128 for a, b in zip(*pixels, strict=True))  # ink in one, paper in the other
    ink = [sum(255 - v for v in p) for p in pixels]
    assert inked > 2000 and opposed < inked / 200 and abs(ink[0] - ink[1]) < ink[0] / 10  # hinting aside, alike
    assert texts == [squeeze(text), ""]
