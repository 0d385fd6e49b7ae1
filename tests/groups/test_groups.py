"""A group sees its subsidiaries at every level, their public facts always, the rest only
through each one's 集团信用管理 consent (the gate, the query log); never another firm."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core import clock
from app.groups.services import percentile
from consent.models import ConsentStatus, Purpose, QueryLog
from consent.services import change_consent
from tests.groups.conftest import group_terms, login_as


def _logs(db, ent) -> list[QueryLog]:
    return list(db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id)))


def test_a_group_lists_its_subsidiaries_at_every_level(app, db, world):
    http = login_as(app.test_client(), world.manager)
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    items = {i["uscc"]: i for i in body["items"]}
    f = world.firms
    assert set(items) == {f["A"].uscc, f["B"].uscc, f["A1"].uscc}
    assert body["meta"]["total"] == 3
    a, b, a1 = items[f["A"].uscc], items[f["B"].uscc], items[f["A1"].uscc]
    assert (a["level"], a["kind"], a["share"], a["parent_uscc"]) == (1, "wholly_owned", "100.0000", f["G"].uscc)
    assert (a1["level"], a1["parent_uscc"], a1["kind"]) == (2, f["A"].uscc, "minority")
    # public facts for all: grade, previous grade, change
    assert (a["grade"], a["previous_grade"], a["change"]) == ("AAA", "AA", 1)
    assert (b["grade"], b["previous_grade"], b["change"]) == ("AA", "AA", 0)
    assert a1["grade"] == "A"
    # beyond them only under an active consent
    assert a["consent_status"] == "active" and a["disclosed"] is True
    assert (a["score"], a["willingness"], a["capability"], a["performance"]) == ("92.00", "90.00", "95.00", "91.00")
    assert b["consent_status"] == "none" and b["disclosed"] is False
    assert b["score"] is None and b["segment_percentile"] is None and b["willingness"] is None
    assert a1["consent_status"] == "paused" and a1["score"] is None


def test_each_access_beyond_public_facts_is_in_the_firms_query_log(app, db, world):
    http = login_as(app.test_client(), world.manager)
    assert http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries").status_code == 200
    logs = _logs(db, world.firms["A"])
    assert len(logs) == 1
    assert (logs[0].purpose, logs[0].institution_id, logs[0].user_id) == (
        Purpose.group_credit_management, world.institution.id, world.manager.id)
    assert logs[0].sections == ["evaluation"]
    assert _logs(db, world.firms["B"]) == [] and _logs(db, world.firms["A1"]) == []
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "gate.access", AuditEvent.uscc == world.firms["A"].uscc))
    assert event is not None and event.outcome == "ok"
    # the firm sees it among the accesses to its data
    firm = login_as(app.test_client(), world.admins["A"])
    page = firm.get("/consents").get_data(as_text=True)
    assert "集团信用管理" in page and world.institution.name in page


def test_percentile_ranks_within_segment_and_province(app, db, world):
    http = login_as(app.test_client(), world.manager)
    items = {i["uscc"]: i for i in http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries").get_json()["items"]}
    # this month's scores in the segment and province: 92, 85, 75, 65 (A is the top: 3 below, itself half)
    a = items[world.firms["A"].uscc]
    assert a["segment"] == "supplier" and a["province"] == "33"
    assert a["segment_percentile"] == "87.5" and a["province_percentile"] == "87.5"


def test_percentile_counts_ties_half():
    counts = ([Decimal(60), Decimal(70), Decimal(80)], [1, 3, 4], 4)  # 60, 70, 70, 80
    assert percentile(Decimal(70), counts) == Decimal("50.0")
    assert percentile(Decimal(60), counts) == Decimal("12.5")
    assert percentile(Decimal(90), counts) == Decimal("100.0")
    assert percentile(Decimal(50), counts) == Decimal("0.0")
    assert percentile(Decimal(50), ([], [], 0)) is None


def test_benchmark_distribution_aaa_share_and_changes(app, db, world):
    http = login_as(app.test_client(), world.manager)
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/benchmark")
    assert resp.status_code == 200, resp.get_json()
    b = resp.get_json()
    dist = {d["grade"]: d["count"] for d in b["distribution"]}
    assert (dist["AAA"], dist["AA"], dist["A"], dist["BBB"], dist["NR"]) == (1, 1, 1, 0, 0)
    assert (b["subsidiaries"], b["evaluated"], b["level1"], b["level1_aaa"]) == (3, 3, 2, 1)
    assert b["aaa_share"] == "0.5000" and b["target"] == "0.5" and b["meets_target"] is True
    assert [c["uscc"] for c in b["changes"]] == [world.firms["A"].uscc]
    assert [r["uscc"] for r in b["benchmark"]] == [world.firms["A"].uscc]  # only what the consents allow
    assert b["dimension_means"]["capability"] == "95.00"


def test_operators_see_every_subsidiary_in_full(app, db, world, make_user):
    http = login_as(app.test_client(), make_user("operator"))
    items = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries").get_json()["items"]
    assert all(i["disclosed"] for i in items)
    assert {i["score"] for i in items} == {"92.00", "85.00", "75.00"}
    assert _logs(db, world.firms["B"]) == []  # an operator's view is not a consented access


def test_pagination(app, db, world):
    http = login_as(app.test_client(), world.manager)
    body = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries?per_page=2&page=2").get_json()
    assert body["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2}
    assert [i["level"] for i in body["items"]] == [2]
    bad = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries?per_page=0")
    assert bad.status_code == 422 and "query.per_page" in bad.get_json()["errors"]


# --- refusals ------------------------------------------------------------------------------------

def test_a_group_may_not_look_at_another_group(app, db, world):
    http = login_as(app.test_client(), world.manager)
    for path in (f"/api/v1/groups/{world.firms['H'].uscc}/subsidiaries",
                 f"/api/v1/groups/{world.firms['H'].uscc}/benchmark",
                 f"/api/v1/groups/{world.firms['A'].uscc}/subsidiaries"):
        resp = http.get(path)
        assert resp.status_code == 403, path
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["code"] == "not_your_group"
    assert _logs(db, world.firms["X"]) == []


@pytest.mark.parametrize("who", ["O", "X", "H", "G"])
def test_a_firm_outside_the_group_is_refused(app, db, world, who):
    http = login_as(app.test_client(), world.manager)
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries/{world.firms[who].uscc}")
    assert resp.status_code == 403
    assert resp.get_json()["code"] == "not_a_subsidiary"
    assert _logs(db, world.firms[who]) == []


@pytest.mark.parametrize("code", ["XYZ", "91110000053621038X"])  # not a code; a wrong check character
def test_a_malformed_subsidiary_code_is_a_422_naming_it(app, db, world, code):
    http = login_as(app.test_client(), world.manager)
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries/{code}")
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert list(resp.get_json()["errors"]) == ["subsidiary"]


def test_one_subsidiary_in_detail(app, db, world):
    http = login_as(app.test_client(), world.manager)
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries/{world.firms['A1'].uscc}")
    assert resp.status_code == 200
    assert resp.get_json()["level"] == 2 and resp.get_json()["score"] is None


@pytest.mark.parametrize("role", ["firm", "bank", None])
def test_only_group_users_and_operators(app, db, world, make_user, role):
    http = app.test_client()
    if role == "firm":
        login_as(http, world.admins["A"])
    elif role == "bank":
        login_as(http, make_user("bank"))
    resp = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries")
    assert resp.status_code == (401 if role is None else 403)
    assert resp.mimetype == "application/problem+json"
    page = http.get("/group")
    assert page.status_code in ((401, 302) if role is None else (403,))


def test_a_paused_revoked_or_spent_consent_stops_at_once(app, db, world):
    g = world.firms["G"].uscc
    http = login_as(app.test_client(), world.manager)
    change_consent(db, world.consents["A"], world.admins["A"], "revoke")
    items = {i["uscc"]: i for i in http.get(f"/api/v1/groups/{g}/subsidiaries").get_json()["items"]}
    a = items[world.firms["A"].uscc]
    assert a["consent_status"] == "revoked" and a["score"] is None
    assert _logs(db, world.firms["A"]) == []


def test_the_allowance_is_counted(app, db, world):
    """A consent allowing one view a day: the second view that day shows the public facts only."""
    from consent.services import grant_consent

    keys = app.extensions["pc_signing_keys"]
    grant_consent(db, keys, world.admins["B"], institution=world.institution, terms=group_terms(frequency_value=1))
    http = login_as(app.test_client(), world.manager)
    path = f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries/{world.firms['B'].uscc}"
    first = http.get(path).get_json()
    assert first["score"] == "85.00"
    second = http.get(path).get_json()
    assert second["score"] is None and second["consent_status"] == "frequency_exceeded"
    assert len(_logs(db, world.firms["B"])) == 1
    refused = db.scalar(sa.select(AuditEvent).where(AuditEvent.code == "frequency_exceeded",
                                                    AuditEvent.uscc == world.firms["B"].uscc))
    assert refused is not None


def test_a_consent_without_the_evaluation_section_discloses_nothing(app, db, world):
    from consent.services import grant_consent

    keys = app.extensions["pc_signing_keys"]
    grant_consent(db, keys, world.admins["B"], institution=world.institution, terms=group_terms(scopes=["lists"]))
    http = login_as(app.test_client(), world.manager)
    b = http.get(f"/api/v1/groups/{world.firms['G'].uscc}/subsidiaries/{world.firms['B'].uscc}").get_json()
    assert b["score"] is None and b["consent_status"] == "scope_insufficient"


def test_the_dashboard_page(app, db, world):
    http = login_as(app.test_client(), world.manager)
    resp = http.get("/group")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "二级公司 AAA 占比" in html and "50.0%" in html and "目标 50%" in html
    assert "横向对标" in html and world.firms["A"].name in html and world.firms["B"].name in html
    assert "控股 60%" in html and "参股 30%" in html and "E+" not in html  # shares as written, never 6E+1%
    assert "未经授权，仅显示公开信息" in html
    assert world.firms["O"].name not in html
    assert "等级分布（数据表）" in html and "预警信息" in html and "暂无预警" in html
    assert http.get("/").status_code == 302  # a group's home is its dashboard


def test_a_group_user_sees_its_institutions_consents_not_the_parents(app, db, world):
    http = login_as(app.test_client(), world.manager)
    items = http.get("/api/v1/consents").get_json()["items"]
    assert {i["consent_id"] for i in items} == {c.consent_id for c in world.consents.values()}


def test_as_of_a_day_before_a_relation_began(db, world):
    from app.archive.services import subsidiaries

    assert subsidiaries(db, world.firms["G"].id, as_of=clock.today().replace(year=2019)) == []
    assert world.consents["A"].status == ConsentStatus.active
