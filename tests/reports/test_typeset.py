"""Chinese line breaking (reports/typeset.py): no break inside a date, amount, code or
document number, no closing punctuation at a line's start nor opening punctuation at its end,
for a table cell (``wrap``) and a paragraph (``Paragraph``) alike, at every width."""

from __future__ import annotations

import pytest
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics

from reports.pdf import FONT, register_font
from reports.typeset import CLOSING, OPENING, Paragraph, wrap

SIZE = 8
# Texts as the report's cells and paragraphs hold them, and the units in each that must stay whole.
SAMPLES = [
    ("普通许可；关于准予特种设备生产许可证的决定；京能监许可〔2022〕825号；国家能源局华北监管局；"
     "有效期 2024-08-28 至 2027-08-28",
     ["京能监许可〔2022〕825号", "2024-08-28", "2027-08-28"]),
    ("行政处罚 罚〔2026〕236号；未按规定报送电力安全信息；警告、罚款；罚款 12.50 万元；国家能源局；"
     "公示至 2029-03-01",
     ["罚〔2026〕236号", "12.50 万元", "2029-03-01"]),
    ("(2024)京0108执1816号；北京市海淀区人民法院；全部未履行；失信被执行人（规避执行）；"
     "标的 1,234,567.80 元",
     ["(2024)京0108执1816号", "1,234,567.80 元"]),
    ("（2023）内0622执恢2077号；准格尔旗人民法院；部分未履行；标的 98,765.43 元",
     ["（2023）内0622执恢2077号", "98,765.43 元"]),
    ("合同 ECP-2026-53137；电缆采购；对方 国网内蒙古东部电力有限公司；金额 2,325,374.74 元；"
     "到期 2026-10-29；按期履约",
     ["ECP-2026-53137", "2,325,374.74 元", "2026-10-29"]),
    ("被查询企业内蒙古犇骉新能源电力工程建设集团有限责任公司（统一社会信用代码 91150622MA0N8K2X4L），"
     "报告编号 PC20261207ABCDEFGHJKLM，出具时间 2026-12-07 13:53（北京时间）。",
     ["91150622MA0N8K2X4L", "PC20261207ABCDEFGHJKLM", "2026-12-07 13:53"]),
    ("获得的荣誉与表彰（国家级 3、省级 2、行业 1.5、市级 1、未注明 0.5）：1，得 75 分；"
     "实缴资本（万元；实缴未知时按认缴资本的 30% 计）：4,917，得 60 分",
     ["30%", "4,917", "75 分"]),
]
WIDTHS = range(70, 330, 7)


@pytest.fixture(scope="module", autouse=True)
def font() -> None:
    register_font()


def width_of(text: str) -> float:
    return pdfmetrics.stringWidth(text, FONT, SIZE)


def bound(text: str, unit: str) -> str:
    """The unit with the punctuation bound to it: opening before it, closing after it."""
    start = text.index(unit)
    end = start + len(unit)
    while start > 0 and text[start - 1] in OPENING:
        start -= 1
    while end < len(text) and text[end] in CLOSING:
        end += 1
    return text[start:end]


def check_lines(text: str, units: list[str], lines: list[str], width: float) -> None:
    # Nothing lost: the lines are the text, less the spaces a break swallowed.
    assert "".join(lines).replace(" ", "") == text.replace(" ", ""), lines
    for unit in units:
        if width_of(bound(text, unit)) <= width:  # a unit that fits a line is never broken
            assert any(unit in line for line in lines), (unit, width, lines)
    for before, after in zip(lines, lines[1:], strict=False):
        assert after[:1] not in CLOSING, (width, before, after)  # 避头
        assert before[-1:] not in OPENING, (width, before, after)  # 避尾


@pytest.mark.parametrize(("text", "units"), SAMPLES)
def test_a_cell_breaks_by_chinese_rules_at_every_width(text, units):
    for width in WIDTHS:
        lines = wrap(text, width, FONT, SIZE)
        check_lines(text, units, lines, width)
        for line in lines:
            # Full lines: each as wide as fits, never wider (a space may hang, and is trimmed).
            assert width_of(line) <= width + 1e-6 or not all(width_of(bound(text, u)) <= width for u in units), \
                (width, line)


def test_a_unit_longer_than_the_line_is_broken_as_a_last_resort():
    url = "http://127.0.0.1:8000/verify/PC2026120762ZQJX3V7TMN?digest=5ea5c8bb6c0ef5b5ee098587b7e51823237720e49be"
    lines = wrap(url, 100, FONT, SIZE)
    assert len(lines) > 1 and "".join(lines) == url
    assert all(width_of(line) <= 100 for line in lines)
    assert lines[0].endswith("/")  # at a slash, where an address breaks best


def test_a_closing_bracket_goes_down_with_the_character_before_it():
    text = "国家企业信用信息公示系统（市场监管）"
    for width in WIDTHS:
        lines = wrap(text, width, FONT, SIZE)
        assert all(not line.startswith("）") for line in lines)
        assert all(not line.endswith("（") for line in lines[:-1])


def test_a_label_stays_with_its_number_unless_they_do_not_fit_together():
    text = "对方 国网内蒙古东部电力有限公司；金额 2,325,374.74 元；到期 2026-10-29"
    for width in WIDTHS:
        if width >= width_of("金额 2,325,374.74 元；"):
            lines = wrap(text, width, FONT, SIZE)
            assert any("金额 2,325,374.74 元" in line for line in lines), lines
    # Too narrow for the label and the amount together: the label goes, the amount stays whole.
    narrow = wrap("金额 2,325,374.74 元", width_of("2,325,374.74 元") + 1, FONT, SIZE)
    assert narrow == ["金额", "2,325,374.74 元"]


def paragraph_lines(markup: str, width: float) -> list[str]:
    style = ParagraphStyle("t", fontName=FONT, fontSize=SIZE, leading=SIZE * 1.4, wordWrap="CJK")
    p = Paragraph(markup, style)
    p.wrap(width, 10_000)
    return ["".join(frag.text for frag in line.words) for line in p.blPara.lines]


@pytest.mark.parametrize(("text", "units"), SAMPLES)
def test_a_paragraph_breaks_by_the_same_rules(text, units):
    for width in WIDTHS:
        check_lines(text, units, paragraph_lines(text.replace("&", "&amp;"), width), width)


def test_a_paragraph_keeps_its_markup_and_its_line_breaks():
    markup = ("<b>投标限制</b>：列入失信联合惩戒名单（京能监罚〔2026〕236号 2026-03-01）<br/>"
              "依据：<font size=6>(2024)京0108执1816号</font>；标的 1,234,567.80 元")
    for width in WIDTHS:
        lines = paragraph_lines(markup, width)
        first = next(i for i, line in enumerate(lines) if line.endswith("）"))
        assert lines[first + 1].startswith("依据")  # the <br/> ends a line
        check_lines("投标限制：列入失信联合惩戒名单（京能监罚〔2026〕236号 2026-03-01）依据：(2024)京0108执1816号；"
                    "标的 1,234,567.80 元", ["京能监罚〔2026〕236号", "2026-03-01", "1,234,567.80 元"], lines, width)
