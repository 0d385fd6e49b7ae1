"""The screening API: who may screen (a procurement institution's system with
``screening:write``, a signed-in tenderer with the CSRF token) and who may not (nobody, banks,
firms, operators, providers); rows that are no code, unknown or repeated reported per row in a
201; bad bodies refused naming the field; tenancy (another tenderer's screening is a 404)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.archive.uscc import make_uscc
from app.audit.models import AuditEvent
from app.procurement.models import Screening, ScreeningBidder
from consent.models import QueryLog
from tests.consent.conftest import bearer
from tests.procurement.conftest import make_tender, row_of

BAD_CHECK = "91110000053621038X"  # a real code with its check character changed (D → X)


def test_a_procurement_system_screens_and_reads_its_screening(tender: Any, make_enterprise: Any, grade: Any,
                                                              db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "AA")
    resp = tender.screen([ent.uscc])
    assert resp.status_code == 201
    number = resp.headers["X-Screening-No"]
    assert resp.headers["Location"].endswith(f"/api/v1/screenings/{number}")
    body = resp.get_json()
    assert body["screening"]["screening_no"] == number and number.startswith("PS") and len(number) == 22
    assert set(body) == {"screening", "digest", "digest_alg", "signature", "kid", "verify_url"}
    again = tender.http.get(resp.headers["Location"], headers=bearer(tender.token()))
    assert again.status_code == 200 and again.get_data() == resp.get_data()
    listed = tender.http.get("/api/v1/screenings", headers=bearer(tender.token())).get_json()
    assert [i["screening_no"] for i in listed["items"]] == [number]
    assert listed["items"][0] | {"created_at": None} == {
        "screening_no": number, "tender_no": "ZB-2026-0042", "tender_name": "2026 年第二批配网物资协议库存招标",
        "created_at": None, "total": 1, "passed": 1, "failed": 0, "not_found": 0, "digest": body["digest"]}
    stored = db.scalar(sa.select(Screening).where(Screening.screening_no == number))
    assert (stored.client_pk, stored.user_id, stored.institution_id) == (tender.oauth.id, None, tender.institution.id)
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "screening.create",
                                                  AuditEvent.subject_id == number))
    assert event.actor == f"client:{tender.oauth.client_id}"
    assert event.detail["digest"] == body["digest"] and event.detail["bidders"] == 1


def test_unknown_codes_bad_check_characters_and_duplicates_are_rows(tender: Any, make_enterprise: Any,
                                                                    grade: Any, db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    unknown = make_uscc("9", "1", "110108", "55667788")  # a valid code no firm in the archive has
    codes = [ent.uscc, BAD_CHECK, unknown, f"  {ent.uscc.lower()} ", "12345", "", unknown]
    resp = tender.screen(codes)
    assert resp.status_code == 201, resp.get_json()
    rows = resp.get_json()["screening"]["bidders"]
    assert [(r["row"], r["status"], r["outcome"], r["duplicate_of"]) for r in rows] == [
        (1, "found", "pass", None), (2, "invalid", None, None), (3, "unknown", None, None),
        (4, "duplicate", None, 1), (5, "invalid", None, None), (6, "invalid", None, None), (7, "duplicate", None, 3)]
    assert rows[1]["uscc"] == BAD_CHECK
    assert rows[1]["reasons"] == ["统一社会信用代码无效：校验位错误：第 18 位应为 D，实为 X"]
    assert rows[2]["reasons"] == [f"信用档案中没有统一社会信用代码为 {unknown} 的企业，无法筛查：请核实代码，或请该企业在本平台登记"]
    assert rows[3]["reasons"] == ["与第 1 行重复，只筛查一次、只计一次"]
    assert rows[4]["reasons"] == ["统一社会信用代码无效：统一社会信用代码应为 18 位，实为 5 位"]
    assert rows[5]["reasons"] == ["统一社会信用代码无效：统一社会信用代码应为 18 位，实为 0 位"]
    assert resp.get_json()["screening"]["summary"] == {"rows": 7, "bidders": 5, "passed": 1, "failed": 0,
                                                       "not_found": 4, "duplicates": 2, "consents_used": 0}
    screening = db.scalar(sa.select(Screening).where(Screening.screening_no == resp.headers["X-Screening-No"]))
    assert (screening.total, screening.passed, screening.failed, screening.not_found) == (5, 1, 0, 4)
    bidders = db.scalars(sa.select(ScreeningBidder).where(ScreeningBidder.screening_pk == screening.id)).all()
    assert [(b.enterprise_id, b.outcome) for b in bidders] == [(ent.id, "pass")]  # counted once
    assert db.scalar(sa.select(sa.func.count()).select_from(QueryLog)
                     .where(QueryLog.resource == f"screening:{screening.screening_no}")) == 1


def test_a_row_that_is_no_text_at_all_is_shown_cleaned(tender: Any) -> None:
    body = {"tender_name": "配网物资招标", "codes": ["91\u0000abc\ud800" + "x" * 80, "9111000005362103\ud800D"]}
    resp = tender.http.post("/api/v1/screenings", data=json.dumps(body), content_type="application/json",
                            headers=bearer(tender.token()))  # JSON may spell a lone surrogate, \ud800
    assert resp.status_code == 201, resp.get_json()
    long, odd = resp.get_json()["screening"]["bidders"]
    assert (long["status"], odd["status"]) == ("invalid", "invalid")
    assert long["uscc"] == "91\ufffdABC\ufffd" + "X" * 33 + "…"
    assert odd["uscc"] == "9111000005362103\ufffdD"
    assert odd["reasons"] == ["统一社会信用代码无效：统一社会信用代码含非法字符 \ufffd（不使用 I、O、S、V、Z）"]


def full_width(text: str) -> str:
    """ASCII as typed with a Chinese input method in full-width mode (９１… Ａ…)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_full_width_codes_are_read_as_codes(tender: Any, make_enterprise: Any, grade: Any) -> None:
    """Full-width digits and letters and the spaces around a code (an ideographic space, a
    zero-width one) are read as the code they spell; a row that is still no code keeps what
    was sent."""
    lettered = make_enterprise(uscc=make_uscc("9", "1", "330106", "MA01W2XQ"))
    plain = make_enterprise()
    grade(lettered, "AA")
    unknown = make_uscc("9", "1", "110108", "55667799")
    sent = ["\u3000" + full_width(lettered.uscc.lower()) + " \u200b", full_width(plain.uscc), lettered.uscc,
            full_width(unknown), full_width(BAD_CHECK)]
    resp = tender.screen(sent)
    assert resp.status_code == 201, resp.get_json()
    rows = resp.get_json()["screening"]["bidders"]
    assert [(r["uscc"], r["status"], r["duplicate_of"]) for r in rows] == [
        (lettered.uscc, "found", None), (plain.uscc, "NR", None), (lettered.uscc, "duplicate", 1),
        (unknown, "unknown", None), (full_width(BAD_CHECK), "invalid", None)]
    assert rows[0]["name"] == lettered.name and rows[0]["outcome"] == "pass"
    assert rows[4]["reasons"] == ["统一社会信用代码无效：校验位错误：第 18 位应为 D，实为 X"]


@pytest.mark.parametrize(("code", "reason"), [
    ("9111000005362103\u0000D", "含不可见字符 U+0000（第 17 位）"),
    ("91110000\u00070536\u200b21038D", "含不可见字符 U+0007（第 9 位）、U+200B（第 14 位）"),
    ("\u00079111000005362103 8D", "含不可见字符 U+0007（第 1 位）"),
])
def test_a_control_character_in_a_code_refuses_the_row(tender: Any, code: str, reason: str) -> None:
    """Never silently dropped (a code is not guessed at): the row is invalid, its reason names
    the character and its place, and the text kept shows it as U+FFFD."""
    resp = tender.screen([code])
    assert resp.status_code == 201, resp.get_json()
    (row,) = resp.get_json()["screening"]["bidders"]
    assert row["status"] == "invalid"
    assert row["reasons"] == [f"统一社会信用代码无效：{reason}，请删去后重新提交"]
    assert row["uscc"] == "".join("\ufffd" if c in "\u0000\u0007\u200b" else c for c in code.strip())


def test_at_most_10000_codes(tender: Any) -> None:
    resp = tender.screen(["91110000053621038D"] * 10_001)
    assert resp.status_code == 422
    problem = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert problem["errors"] == {"codes": ["应为 1–10000 个统一社会信用代码（超过请分批提交）。"]}


@pytest.mark.parametrize(("body", "errors"), [
    ({"codes": []}, {"codes": ["应为 1–10000 个统一社会信用代码（超过请分批提交）。"]}),
    ({"rules": {"min_grade": "AAAA"}}, {"rules.min_grade": ["取值应为以下之一：AAA、AA、A、BBB、BB、B、CCC、CC、C。"]}),
    ({"rules": {"barred_lists": ["watch"]}},
     {"rules.barred_lists": ["须包含黑名单（取值 black）：依中电联意见，列入失信联合惩戒名单（黑名单）的企业一律不得参与投标。"]}),
    ({"rules": {"barred_lists": ["red"]}}, {"rules.barred_lists[0]": ["取值应为以下之一：black、watch。"]}),
    ({"rules": {"serious_penalty_years": 3}},
     {"rules.max_serious_penalties": ["给出了严重行政处罚的统计年限，须同时给出次数上限。"]}),
    ({"rules": {"max_serious_penalties": 0}},
     {"rules.serious_penalty_years": ["给出了严重行政处罚的次数上限，须同时给出统计年限。"]}),
    ({"rules": {"serious_penalty_years": 6, "max_serious_penalties": 0}},
     {"rules.serious_penalty_years": ["应为 1–5 年（不良记录在信用档案中只保存 5 年）。"]}),
    ({"rules": {"max_open_dishonest": -1}}, {"rules.max_open_dishonest": ["应为 0–1000 的整数。"]}),
    ({"rules": {"certificate_required": "yes"}}, {"rules.certificate_required": ["应为 true 或 false。"]}),
    ({"rules": {"nr_policy": "maybe"}}, {"rules.nr_policy": ["取值应为以下之一：pass、fail。"]}),
    ({"rules": {"colour": "red"}}, {"rules.colour": ["未知字段。"]}),
    ({"codes": ["91110000053621038D", 91110000053621038]}, {"codes[1]": ["应为字符串。"]}),
    ({"codes": [None]}, {"codes[0]": ["不能为空值。"]}),
    ({"tender_name": ""}, {"tender_name": ["长度应为 1–300 个字符。", "不能只有空白或不可见字符。"]}),
    ({"tender_name": None}, {"tender_name": ["不能为空值。"]}),
])
def test_bad_bodies_are_refused_naming_the_field(tender: Any, body: dict[str, Any], errors: dict[str, Any]) -> None:
    full = {"tender_name": "配网物资招标", "codes": ["91110000053621038D"], **body}
    resp = tender.http.post("/api/v1/screenings", json=full, headers=bearer(tender.token()))
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["errors"] == errors


BLACK_REQUIRED = "须包含黑名单（取值 black）：依中电联意见，列入失信联合惩戒名单（黑名单）的企业一律不得参与投标。"
GRADE_CHOICES = "取值应为以下之一：AAA、AA、A、BBB、BB、B、CCC、CC、C。"


@pytest.mark.parametrize(("rules", "errors"), [
    ({"barred_lists": ["watch"], "min_grade": "X"},
     {"rules.min_grade": [GRADE_CHOICES], "rules.barred_lists": [BLACK_REQUIRED]}),
    ({"min_grade": "X", "serious_penalty_years": 3},
     {"rules.min_grade": [GRADE_CHOICES], "rules.max_serious_penalties": ["给出了严重行政处罚的统计年限，须同时给出次数上限。"]}),
    ({"barred_lists": ["watch", "red"], "serious_penalty_years": 6, "colour": "red"},
     {"rules.barred_lists[1]": ["取值应为以下之一：black、watch。"],
      "rules.serious_penalty_years": ["应为 1–5 年（不良记录在信用档案中只保存 5 年）。"],
      "rules.max_serious_penalties": ["给出了严重行政处罚的统计年限，须同时给出次数上限。"], "rules.colour": ["未知字段。"]}),
    ({"max_serious_penalties": "多", "nr_policy": "maybe"},
     {"rules.max_serious_penalties": ["应为整数。"], "rules.serious_penalty_years": ["给出了严重行政处罚的次数上限，须同时给出统计年限。"],
      "rules.nr_policy": ["取值应为以下之一：pass、fail。"]}),
    ({"barred_lists": "black", "min_grade": "X"},
     {"rules.barred_lists": ["应为列表。"], "rules.min_grade": [GRADE_CHOICES]}),
])
def test_every_error_of_the_rules_at_once(tender: Any, rules: dict[str, Any], errors: dict[str, Any]) -> None:
    """A field's error does not hide the rules' cross-field errors until the next request."""
    full = {"tender_name": "配网物资招标", "codes": ["91110000053621038D"], "rules": rules}
    resp = tender.http.post("/api/v1/screenings", json=full, headers=bearer(tender.token()))
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["errors"] == errors


def test_a_body_that_is_not_json(tender: Any) -> None:
    resp = tender.http.post("/api/v1/screenings", data="{codes:", content_type="application/json",
                            headers=bearer(tender.token()))
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "malformed_json"


def test_nobody_is_told_to_authenticate_first(client: FlaskClient) -> None:
    for method, path in (("post", "/api/v1/screenings"), ("get", "/api/v1/screenings"),
                         ("get", "/api/v1/screenings/PS20261118ABCDEFGHJKLM"),
                         ("get", "/api/v1/screenings/PS20261118ABCDEFGHJKLM/pdf"),
                         ("get", "/api/v1/screenings/PS20261118ABCDEFGHJKLM/csv")):
        resp = getattr(client, method)(path, json={"codes": "not even a list"} if method == "post" else None)
        assert resp.status_code == 401, (path, resp.get_json())
        assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="powercredit"')
        assert resp.get_json()["code"] == "sign_in_required"


def test_the_openapi_document_lists_the_refusals(client: FlaskClient) -> None:
    """Every screening operation documents the 401 (nobody), the 403 (not a tenderer, a token
    without the scope) and the 429 it answers, as problem+json; those naming a screening, its 404."""
    doc = client.get("/api/openapi.json").get_json()
    operations = {("post", "/api/v1/screenings"): (401, 403, 422, 429), ("get", "/api/v1/screenings"): (401, 403, 429)}
    for tail in ("", "/pdf", "/csv"):
        operations[("get", "/api/v1/screenings/{screening_no}" + tail)] = (401, 403, 404, 429)
    for (method, path), codes in operations.items():
        responses = doc["paths"][path][method]["responses"]
        for code in codes:
            ref = responses[str(code)]["$ref"]
            assert ref == f"#/components/responses/{HTTPStatus(code).name}", (method, path, code)
            assert "application/problem+json" in doc["components"]["responses"][HTTPStatus(code).name]["content"]

def test_a_bank_token_lacks_the_scope(client: FlaskClient, db: Any) -> None:
    from app.accounts.services import create_institution
    from app.oauth.services import register_bank_client
    from tests.consent.conftest import basic

    bank = create_institution(db, name="某商业银行", licence_no="B0099B211000001")
    oauth, secret = register_bank_client(db, bank, name="信贷系统", redirect_uris=["https://bank.example.com/cb"])
    assert "screening:write" not in oauth.scope.split()
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(oauth.client_id, str(secret))).get_json()["access_token"]
    resp = client.post("/api/v1/screenings", json={"tender_name": "x", "codes": ["91110000053621038D"]},
                       headers=bearer(token))
    assert resp.status_code == 403
    assert resp.get_json()["code"] == "insufficient_scope"
    assert 'scope="screening:write"' in resp.headers["WWW-Authenticate"]
    asked = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "screening:write"},
                        headers=basic(oauth.client_id, str(secret)))
    assert asked.status_code == 400 and asked.get_json()["error"] == "invalid_scope"


def test_a_provider_token_lacks_the_scope(client: FlaskClient, make_provider: Any, make_client: Any,
                                         token_for: Any) -> None:
    oauth, secret = make_client(make_provider())
    resp = client.get("/api/v1/screenings", headers=bearer(token_for(oauth, secret)))
    assert resp.status_code == 403 and resp.get_json()["code"] == "insufficient_scope"


def test_a_bank_client_given_the_scope_is_still_no_tenderer(client: FlaskClient, db: Any, token_for: Any) -> None:
    from app.accounts.services import create_institution
    from app.oauth.services import register_client

    bank = create_institution(db, name="某商业银行", licence_no="B0098B211000001")
    oauth, secret = register_client(db, name="误配的客户端", scope="screening:write", grant_types=["client_credentials"],
                                    institution_id=bank.id)
    resp = client.post("/api/v1/screenings", json={"tender_name": "x", "codes": ["91110000053621038D"]},
                       headers=bearer(token_for(oauth, secret)))
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_a_tenderer"


@pytest.mark.parametrize("role", ["bank", "firm", "operator", "group"])
def test_other_roles_signed_in_are_refused(client: FlaskClient, make_user: Any, make_enterprise: Any, sign_in: Any,
                                           role: str, db: Any) -> None:
    if role == "group":
        from app.accounts.services import create_institution, create_user
        from tests.conftest import PASSWORD

        parent = make_enterprise()
        create_institution(db, name="某电力集团", licence_no="GRP0001", kind="group", uscc=parent.uscc)
        user = create_user(db, username="group-x", password=PASSWORD, role="group", institution_licence="GRP0001")
    else:
        user = make_user(role, enterprise=make_enterprise() if role == "firm" else None)
    sign_in(user)
    for resp in (client.post("/api/v1/screenings", json={"tender_name": "x", "codes": ["91110000053621038D"]}),
                 client.get("/api/v1/screenings")):
        assert resp.status_code == 403, resp.get_json()
        assert resp.get_json()["code"] == "role_denied"


def test_a_tenderer_user_screens_with_the_csrf_token(tender: Any, client: FlaskClient, sign_in: Any,
                                                     make_enterprise: Any, db: Any) -> None:
    ent = make_enterprise()
    sign_in(tender.user)
    token = client.environ_base.pop("HTTP_X_CSRFTOKEN")
    body = {"tender_name": "配网物资招标", "codes": [ent.uscc]}
    refused = client.post("/api/v1/screenings", json=body)
    assert refused.status_code == 400 and refused.get_json()["code"] == "csrf_failed"
    resp = client.post("/api/v1/screenings", json=body, headers={"X-CSRFToken": token})
    assert resp.status_code == 201, resp.get_json()
    stored = db.scalar(sa.select(Screening).where(Screening.screening_no == resp.headers["X-Screening-No"]))
    assert (stored.user_id, stored.client_pk) == (tender.user.id, None)
    assert client.get("/api/v1/screenings").get_json()["meta"]["total"] == 1


def test_another_tenderers_screening_is_not_found(tender: Any, db: Any, client: FlaskClient, make_enterprise: Any,
                                                 sign_in: Any) -> None:
    number = tender.screen([make_enterprise().uscc]).headers["X-Screening-No"]
    other = make_tender(db, client, name="另一集团电子商务平台")
    for suffix in ("", "/pdf", "/csv"):
        resp = client.get(f"/api/v1/screenings/{number}{suffix}", headers=bearer(other.token()))
        assert resp.status_code == 404, suffix
        assert resp.get_json()["code"] == "screening_not_found"
    assert client.get("/api/v1/screenings", headers=bearer(other.token())).get_json()["items"] == []
    sign_in(other.user)
    assert client.get(f"/procurement/screenings/{number}").status_code == 404
    assert client.get(f"/api/v1/screenings/{number}").status_code == 404
    # unknown and malformed numbers alike
    assert client.get("/api/v1/screenings/PS20261118ABCDEFGHJKLM").status_code == 404
    assert client.get("/api/v1/screenings/nonsense").status_code == 404


def test_rows_in_the_order_given(tender: Any, make_enterprise: Any) -> None:
    firms = [make_enterprise() for _ in range(4)]
    codes = [firms[2].uscc, firms[0].uscc, firms[3].uscc, firms[1].uscc]
    rows = tender.screen(codes).get_json()["screening"]["bidders"]
    assert [r["uscc"] for r in rows] == codes
    assert [r["row"] for r in rows] == [1, 2, 3, 4]
    assert row_of({"screening": {"bidders": rows}}, firms[3].uscc)["name"] == firms[3].name
