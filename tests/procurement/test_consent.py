"""Public facts only, unless the bidder granted this tenderer a 投标资格审查 consent: then
through the consent gate (counted, in the query log under the consent, audited) the rows
count what the archive holds beyond what is public, and say what the consent added.  Every
firm screened sees the screening in its query log; no other firm does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.audit.models import AuditEvent
from app.procurement.models import Screening, ScreeningBidder
from consent.models import QueryLog
from tests.procurement.conftest import days_ago, dishonest, make_tender, row_of, serious_penalty

RULES = {"max_open_dishonest": 0, "serious_penalty_years": 3, "max_serious_penalties": 0}


def hidden_records(ent: Any, add: Any) -> None:
    """An open 失信 judgment on no published list, and a serious penalty past its publication
    period (decided two years ago, published for one) but within three years: neither is public."""
    add(ent, "judicial", dishonest(21, days_ago(70)))
    add(ent, "penalty", serious_penalty(days_ago(730), no="浙能监罚〔2024〕9号", publish_years=1))


def test_public_facts_only_without_a_consent(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                             db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    resp = tender.screen([ent.uscc], RULES)
    row = row_of(resp.get_json(), ent.uscc)
    assert (row["outcome"], row["restrictions"], row["consent"]) == ("pass", [], None)
    log = db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id)).one()
    assert (log.consent_pk, log.institution_id, str(log.purpose), log.sections, log.resource, log.client_pk) == (
        None, tender.institution.id, "bid_qualification", [], f"screening:{resp.headers['X-Screening-No']}",
        tender.oauth.id)
    bidder = db.scalars(sa.select(ScreeningBidder).where(ScreeningBidder.enterprise_id == ent.id)).one()
    assert (bidder.outcome, bidder.consent_pk, bidder.query_log_id) == ("pass", None, log.id)


def test_a_consent_adds_what_the_archive_holds_through_the_gate(tender: Any, make_enterprise: Any, grade: Any,
                                                                add: Any, consent_to: Any, db: Any) -> None:
    ent, public_only = make_enterprise(), make_enterprise()
    for firm in (ent, public_only):
        grade(firm, "A")
        hidden_records(firm, add)
    consent = consent_to(ent, tender.institution)
    resp = tender.screen([ent.uscc, public_only.uscc], RULES)
    number = resp.headers["X-Screening-No"]
    body = resp.get_json()
    assert body["screening"]["summary"]["consents_used"] == 1
    row = row_of(body, ent.uscc)
    assert row["outcome"] == "fail"
    assert row["consent"] == {
        "consent_id": consent.consent_id, "used": True, "sections": ["judicial", "licence_penalty"],
        "refused": None, "note": "经投标人授权（投标资格审查），另计入信用档案中的记录",
        "added": [f"未列入公开名单的失信被执行人记录 1 条：(2026)浙0106执21号，杭州市西湖区人民法院，立案日期 {days_ago(100)}，"
                  f"发布日期 {days_ago(70)}",
                  f"不在公示期内的严重行政处罚 1 次：浙能监罚〔2024〕9号，国家能源局浙江监管办公室，决定日期 {days_ago(730)}，"
                  f"公示至 {days_ago(365)}"]}
    assert [(r["rule"], r["source"], r["reference"]) for r in row["restrictions"]] == [
        ("open_dishonest", "consent", "(2026)浙0106执21号"), ("serious_penalty", "consent", "浙能监罚〔2024〕9号")]
    assert len(row["reasons"]) == 2
    assert row_of(body, public_only.uscc)["outcome"] == "pass"  # the same records, no consent: not counted
    # the gate counted the pull and logged it under the consent, and the audit log has the access
    db.refresh(consent)
    assert consent.use_count == 1
    log = db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id)).one()
    assert (log.consent_pk, log.sections, log.resource) == (consent.id, ["judicial", "licence_penalty"],
                                                            f"screening:{number}")
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "gate.access", AuditEvent.outcome == "ok",
                                                  AuditEvent.uscc == ent.uscc))
    assert event.detail["query_log_id"] == log.id and event.subject_id == consent.consent_id
    bidder = db.scalars(sa.select(ScreeningBidder).join(Screening).where(Screening.screening_no == number,
                                                                       ScreeningBidder.enterprise_id == ent.id)).one()
    assert (bidder.consent_pk, bidder.query_log_id, bidder.outcome) == (consent.id, log.id, "fail")


def test_a_spent_consent_leaves_the_row_on_public_facts(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                         consent_to: Any, db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    consent = consent_to(ent, tender.institution)  # one-time: the first screening spends it
    assert row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)["outcome"] == "fail"
    row = row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)
    assert row["outcome"] == "pass"
    assert row["consent"] == {"consent_id": consent.consent_id, "used": False, "sections": [], "added": [],
                              "refused": "allowance_exhausted",
                              "note": "授权未能使用（一次性授权已使用，不能再次查询），按公开信息筛查"}
    refusal = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "gate.access",
                                                    AuditEvent.code == "allowance_exhausted"))
    assert refusal is not None and refusal.detail["uscc"] == ent.uscc
    logs = db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id).order_by(QueryLog.id)).all()
    assert [log.consent_pk for log in logs] == [consent.id, None]  # the second access: public facts, logged


def test_a_consent_without_the_sections_is_not_used(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                     consent_to: Any, db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    consent = consent_to(ent, tender.institution, scopes=["identity", "evaluation"])
    row = row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)
    assert row["outcome"] == "pass"
    assert row["consent"]["used"] is False
    assert row["consent"]["note"] == "授权未包含本次规则所需的部分（司法信息、行政许可与行政处罚），未使用，按公开信息筛查"
    db.refresh(consent)
    assert consent.use_count == 0


def test_a_consent_covering_one_section_adds_only_that(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                        consent_to: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    consent_to(ent, tender.institution, scopes=["judicial"])
    row = row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)
    assert row["consent"]["sections"] == ["judicial"]
    assert [(r["rule"], r["source"]) for r in row["restrictions"]] == [("open_dishonest", "consent")]
    assert len(row["consent"]["added"]) == 1


def test_of_two_consents_the_one_covering_the_sections_is_used_not_the_longest(
        tender: Any, make_enterprise: Any, grade: Any, add: Any, consent_to: Any, db: Any) -> None:
    ent, partly = make_enterprise(), make_enterprise()
    for firm in (ent, partly):
        grade(firm, "A")
        hidden_records(firm, add)
    longest = consent_to(ent, tender.institution, scopes=["identity", "evaluation"], days=300)
    covering = consent_to(ent, tender.institution, days=30)
    consent_to(partly, tender.institution, scopes=["judicial"], days=300)
    both = consent_to(partly, tender.institution, scopes=["judicial", "licence_penalty"], days=30)
    consent_to(partly, tender.institution, scopes=["identity"], days=365)
    body = tender.screen([ent.uscc, partly.uscc], RULES).get_json()
    row = row_of(body, ent.uscc)
    assert (row["consent"]["consent_id"], row["consent"]["used"]) == (covering.consent_id, True)
    assert row["outcome"] == "fail" and row["consent"]["sections"] == ["judicial", "licence_penalty"]
    other = row_of(body, partly.uscc)
    assert (other["consent"]["consent_id"], other["consent"]["sections"]) == (
        both.consent_id, ["judicial", "licence_penalty"])
    db.refresh(longest)
    assert longest.use_count == 0


def test_of_two_covering_consents_the_longest_is_used(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                      consent_to: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    consent_to(ent, tender.institution, days=30)
    longer = consent_to(ent, tender.institution, days=90)
    consent_to(ent, tender.institution, days=60)
    row = row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)
    assert (row["consent"]["consent_id"], row["consent"]["used"]) == (longer.consent_id, True)


def test_rules_needing_only_public_facts_do_not_spend_a_consent(tender: Any, make_enterprise: Any, grade: Any,
                                                                consent_to: Any, db: Any) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    consent = consent_to(ent, tender.institution)
    row = row_of(tender.screen([ent.uscc], {"min_grade": "BBB"}).get_json(), ent.uscc)
    assert row["consent"] is None
    db.refresh(consent)
    assert consent.use_count == 0


def test_another_tenderers_consent_is_not_used(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                              consent_to: Any, db: Any, client: FlaskClient) -> None:
    ent = make_enterprise()
    grade(ent, "A")
    hidden_records(ent, add)
    other = make_tender(db, client, name="另一集团电子商务平台")
    consent_to(ent, other.institution)
    row = row_of(tender.screen([ent.uscc], RULES).get_json(), ent.uscc)
    assert (row["outcome"], row["consent"]) == ("pass", None)


def test_the_screened_firm_sees_the_screening_in_its_query_log(tender: Any, make_enterprise: Any, grade: Any,
                                                                 firm_user: Any, sign_in: Any,
                                                                 client: FlaskClient) -> None:
    screened, bystander = make_enterprise(), make_enterprise()
    number = tender.screen([screened.uscc]).headers["X-Screening-No"]
    sign_in(firm_user(screened))
    items = client.get("/api/v1/query-log").get_json()["items"]
    assert [(i["institution"]["name"], i["consent_id"], i["purpose_label"], i["resource"], i["access_label"],
             i["uscc"]) for i in items] == [
        (tender.institution.name, None, "投标资格审查", f"screening:{number}", "公开信息筛查（无需授权）", screened.uscc)]
    page = client.get("/consents").get_data(as_text=True)
    assert "公开信息筛查（无需授权）" in page and tender.institution.name in page
    assert f"投标资格审查（筛查 {number}）" in page  # what the firm reads, not the raw resource
    client.post("/logout")
    sign_in(firm_user(bystander))
    assert client.get("/api/v1/query-log").get_json()["items"] == []
    assert number not in client.get("/consents").get_data(as_text=True)
    mine = client.get(f"/api/v1/query-log?uscc={screened.uscc}")
    assert mine.status_code == 404 and mine.get_json()["code"] == "query_log_not_found"
