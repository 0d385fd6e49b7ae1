"""A lender reads the reasons beside the grade: the main adverse factors (caps first), the
coverage share, and NR with its reason; only what the reader may see gives a reason."""

from __future__ import annotations

import jsonschema

from app.archive.ingestion import ingest_records
from app.scoring.services import evaluate
from reports.schemas import report_json_schema
from tests.reports.conftest import pull, tax_row


def _troubled(archive, db, make_provider, rows):  # noqa: ANN001, ANN202
    """The firm with a breached contract and its latest tax grade D (a cap at BB)."""
    ent = archive.enterprise
    breach = rows.contract(ent.uscc, "c-bad", status="breached")
    del breach["payload"]["fulfilled_on"]
    provider = make_provider(["contract", "tax"])
    assert ingest_records(db, provider, [breach, tax_row(ent.uscc, "t-3", 2025, "D")]).accepted == 2
    return evaluate(db, ent)


def test_a_bank_report_names_the_adverse_factors_it_may_see(archive, bank, active_token, db, make_provider, rows):
    evaluation = _troubled(archive, db, make_provider, rows)
    assert {c["key"] for c in evaluation.explanation["caps"]} == {"tax_grade_d"}
    _, tok = active_token(scopes=["identity", "evaluation", "contract", "tax"])
    doc = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]
    section = doc["sections"]["evaluation"]
    jsonschema.validate(doc, report_json_schema("1.2"))
    reasons = section["adverse_factors"]
    assert 1 <= len(reasons) <= 4 and reasons[0] == {
        "kind": "cap", "key": "tax_grade_d", "label": "最近一个年度纳税信用为 D 级", "max_grade": "BB",
        "reason": "最近一个年度纳税信用为 D 级：等级不高于 BB"}
    keys = [r["key"] for r in reasons]
    assert "tax_grade" in keys and "contract_performance" in keys
    factors = [r for r in reasons if r["kind"] == "factor"]
    assert [r["points_lost"] for r in factors] == sorted((r["points_lost"] for r in factors), reverse=True)
    assert section["not_rated"] is False and section["reason"] is None and 0.5 <= float(section["coverage"]) <= 1


def test_a_reason_from_records_outside_the_consent_is_left_out(archive, bank, active_token, db, make_provider, rows):
    _troubled(archive, db, make_provider, rows)
    _, tok = active_token(scopes=["identity", "evaluation", "contract"])  # no tax section
    section = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()["report"]["sections"]["evaluation"]
    keys = [r["key"] for r in section["adverse_factors"]]
    assert "contract_performance" in keys
    assert "tax_grade" not in keys and "tax_grade_d" not in keys  # would disclose the tax grade D
    assert section["grade"] in ("BB", "B", "CCC", "CC", "C")  # the grade itself stays capped
    # ... and the report says a cap applies, without its basis.
    assert section["adverse_factors"][0] == {
        "kind": "cap", "key": "withheld", "label": "封顶规则（依据不在授权范围内）", "max_grade": "BB",
        "reason": "有封顶规则适用，等级不高于 BB；其依据的信息不在本次授权查询的范围内"}


def test_caps_come_worst_first_once_per_fact_and_losses_add_up_to_the_score() -> None:
    from app.scoring.reasons import adverse_factors

    explanation = {
        "caps": [{"key": "utility_arrears_3_months", "label": "电费欠费 3 个月及以上", "max_grade": "BB"},
                 {"key": "utility_arrears_in_a_row", "label": "最近连续 3 个月电费欠费", "max_grade": "BB"},
                 {"key": "loan_default", "label": "贷款逾期 90 天及以上", "max_grade": "B"}],
        "factors": [{"key": "utility_payment", "label": "电费缴纳", "points": 30.0, "reason": "r1", "known": True},
                    {"key": "tax_grade", "label": "纳税信用", "points": 40.0, "reason": "r2", "known": True},
                    {"key": "quality", "label": "产品质量", "points": 0.0, "reason": "r3", "known": False}]}
    reasons = adverse_factors(explanation, "2.0", "grid", limit=10)
    assert [r["key"] for r in reasons] == ["loan_default", "utility_arrears_3_months", "utility_payment", "tax_grade"]
    # Known weights: utility 0.25 × 0.8 = 0.2, tax 0.45 × 0.2 = 0.09; the score over them is
    # (0.2 × 30 + 0.09 × 40) / 0.29 = 33.10, so 66.90 points are lost: 0.2/0.29 × 70 = 48.28
    # and 0.09/0.29 × 60 = 18.62.
    assert [r["points_lost"] for r in reasons[2:]] == [48.28, 18.62]
    not_rated = {**explanation, "evidence": {"reason": "不予评级（信息不足）：…"}}
    assert adverse_factors(not_rated, "2.0", "grid") == []


def test_a_firm_too_thin_to_rate_is_nr_in_its_report_and_on_its_public_profile(firm, db, login, client, make_provider,
                                                                              rows):
    ent = firm.enterprise
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, "c-1")])
    assert evaluate(db, ent).grade == "NR"
    login(firm.user)
    doc = client.get("/api/v1/me/report").get_json()["report"]
    section = doc["sections"]["evaluation"]
    jsonschema.validate(doc, report_json_schema("1.2"))
    assert (section["grade"], section["grade_label"], section["score"]) == ("NR", "信息不足", None)
    assert section["not_rated"] is True and section["reason"].startswith("不予评级（信息不足）")
    assert section["supervision_class"] is None and section["dimensions"]["willingness"] is None
    pdf = client.get("/api/v1/me/report?format=pdf")
    assert pdf.status_code == 201 and pdf.mimetype == "application/pdf"
    client.get("/logout")
    profile = client.get(f"/api/v1/public/enterprises/{ent.uscc}").get_json()
    assert (profile["grade"], profile["grade_label"]) == ("NR", "信息不足")
    page = client.get(f"/enterprises/{ent.uscc}").get_data(as_text=True)
    assert "NR 信息不足" in page and "不予评级" in page
