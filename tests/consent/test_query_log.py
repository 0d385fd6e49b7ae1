"""The firm's query log in Chinese (a screening reads 「投标资格审查（筛查 PS…）」 with the
tenderer's name and whether a consent or only public facts were used; reports and alerts
likewise), the raw ``resource`` kept in the API, and each consent's uses: which accesses,
which screenings, were made under it — to its parties only."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import secrets
from typing import Any

import pytest

from app.accounts.services import create_user
from app.core import clock
from consent.gate import Caller, authorize_access
from consent.models import (
    Consent,
    FetchType,
    PeriodUnit,
    Purpose,
    QueryLog,
    describe_resource,
    resource_reference,
)
from consent.services import Terms, grant_consent, recent_uses
from tests.conftest import PASSWORD
from tests.consent.conftest import bearer, consent_row
from tests.procurement.conftest import make_tender

RULES = {"max_open_dishonest": 0, "serious_penalty_years": 3, "max_serious_penalties": 0}


def visible_text(page: str) -> str:
    """What a reader sees: tags (and their attributes) dropped."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


def log_table(page: str) -> str:
    """The query log's table, as read."""
    table = re.search(r'<table class="query-log[^"]*">.*?</table>', page, re.S)
    assert table, page[:3000]
    return visible_text(table.group())


def _bid_consent(app: Any, db: Any, firm: Any, institution: Any, uses: int = 5) -> Consent:
    now = clock.now().replace(microsecond=0)
    return grant_consent(db, app.extensions["pc_signing_keys"], firm.user, institution=institution, terms=Terms(
        purpose=Purpose.bid_qualification, scopes=["judicial", "licence_penalty"],
        data_from=clock.today() - dt.timedelta(days=3 * 365), data_to=clock.today(),
        valid_until=now + dt.timedelta(days=60), fetch_type=FetchType.periodic, frequency_unit=PeriodUnit.month,
        frequency_value=uses, data_life_unit=PeriodUnit.month, data_life_value=6))


def _log(db: Any, ent_id: int, inst_id: int, resource: str, purpose: str, consent_pk: int | None = None,
         sections: list[str] | None = None) -> QueryLog:
    """An entry as monitoring (alerts) and reports (report pulls) write theirs."""
    row = QueryLog(at=clock.now(), enterprise_id=ent_id, institution_id=inst_id, consent_pk=consent_pk,
                   purpose=purpose, sections=sections or [], resource=resource)
    db.add(row)
    db.flush()
    return row


# --- the words ---------------------------------------------------------------------------------

@pytest.mark.parametrize("resource, purpose, label, ref", [
    ("screening:PS20261118ABCDEFGH", "bid_qualification", "投标资格审查（筛查 PS20261118ABCDEFGH）", "PS20261118ABCDEFGH"),
    ("report:PC20261118XYZ", "loan_application", "贷款申请审查（信用报告 PC20261118XYZ）", "PC20261118XYZ"),
    ("alert:alt_3f9k2", "post_loan_monitoring", "贷后管理（预警推送 alt_3f9k2）", "alt_3f9k2"),
    ("alert:alt_3f9k2", "group_credit_management", "集团信用管理（预警推送 alt_3f9k2）", "alt_3f9k2"),
    ("data:fetch", "credit_line_review", "授信额度审查（通过接口获取报告数据）", None),
    ("/api/v1/groups/91330106000000001X/subsidiaries", "group_credit_management", "集团信用管理（通过接口查看）", None),
    ("/group", "group_credit_management", "集团信用管理（在网页上查看）", None),
    ("screening:", "bid_qualification", "投标资格审查（screening:）", None),
    ("something-else", "supply_chain_finance", "供应链融资审查（something-else）", None),
])
def test_each_resource_reads_in_chinese(resource, purpose, label, ref) -> None:
    assert describe_resource(resource, purpose) == label
    assert resource_reference(resource) == ref


# --- the firm's query log ------------------------------------------------------------------------

def test_the_firm_reads_a_screening_by_its_number_tenderer_and_basis(app, db, client, login, firm,
                                                                     make_enterprise, make_user) -> None:
    tender = make_tender(db, client, name=f"某电力集团电子商务采购平台{secrets.token_hex(2)}")
    public = tender.screen([firm.enterprise.uscc], RULES)
    assert public.status_code == 201, public.get_json()
    _bid_consent(app, db, firm, tender.institution)
    consented = tender.screen([firm.enterprise.uscc], RULES)
    assert consented.status_code == 201, consented.get_json()
    first, second = public.headers["X-Screening-No"], consented.headers["X-Screening-No"]

    login(firm.user)
    items = client.get("/api/v1/query-log").get_json()["items"]
    assert [(i["resource"], i["reference"], i["resource_label"], i["public_only"], i["access_label"],
             i["institution"]["name"], i["institution"]["kind"], i["institution"]["counterpart"]) for i in items] == [
        (f"screening:{second}", second, f"投标资格审查（筛查 {second}）", False, "经授权查询",
         tender.institution.name, "procurement", "招标采购单位"),
        (f"screening:{first}", first, f"投标资格审查（筛查 {first}）", True, "公开信息筛查（无需授权）",
         tender.institution.name, "procurement", "招标采购单位")]

    page = client.get("/consents").get_data(as_text=True)
    seen, log_part = visible_text(page), log_table(page)
    for shown in (f"投标资格审查（筛查 {first}）", f"投标资格审查（筛查 {second}）", "仅公开信息", "公开信息筛查（无需授权）",
                  "经授权查询", tender.institution.name, "招标采购单位"):
        assert shown in log_part, shown
    assert "screening:" not in seen  # the raw resource is no reader's text (kept in the API and a tooltip)
    # Another firm sees neither.
    login(make_user("firm", enterprise=make_enterprise()))
    assert first not in client.get("/consents").get_data(as_text=True)


def test_reports_alerts_and_fetches_read_in_chinese_too(active_token, db, client, login, firm, bank) -> None:
    consent = consent_row(db, active_token()[0])
    ent, inst = firm.enterprise.id, bank.institution.id
    _log(db, ent, inst, "report:PC20261118000123", "loan_application", consent.id, ["identity"])
    _log(db, ent, inst, "alert:alt_k2j4m", "post_loan_monitoring", consent.id, ["evaluation"])
    _log(db, ent, inst, "data:fetch", "credit_line_review", consent.id, ["tax"])
    login(firm.user)
    items = client.get("/api/v1/query-log").get_json()["items"]
    assert {i["resource"]: (i["resource_label"], i["reference"], i["institution"]["counterpart"]) for i in items} == {
        "report:PC20261118000123": ("贷款申请审查（信用报告 PC20261118000123）", "PC20261118000123", "金融机构"),
        "alert:alt_k2j4m": ("贷后管理（预警推送 alt_k2j4m）", "alt_k2j4m", "金融机构"),
        "data:fetch": ("授信额度审查（通过接口获取报告数据）", None, "金融机构")}
    seen = log_table(client.get("/consents").get_data(as_text=True))
    for shown in ("贷款申请审查（信用报告 PC20261118000123）", "贷后管理（预警推送 alt_k2j4m）", "授信额度审查（通过接口获取报告数据）",
                  "身份与登记信息", "纳税信息"):
        assert shown in seen, shown
    for raw in ("report:PC", "alert:alt", "data:fetch"):
        assert raw not in seen, raw
    # each under the consent: its id's first characters, the whole on hover and behind the link
    assert "仅公开信息" not in seen and f"{consent.consent_id[:10]}…" in seen
    assert f'href="/consents/{consent.consent_id}" title="{consent.consent_id}"' in client.get("/consents").get_data(
        as_text=True)


# --- what each consent was used for ---------------------------------------------------------------

@pytest.fixture
def screened(app: Any, db: Any, client: Any, firm: Any) -> Any:
    """A tenderer screens the firm three times under its consent; a second tenderer once on
    public facts; returns (tender, consent, the three numbers newest first, the public one)."""
    tender = make_tender(db, client, name=f"某电力集团电子商务采购平台{secrets.token_hex(2)}")
    other = make_tender(db, client, name=f"另一集团招标采购中心{secrets.token_hex(2)}")
    consent = _bid_consent(app, db, firm, tender.institution)
    numbers = []
    for _ in range(3):
        resp = tender.screen([firm.enterprise.uscc], RULES)
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["screening"]["summary"]["consents_used"] == 1
        numbers.insert(0, resp.headers["X-Screening-No"])
    public = other.screen([firm.enterprise.uscc], RULES).headers["X-Screening-No"]
    return tender, consent, numbers, public


def test_a_consents_row_and_page_list_the_screenings_made_under_it(screened, db, client, login, firm) -> None:
    tender, consent, numbers, public = screened
    login(firm.user)
    listing = client.get("/consents").get_data(as_text=True)
    row = re.search(rf'<tr>\s*<td[^>]*><a href="/consents/{consent.consent_id}"[^>]*>.*?</tr>', listing, re.S)
    assert row, listing[:3000]
    text = visible_text(row.group())
    assert "3 次" in text and "全部使用记录" in text
    for number in numbers:
        assert f"投标资格审查（筛查 {number}）" in text, number
    assert public not in text and f'href="/consents/{consent.consent_id}#uses"' in row.group()

    detail = client.get(f"/consents/{consent.consent_id}").get_data(as_text=True)
    uses = visible_text(detail[detail.index('id="uses"'):detail.index('id="events-h"')])
    for number in numbers:
        assert f"投标资格审查（筛查 {number}）" in uses, number
    assert public not in uses and "机构系统（接口）" in uses and "司法信息" in uses
    assert f"{tender.institution.name}（招标采购单位，机构编号 {tender.institution.licence_no}）" in visible_text(detail)
    assert "金融许可证号" not in detail

    api = client.get(f"/api/v1/query-log?consent_id={consent.consent_id}").get_json()
    assert [i["reference"] for i in api["items"]] == numbers and api["meta"]["total"] == 3
    assert all(i["consent_id"] == consent.consent_id and i["public_only"] is False for i in api["items"])


def test_a_consents_uses_are_its_parties_only(screened, db, client, login, make_user, make_enterprise,
                                              bank) -> None:
    tender, consent, _, _ = screened
    login(make_user("firm", enterprise=make_enterprise()))
    other_firm = client.get(f"/api/v1/query-log?consent_id={consent.consent_id}")
    assert other_firm.status_code == 404 and other_firm.get_json()["code"] == "consent_not_found"
    assert client.get(f"/consents/{consent.consent_id}").status_code == 404
    bank_token = bank.cc_token()["access_token"]
    as_bank = client.get(f"/api/v1/query-log?consent_id={consent.consent_id}", headers=bearer(bank_token))
    assert as_bank.status_code == 404
    client.post("/logout")
    assert client.get(f"/api/v1/query-log?consent_id={consent.consent_id}").status_code == 401
    bad = client.get("/api/v1/query-log?consent_id=" + "x" * 41, headers=bearer(bank_token))
    assert bad.status_code == 422 and "query.consent_id" in bad.get_json()["errors"], bad.get_json()


def test_a_consents_uses_are_paged_and_the_list_shows_the_latest_three(app, db, client, login, firm) -> None:
    tender = make_tender(db, client, name=f"某电力集团电子商务采购平台{secrets.token_hex(2)}")
    consent = _bid_consent(app, db, firm, tender.institution, uses=30)
    caller = Caller(consent=consent, institution_id=tender.institution.id, sections=frozenset(consent.scopes),
                    actor="test")
    base = clock.now()
    for n in range(23):
        with clock.simulated(base + dt.timedelta(minutes=n)):
            authorize_access(db, caller, firm.enterprise.uscc, "bid_qualification", {"judicial"},
                             resource=f"screening:PS2026T{n:02d}")
    latest = recent_uses(db, [consent.id])[consent.id]
    assert [q.reference for q in latest] == ["PS2026T22", "PS2026T21", "PS2026T20"]
    assert recent_uses(db, []) == {}
    login(firm.user)
    first = visible_text(client.get(f"/consents/{consent.consent_id}").get_data(as_text=True))
    assert "筛查 PS2026T22" in first and "筛查 PS2026T03" in first and "筛查 PS2026T02" not in first
    assert "第 1 / 2 页" in first
    second = visible_text(client.get(f"/consents/{consent.consent_id}?page=2").get_data(as_text=True))
    assert "筛查 PS2026T02" in second and "筛查 PS2026T00" in second and "筛查 PS2026T03" not in second


def test_a_bank_officer_sees_its_own_consents_uses(active_token, bank, firm, db, client, login) -> None:
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "month", "value": 5})
    assert bank.fetch(tok["access_token"], firm.enterprise.uscc, sections=["identity"]).status_code == 200
    officer = create_user(db, username=f"officer-{secrets.token_hex(3)}", password=PASSWORD, role="bank",
                          institution_licence=bank.institution.licence_no)
    login(officer)
    detail = visible_text(client.get(f"/consents/{consent_id}").get_data(as_text=True))
    assert "贷款申请审查（通过接口获取报告数据）" in detail and "机构系统（接口）" in detail
    assert f"（金融机构，金融许可证号 {bank.institution.licence_no}）" in detail
