"""The tenderer's pages: home goes to the screenings; a screening from pasted codes or an
uploaded CSV (UTF-8 or GBK, a ``uscc`` column or one code per line); errors beside their
fields; the results with counts, a filter, downloads and the verification link."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.procurement.models import Screening
from tests.markup import unwrapped
from tests.procurement.conftest import days_ago, dishonest, serious_penalty

FORM = {"tender_name": "输电线路铁塔招标", "tender_no": "ZB-2026-0101"}


@pytest.fixture
def tenderer_in(tender: Any, sign_in: Any) -> Any:
    sign_in(tender.user)
    return tender


def post_form(client: FlaskClient, fields: dict[str, Any], upload: tuple[bytes, str] | None = None) -> Any:
    page = client.get("/procurement/screenings/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    data: dict[str, Any] = {"csrf_token": token.group(1), **fields}
    if upload is not None:
        data["file"] = (io.BytesIO(upload[0]), upload[1])
    return client.post("/procurement/screenings/new", data=data, content_type="multipart/form-data")


def test_the_tenderers_home_is_its_screenings(tenderer_in: Any, client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/procurement/screenings")
    page = client.get("/procurement/screenings").get_data(as_text=True)
    assert "投标人信用筛查" in page and "还没有筛查结果" in page and "新建筛查" in page
    assert "「真伪核验」" in page and "报告核验" not in page  # the navigation's name for /verify


def test_a_screening_from_pasted_codes(tenderer_in: Any, client: FlaskClient, make_enterprise: Any, grade: Any,
                                       add: Any, listed: Any, db: Any) -> None:
    good, bad = make_enterprise(), make_enterprise()
    grade(good, "AA")
    grade(bad, "A")
    listed(bad, "black", [add(bad, "penalty", serious_penalty(days_ago(45), no="浙能监罚〔2026〕31号"))])
    codes = f"{good.uscc}\n{bad.uscc}， 91110000053621038X\n\n{good.uscc}"
    resp = post_form(client, {**FORM, "rules.min_grade": "BBB", "rules.nr_policy": "", "codes": codes,
                              "bar_watch": "1", "rules.serious_penalty_years": "3",
                              "rules.max_serious_penalties": "0"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    screening = db.scalars(sa.select(Screening)).one()
    assert resp.headers["Location"].endswith(f"/procurement/screenings/{screening.screening_no}")
    assert screening.rules == {"min_grade": "BBB", "nr_policy": "fail", "barred_lists": ["black", "watch"],
                               "max_open_dishonest": None, "serious_penalty_years": 3, "max_serious_penalties": 0,
                               "certificate_required": False}
    assert (screening.total, screening.passed, screening.failed, screening.not_found) == (3, 1, 1, 1)
    assert screening.user_id == tenderer_in.user.id
    page = unwrapped(client.get(resp.headers["Location"]).get_data(as_text=True))
    assert f"已完成筛查 {screening.screening_no}：共 3 家投标人，通过 1 家，不通过 1 家，未查到或代码无效 1 家。" in page
    for expected in (good.name, bad.name, "浙能监罚〔2026〕31号", "代码无效", "与第 1 行重复", "下载 CSV", "下载 PDF",
                     "下载签名文件（JSON）", f"/verify/{screening.screening_no}?digest={screening.digest}",
                     "信用等级不低于 BBB", f"/api/v1/screenings/{screening.screening_no}/csv"):
        assert expected in page, expected
    failed = client.get(f"/procurement/screenings/{screening.screening_no}?outcome=fail").get_data(as_text=True)
    assert bad.name in failed and good.name not in failed
    refused = client.get(f"/procurement/screenings/{screening.screening_no}?outcome=maybe")
    assert refused.status_code == 422
    listing = client.get("/procurement/screenings").get_data(as_text=True)
    assert screening.screening_no in listing and "输电线路铁塔招标" in listing
    # the page's downloads work with the session
    assert client.get(f"/api/v1/screenings/{screening.screening_no}/csv").status_code == 200


ENGLISH_KEY = re.compile(r"\b(?:query\.)?[a-z]+(?:_[a-z]+)+\b|\bquery\.[a-z]+\b")


def visible_text(html: str) -> str:
    """What a reader sees: no markup, scripts, styles or attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", unwrapped(html), flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_pages_speak_chinese_and_end_a_sentence_once(tenderer_in: Any, client: FlaskClient,
                                                         make_enterprise: Any, consent_to: Any, db: Any) -> None:
    """No field or parameter name inside a Chinese sentence (query.outcome, serious_penalty_years,
    screening_no), no "。。": a bad filter, a half-given rule, a malformed number, a spent consent."""
    ent = make_enterprise()
    consent = consent_to(ent, tenderer_in.institution)
    rules = {"rules.max_open_dishonest": "0"}
    for _ in range(2):  # the second spends no consent: the row says why, from the gate
        assert post_form(client, {**FORM, **rules, "codes": ent.uscc}).status_code == 302
    number = db.scalars(sa.select(Screening.screening_no).order_by(Screening.id.desc())).first()
    pages = {
        "filter": client.get(f"/procurement/screenings/{number}?outcome=maybe"),
        "form": post_form(client, {**FORM, "codes": ent.uscc, "rules.serious_penalty_years": "3"}),
        "verify": client.get("/verify/PS2026"),
        "detail": client.get(f"/procurement/screenings/{number}"),
        "list": client.get("/procurement/screenings"),
        "new": client.get("/procurement/screenings/new"),
    }
    assert [pages[k].status_code for k in ("filter", "form", "verify")] == [422, 422, 422]
    filtered = visible_text(pages["filter"].get_data(as_text=True))
    assert "按结论筛选：只能按「不通过」「通过」「未查到、代码无效或重复」筛选。" in filtered
    assert ent.name in filtered  # every row shown beneath the error
    assert "给出了严重行政处罚的统计年限，须同时给出次数上限。" in pages["form"].get_data(as_text=True)
    assert "筛查结果编号：筛查结果编号应为" in visible_text(pages["verify"].get_data(as_text=True))
    assert "授权未能使用（一次性授权已使用，不能再次查询），按公开信息筛查" in pages["detail"].get_data(as_text=True)
    for name, resp in pages.items():
        # the consent's id (cst_ + base32: all letters about once in 150 draws) is shown as an id, no key
        text = visible_text(resp.get_data(as_text=True)).replace(consent.consent_id, "cst_…")
        assert ENGLISH_KEY.findall(text) == [], name
        assert "。。" not in text and "。）" not in text, name

def test_full_width_codes_pasted_or_uploaded(tenderer_in: Any, client: FlaskClient, make_enterprise: Any,
                                             db: Any) -> None:
    a, b = make_enterprise(), make_enterprise()
    wide = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHJKLMNPQRTUWXY"}
    pasted = "\u3000".join("".join(wide[c] for c in e.uscc) for e in (a, b))
    assert post_form(client, {**FORM, "codes": pasted}).status_code == 302
    uploaded = ("uscc\n" + "".join(wide[c] for c in b.uscc) + "\u3000\n").encode("gb18030")
    assert post_form(client, {**FORM, "codes": ""}, (uploaded, "x.csv")).status_code == 302
    bodies = [__import__("json").loads(s.body) for s in db.scalars(sa.select(Screening).order_by(Screening.id))]
    assert [[(r["uscc"], r["status"]) for r in body["bidders"]] for body in bodies] == [
        [(a.uscc, "NR"), (b.uscc, "NR")], [(b.uscc, "NR")]]


@pytest.mark.parametrize(("content", "encoding"), [
    ("序号,uscc,名称\n1,{a},甲\n2,{b},乙\n", "utf-8-sig"),
    ("统一社会信用代码,企业名称\r\n{a},甲公司\r\n{b},乙公司\r\n", "gb18030"),
    ("{a}\n\n{b}\n", "utf-8"),
])
def test_a_screening_from_an_uploaded_csv(tenderer_in: Any, client: FlaskClient, make_enterprise: Any, db: Any,
                                          content: str, encoding: str) -> None:
    a, b = make_enterprise(), make_enterprise()
    data = content.format(a=a.uscc, b=b.uscc).encode(encoding)
    resp = post_form(client, FORM, (data, "投标人.csv"))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    screening = db.scalars(sa.select(Screening)).one()
    rows = __import__("json").loads(screening.body)["bidders"]
    assert [r["uscc"] for r in rows] == [a.uscc, b.uscc]


@pytest.mark.parametrize(("fields", "upload", "field", "message"), [
    ({"codes": ""}, None, "codes", "请粘贴投标人的统一社会信用代码（每行一个），或上传 CSV 文件。"),
    ({"codes": "91110000053621038D", "rules.serious_penalty_years": "3"}, None, "rules.max_serious_penalties",
     "给出了严重行政处罚的统计年限，须同时给出次数上限。"),
    ({"codes": "91110000053621038D", "rules.max_open_dishonest": "两条"}, None, "rules.max_open_dishonest", "应为整数。"),
    ({"codes": "91110000053621038D", "tender_name": ""}, None, "tender_name", "缺少必填字段"),
    ({"codes": ""}, (b"a,b\n1,2\n", "x.csv"), "file", "CSV 有多列时，须有名为 uscc"),
    ({"codes": ""}, (b"\xff\xfe\x00\x00\x81", "x.csv"), "file", "应为 UTF-8 或 GBK（GB18030）编码"),
    ({"codes": "91110000053621038D"}, (b"91110000053621038D\n", "x.csv"), "file", "请只用一种方式提交"),
    ({"codes": ""}, (b"uscc\n", "x.csv"), "file", "文件只有表头"),
    ({"codes": ""}, (b",,\n,\n", "x.csv"), "file", "文件中只有分隔符"),  # was an IndexError (500)
    ({"codes": ""}, (b'"' + b"9" * 140_000 + b'"\n', "x.csv"), "file", "CSV 格式有误"),  # was a csv.Error (500)
    ({"codes": ""}, ("\n".join(["91110000053621038D"] * 10_001).encode(), "x.csv"), "file", "一次至多 10000 个"),
])
def test_form_errors_beside_their_fields(tenderer_in: Any, client: FlaskClient, db: Any, fields: dict[str, Any],
                                         upload: tuple[bytes, str] | None, field: str, message: str) -> None:
    resp = post_form(client, {**FORM, **fields}, upload)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    found = re.search(rf'<p class="err" id="{re.escape(field.replace(".", "-"))}-err" role="alert">([^<]*)</p>', page)
    assert found is not None, page[:3000]
    assert message in found.group(1)
    assert db.scalar(sa.select(sa.func.count()).select_from(Screening)) == 0


@pytest.mark.parametrize("upload", [
    (b"a,b\n1,2\n", "x.csv"),  # no uscc column
    (b"uscc\n", "x.csv"),  # the header only
    (b"\xff\xfe\x00\x00\x81", "x.csv"),  # no text
    (b",,\n,\n", "x.csv"),
])
def test_a_bad_file_is_the_files_error_only(tenderer_in: Any, client: FlaskClient, upload: tuple[bytes, str]) -> None:
    """Codes were sent in the file, not pasted: the empty text box is not at fault."""
    resp = post_form(client, {**FORM, "codes": ""}, upload)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'id="file-err"' in page
    assert 'id="codes-err"' not in page and "应为 1–10000 个统一社会信用代码" not in page


def test_every_rule_error_beside_its_field_at_once(tenderer_in: Any, client: FlaskClient) -> None:
    resp = post_form(client, {**FORM, "codes": "91110000053621038D", "rules.min_grade": "X",
                              "rules.max_open_dishonest": "两条", "rules.serious_penalty_years": "9"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    for field, message in (("rules-min_grade", "取值应为以下之一"), ("rules-max_open_dishonest", "应为整数。"),
                           ("rules-serious_penalty_years", "应为 1–5 年"),
                           ("rules-max_serious_penalties", "给出了严重行政处罚的统计年限，须同时给出次数上限。")):
        found = re.search(rf'<p class="err" id="{field}-err" role="alert">([^<]*)</p>', page)
        assert found is not None and message in found.group(1), field


def test_the_basis_reads_without_stray_spaces(tenderer_in: Any, client: FlaskClient, make_enterprise: Any,
                                              grade: Any, add: Any, listed: Any, db: Any) -> None:
    """The 依据 pieces (a grade and its date, a list record, a court and its dates, a record
    without a reference) are joined with full-width punctuation and no space before it."""
    low, black = make_enterprise(), make_enterprise()
    grade(low, "C")
    grade(black, "A")
    records = [add(black, "judicial", dishonest(1, days_ago(60))), add(black, "penalty", serious_penalty(days_ago(45))),
               add(black, "safety", {"accident_on": days_ago(80).isoformat(), "level": "major", "deaths": 11,
                                     "description": "施工坍塌"})]
    entry = listed(black, "black", records)
    resp = post_form(client, {**FORM, "codes": f"{low.uscc}\n{black.uscc}", "rules.min_grade": "BBB",
                              "rules.max_open_dishonest": "0"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    number = db.scalars(sa.select(Screening.screening_no)).one()
    html = client.get(f"/procurement/screenings/{number}").get_data(as_text=True)
    basis = " ".join(re.findall(r"<details>.*?</details>", html, flags=re.S))
    text = re.sub(r"\s+", " ", visible_text(basis))
    listed_on = f"名单记录 #{entry.id}，列入 {entry.entered_on}，公布 {entry.published_on}，期限至 {entry.ends_on}（公开信息）"
    for expected in ("信用等级低于 BBB：C，评价 ", listed_on, "人民法院，立案 ", "生产安全事故，事故 "):
        assert expected in text, (expected, text)
    assert re.findall(r"\s[，。；：（）]", text) == [], text


def test_pages_are_for_tenderers(client: FlaskClient, make_user: Any, sign_in: Any, tender: Any) -> None:
    html = {"Accept": "text/html"}
    to_sign_in = client.get("/procurement/screenings", headers=html)
    assert to_sign_in.status_code == 302 and "/login?next=" in to_sign_in.headers["Location"]
    sign_in(make_user("bank"))
    for path in ("/procurement/screenings", "/procurement/screenings/new"):
        assert client.get(path, headers=html).status_code == 403
