"""How a consent for each purpose is drawn up (``consent.models.terms_for``): the report
sections it may cover and those its use reads, its usual fetching; the firm's and the
institutions' terms refused beyond those sections (minimum necessary data, 422 naming
``scopes``); a missing term named in words; and the power groups a firm may grant to."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from app.accounts.models import Institution
from app.accounts.services import create_institution
from app.archive.relations import Filer, file_relations
from app.core import clock
from app.core.errors import InvalidInput
from app.groups.services import SECTION as GROUP_SECTION
from app.oauth.scopes import REPORT_SECTIONS
from app.procurement.rules import Rules
from consent import services
from consent.models import Consent, FetchType, Purpose, terms_for
from consent.schemas import TermsSchema
from tests.consent.conftest import refusals, terms

BID_SECTIONS = ["judicial", "licence_penalty"]


def _institution(db: Any, kind: str, uscc: str | None = None) -> Institution:
    n = secrets.token_hex(4).upper()
    return create_institution(db, name=f"某{kind}机构{n}", licence_no=f"T{n}", kind=kind, uscc=uscc)


def _holds(db: Any, parent: Any, child: Any, **row: Any) -> None:
    file_relations(db, Filer(operator="test"), [{"parent_uscc": parent.uscc, "child_uscc": child.uscc,
                                                  "kind": "wholly_owned", "valid_from": "2020-01-01", **row}])


def _consents(db: Any) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(Consent)) or 0


# --- the table ----------------------------------------------------------------------------------

def test_every_purpose_is_drawn_up_and_reads_only_what_it_may_cover() -> None:
    for purpose in Purpose:
        usual = terms_for(purpose)
        assert usual.offered and set(usual.needed) <= set(usual.offered) <= set(REPORT_SECTIONS), purpose
        assert usual.why and usual.fetch_why
        assert (usual.fetch_type == FetchType.periodic) == (usual.frequency is not None), purpose
    assert terms_for("loan_application").offered == tuple(REPORT_SECTIONS)


def test_bid_qualification_covers_exactly_what_a_screening_reads_under_a_consent() -> None:
    """The sections a screening reads under a bidder's consent, whatever it rules
    (``Rules.consent_sections`` with every rule on), are those 投标资格审查 covers: no more
    (minimum necessary), no fewer (a screening would go without them)."""
    every_rule = Rules(min_grade="A", max_open_dishonest=0, serious_penalty_years=3, max_serious_penalties=0,
                       certificate_required=True)
    usual = terms_for(Purpose.bid_qualification)
    assert set(usual.offered) == set(usual.needed) == every_rule.consent_sections == set(BID_SECTIONS)
    assert usual.refused(REPORT_SECTIONS) == [s for s in REPORT_SECTIONS if s not in BID_SECTIONS]
    assert usual.refused(BID_SECTIONS) == []
    # Used once per screening: periodic by default, so the first screening does not spend it.
    assert usual.fetch_type == FetchType.periodic and usual.frequency is not None and usual.frequency[1] > 1
    assert "投标资格审查只用到" in usual.why and "一次性" in usual.fetch_why


def test_a_groups_consent_reads_what_its_dashboard_discloses() -> None:
    usual = terms_for(Purpose.group_credit_management)
    assert GROUP_SECTION in usual.needed and usual.fetch_type == FetchType.periodic


# --- the firm's grant and the institutions' requests, by API --------------------------------------

@pytest.mark.parametrize("extra", ["tax", "loan", "utility", "query_records", "evaluation", "lists", "identity"])
def test_a_firm_cannot_grant_a_tenderer_sections_a_screening_does_not_read(extra, firm, client, login, db) -> None:
    tenderer = _institution(db, "procurement")
    login(firm.user)
    resp = client.post("/api/v1/consents", json={"institution": tenderer.licence_no,
                                                 **terms(purpose="bid_qualification", scopes=[*BID_SECTIONS, extra])})
    body = resp.get_json()
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
    assert body["code"] == "scope_not_permitted" and list(body["errors"]) == ["scopes"], body
    assert f"不能包含「{REPORT_SECTIONS[extra]}」" in body["errors"]["scopes"][0]
    assert "「司法信息」" in body["errors"]["scopes"][0]
    assert _consents(db) == 0
    assert [e.action for e in refusals(db, "scope_not_permitted")] == ["consent.create"]


def test_a_firm_grants_a_tenderer_what_a_screening_reads(firm, client, login, db) -> None:
    tenderer = _institution(db, "procurement")
    login(firm.user)
    for scopes in (["judicial"], BID_SECTIONS):
        resp = client.post("/api/v1/consents", json={"institution": tenderer.licence_no,
                                                     **terms(purpose="bid_qualification", scopes=scopes)})
        assert resp.status_code == 201 and resp.get_json()["scopes"] == sorted(scopes), resp.get_json()


def test_a_purpose_the_institution_may_not_hold_is_refused_before_its_sections(bank, firm, client, login) -> None:
    login(firm.user)
    resp = client.post("/api/v1/consents", json={"institution": bank.institution.licence_no,
                                                 **terms(purpose="bid_qualification", scopes=["tax"])})
    assert resp.status_code == 422 and resp.get_json()["code"] == "purpose_not_permitted", resp.get_json()


def test_the_service_refuses_sections_beyond_the_purpose_only_when_asked(firm, db, app) -> None:
    """``offered_only`` (the API and the pages): the platform's own grants are not asked yet."""
    tenderer = _institution(db, "procurement")
    body = terms(purpose="bid_qualification", scopes=["judicial", "tax"])
    loaded = TermsSchema().load(body)["terms"]
    keys = app.extensions["pc_signing_keys"]
    with pytest.raises(InvalidInput) as refused:
        services.grant_consent(db, keys, firm.user, institution=tenderer, terms=loaded, offered_only=True)
    assert refused.value.code == "scope_not_permitted" and list(refused.value.errors or {}) == ["scopes"]
    assert services.grant_consent(db, keys, firm.user, institution=tenderer, terms=loaded).scopes == ["judicial", "tax"]


@pytest.mark.parametrize("body, field, words", [
    ({"data_range": {"to": "2025-12-31"}}, "data_range.from", "缺少必填字段：数据范围起"),
    ({"data_range": {"from": "2024-01-01"}}, "data_range.to", "缺少必填字段：数据范围止"),
    ({"data_range": None}, "data_range", "缺少必填字段：数据范围"),
    ({"valid_until": None}, "valid_until", "缺少必填字段：授权截止日期"),
    ({"fetch_type": None}, "fetch_type", "缺少必填字段：查询方式"),
    ({"fetch_type": "periodic", "frequency": {"unit": "month"}}, "frequency.value", "每个周期至多查询的次数"),
    ({"data_life": {"unit": "month"}}, "data_life.value", "缺少必填字段：机构可保存数据的期限"),
    ({"purpose": None}, "purpose", "缺少必填字段：用途"),
])
def test_a_missing_term_is_named_in_words(body, field, words, bank, firm, client, login) -> None:
    sent = {k: v for k, v in {"institution": bank.institution.licence_no, **terms(), **body}.items() if v is not None}
    login(firm.user)
    resp = client.post("/api/v1/consents", json=sent)
    errors = resp.get_json()["errors"]
    assert resp.status_code == 422 and field in errors, errors
    assert words in errors[field][0] and errors[field] != ["缺少必填字段。"]


# --- the power groups a firm may grant to ----------------------------------------------------------

def test_a_firm_may_grant_only_the_groups_it_belongs_to(firm, bank, db, make_enterprise) -> None:
    top, mid, formerly, stranger = (make_enterprise() for _ in range(4))
    _holds(db, top, mid)
    _holds(db, mid, firm.enterprise)  # the firm is in top's group through mid
    _holds(db, formerly, firm.enterprise, valid_from="2019-01-01", valid_to=clock.today().isoformat())
    own, middle, ended, other = (_institution(db, "group", uscc=e.uscc) for e in (top, mid, formerly, stranger))
    tenderer = _institution(db, "procurement")
    offered = {i.licence_no for i in services.grantable_institutions(db, firm.enterprise.id)}
    assert {own.licence_no, middle.licence_no, bank.institution.licence_no, tenderer.licence_no} <= offered
    assert not offered & {ended.licence_no, other.licence_no}
    assert services.parent_codes(db, firm.enterprise.id) == {top.uscc, mid.uscc}
    assert services.parent_codes(db, stranger.id) == set()
