"""Credit repair: not before the minimum period after publication (an edge each side),
approval takes the firm off the list from that day and ends the penalty's disclosure,
rejection keeps it; only operators decide; the red list is not repaired."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.core import clock
from app.oversight import lists
from tests.oversight.conftest import TODAY, serious_penalty


@pytest.fixture
def blacklisted(db, make_enterprise, add, refresh, firm_user):
    ent = make_enterprise()
    rec = add(ent, "penalty", serious_penalty(decided=30))
    refresh(ent)
    [entry] = lists.publish(db, None, actor="test")
    return ent, firm_user(ent), entry, rec


def apply(client, entry, text="已缴清罚款并完成调度系统整改，附整改报告"):
    return client.post("/api/v1/repairs", json={"entry_id": entry.id, "rectification": text})


def test_repair_before_the_minimum_period_is_refused(blacklisted, client, db, sign_in):
    ent, user, entry, _ = blacklisted
    sign_in(user)
    early = apply(client, entry)
    body = early.get_json()
    earliest = clock.add_months(TODAY, 12)  # black list: a year after publication
    assert early.status_code == 422 and body["code"] == "repair_too_early"
    assert earliest.isoformat() in body["errors"]["entry_id"][0]
    entry.published_on = clock.add_months(TODAY, -12) + dt.timedelta(days=1)  # one day short
    db.flush()
    assert apply(client, entry).status_code == 422
    entry.published_on = clock.add_months(TODAY, -12)  # exactly a year
    db.flush()
    ok = apply(client, entry)
    assert ok.status_code == 201, ok.get_json()
    assert apply(client, entry).status_code == 409  # one open request per entry
    mine = client.get("/api/v1/me/lists").get_json()
    assert mine[0]["repair_from"] == TODAY.isoformat()


def test_approval_takes_the_firm_off_from_that_day_and_ends_the_disclosure(blacklisted, client, db, sign_in,
                                                                          operator, refresh):
    ent, user, entry, rec = blacklisted
    entry.published_on = clock.add_months(TODAY, -13)
    db.flush()
    assert [p["decision_no"] for p in client.get(f"/api/v1/public/enterprises/{ent.uscc}").get_json()["penalties"]] \
        == [rec.payload["decision_no"]]
    sign_in(user)
    no = apply(client, entry).get_json()["request_no"]
    sign_in(user)
    assert client.post(f"/api/v1/repairs/{no}/decide", json={"approve": True, "reason": "自批"}).status_code == 403
    sign_in(operator)
    done = client.post(f"/api/v1/repairs/{no}/decide", json={"approve": True, "reason": "整改到位，准予修复"})
    assert done.status_code == 200 and done.get_json()["status"] == "approved"
    db.refresh(entry)
    db.refresh(rec)
    assert str(entry.status) == "exited" and str(entry.exit_reason) == "repaired" and entry.exited_on == TODAY
    assert rec.disclosure_ended_on == TODAY and str(rec.status) == "active"  # history kept
    public = client.get(f"/api/v1/public/enterprises/{ent.uscc}").get_json()
    assert public["lists"] == [] and public["penalties"] == []
    assert client.get("/api/v1/lists/black").get_json()["meta"]["total"] == 0
    assert client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()["grade"] != "C"
    # The repaired record does not list the firm again.
    assert refresh(ent).entered["black"] == 0
    assert client.post(f"/api/v1/repairs/{no}/decide", json={"approve": False, "reason": "x"}).status_code == 409
    sign_in(user)
    assert "信用修复申请已批准" in client.get("/api/v1/me/notices").get_json()["items"][0]["title"]


def test_rejection_keeps_the_firm_on_the_list(blacklisted, client, db, sign_in, operator):
    ent, user, entry, _ = blacklisted
    entry.published_on = clock.add_months(TODAY, -13)
    db.flush()
    sign_in(user)
    no = apply(client, entry).get_json()["request_no"]
    sign_in(operator)
    resp = client.post(f"/api/v1/repairs/{no}/decide", json={"approve": False, "reason": "整改报告未加盖公章"})
    assert resp.status_code == 200 and resp.get_json()["decision_reason"] == "整改报告未加盖公章"
    db.refresh(entry)
    assert str(entry.status) == "active"
    assert [i["uscc"] for i in client.get("/api/v1/lists/black").get_json()["items"]] == [ent.uscc]


def test_only_the_firm_applies_and_not_for_the_red_list(db, client, sign_in, make_enterprise, firm_user, grade,
                                                        refresh, blacklisted, make_user):
    ent, user, entry, _ = blacklisted
    other = firm_user(make_enterprise())
    sign_in(other)
    assert apply(client, entry).status_code == 422  # not its entry: not disclosed
    sign_in(make_user("bank"))
    assert apply(client, entry).status_code == 403
    red = make_enterprise()
    grade(red, "AAA")
    refresh(red)
    [red_entry] = lists.publish(db, None, actor="test")
    red_entry.published_on = clock.add_months(TODAY, -24)
    db.flush()
    sign_in(firm_user(red))
    refused = apply(client, red_entry)
    assert refused.status_code == 422 and "不适用信用修复" in refused.get_json()["errors"]["entry_id"][0]
    assert db.scalar(sa.select(sa.func.count()).select_from(sa.table("repair_request"))) == 0


def test_the_repair_page_offers_the_firms_repairable_entries(db, client, sign_in, make_enterprise, firm_user, grade,
                                                             refresh, blacklisted):
    ent, user, entry, _ = blacklisted
    sign_in(user)
    page = client.get("/me/repairs/new").get_data(as_text=True)  # no entry chosen yet: a choice, not a dead end
    assert '<select id="entry_id" name="entry_id"' in page and f'<option value="{entry.id}" disabled>' in page
    assert "最早可于 " + clock.add_months(TODAY, 12).isoformat() in page  # published today: a year to wait
    entry.published_on = clock.add_months(TODAY, -12)
    db.flush()
    page = client.get("/me/repairs/new").get_data(as_text=True)
    assert f'<option value="{entry.id}">' in page
    chosen = client.get(f"/me/repairs/new?entry_id={entry.id}").get_data(as_text=True)
    assert f'type="hidden" name="entry_id" value="{entry.id}"' in chosen and "<select" not in chosen
    assert apply(client, entry).status_code == 201
    page = client.get("/me/repairs/new").get_data(as_text=True)  # one request at a time per entry
    assert f'<option value="{entry.id}" disabled>' in page and "已有待审核的修复申请" in page
    # A red-list entry is not repaired: its firm is told so, and gets no form.
    red = make_enterprise()
    grade(red, "AAA")
    refresh(red)
    [red_entry] = lists.publish(db, None, actor="test")
    sign_in(firm_user(red))
    page = client.get(f"/me/repairs/new?entry_id={red_entry.id}").get_data(as_text=True)
    assert "没有可申请修复的名单记录" in page and "红名单无需修复" in page and 'name="rectification"' not in page
