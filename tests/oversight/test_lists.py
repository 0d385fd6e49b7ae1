"""Lists: each criterion at its edge, refresh idempotent, publication, the scoring cap, and
each way out (period, records expiring, criteria no longer met, repair elsewhere)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from app.core import clock
from app.oversight import lists
from app.oversight.criteria import CriteriaError, parse_criteria
from app.oversight.models import ListEvent
from app.scoring.services import run_evaluations
from tests.oversight.conftest import TODAY, arrears, breached, dishonest, serious_penalty, tax


def names(entries):
    return sorted((str(e.list_name), str(e.status)) for e in entries)


def test_a_dishonest_debtor_enters_the_black_list_once_published(db, client, make_enterprise, add, refresh,
                                                                 entries, operator):
    ent = make_enterprise()
    rec = add(ent, "judicial", dishonest())
    result = refresh(ent)
    assert result.entered["black"] == 1
    [entry] = entries(ent, "black")
    assert str(entry.status) == "pending" and entry.basis[0]["criterion"] == "dishonest_debtor"
    assert entry.basis[0]["records"] == [rec.id]
    # Not yet published: not public, no cap.
    assert client.get("/api/v1/lists/black").get_json()["meta"]["total"] == 0
    lists.publish(db, [entry.id], actor="test")
    db.refresh(entry)
    assert str(entry.status) == "active" and entry.published_on == TODAY
    assert entry.ends_on == clock.add_months(TODAY, 24)  # 失信被执行人: two years
    listed = client.get("/api/v1/lists/black").get_json()
    assert [i["uscc"] for i in listed["items"]] == [ent.uscc] and listed["items"][0]["basis"] == ["失信被执行人"]
    evaluation = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    assert evaluation["grade"] == "C"  # on the black list → C


def test_refresh_is_idempotent(db, make_enterprise, add, refresh, grade):
    ent = make_enterprise()
    add(ent, "judicial", dishonest())
    add(ent, "tax", tax(TODAY.year - 2, "D"))
    first = refresh()
    events = db.scalar(sa.select(sa.func.count()).select_from(ListEvent))
    second = refresh()
    assert first.changes >= 2 and second.changes == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(ListEvent)) == events
    lists.publish(db, None, actor="test")
    assert refresh().changes == 0


@pytest.mark.parametrize(("months_ago", "listed"), [(0, True), (23, True), (24, False)])
def test_breached_contracts_count_for_two_years(make_enterprise, add, refresh, entries, months_ago, listed):
    ent = make_enterprise()
    due = (TODAY - clock.add_months(TODAY, -months_ago)).days + (1 if months_ago == 0 else 0)
    add(ent, "contract", breached(due if months_ago < 24 else due))
    refresh(ent)
    assert bool(entries(ent, "watch")) is listed


def test_the_latest_tax_grade_decides(make_enterprise, add, refresh, entries):
    d_then_b, b_then_d = make_enterprise(), make_enterprise()
    add(d_then_b, "tax", tax(TODAY.year - 3, "D"))
    add(d_then_b, "tax", tax(TODAY.year - 2, "B"))
    add(b_then_d, "tax", tax(TODAY.year - 3, "B"))
    add(b_then_d, "tax", tax(TODAY.year - 2, "D"))
    refresh()
    assert entries(d_then_b, "watch") == []
    [entry] = entries(b_then_d, "watch")
    assert entry.basis[0]["criterion"] == "tax_grade_d"


@pytest.mark.parametrize(("months", "listed"), [(2, False), (3, False), (4, True)])
def test_utility_arrears_over_three_months(make_enterprise, add, refresh, entries, months, listed):
    ent = make_enterprise()
    add(ent, "utility", arrears(1, months))
    refresh(ent)
    assert bool(entries(ent, "watch")) is listed


def test_the_red_list_wants_aaa_and_three_clean_years(make_enterprise, add, refresh, entries, grade):
    clean, stained, old_stain, aa = make_enterprise(), make_enterprise(), make_enterprise(), make_enterprise()
    for ent in (clean, stained, old_stain):
        grade(ent, "AAA")
    grade(aa, "AA")
    three_years = (TODAY - clock.add_months(TODAY, -36)).days
    add(stained, "contract", breached(three_years - 1))  # inside the window (and on the watch list)
    add(old_stain, "contract", breached(three_years))  # exactly three years ago: outside
    refresh()
    assert names(entries(clean, "red")) == [("red", "pending")]
    assert entries(stained, "red") == [] and entries(aa, "red") == []
    assert names(entries(old_stain, "red")) == [("red", "pending")]


def test_a_grade_drop_of_two_steps(make_enterprise, refresh, entries, grade):
    two, one = make_enterprise(), make_enterprise()
    grade(two, "AA", days=200)
    grade(two, "BBB")
    grade(one, "AA", days=200)
    grade(one, "A")
    refresh()
    [entry] = entries(two, "watch")
    assert entry.basis[0]["criterion"] == "grade_drop" and "AA → BBB" in entry.basis[0]["label"]
    assert entries(one, "watch") == []


def test_a_pending_entry_is_cancelled_when_its_record_goes(db, make_enterprise, add, refresh, entries):
    ent = make_enterprise()
    rec = add(ent, "judicial", dishonest())
    refresh(ent)
    rec.status = "revoked"
    db.flush()
    result = refresh(ent)
    [entry] = entries(ent, "black")
    assert result.cancelled["black"] == 1 and str(entry.status) == "cancelled"
    assert str(entry.exit_reason) == "record_expired"


def test_an_active_entry_exits_when_its_record_expires(db, make_enterprise, add, refresh, entries, client):
    ent = make_enterprise()
    rec = add(ent, "penalty", serious_penalty())
    refresh(ent)
    lists.publish(db, None, actor="test")
    run_evaluations(db, "single", [ent.id])
    rec.status = "expired"
    db.flush()
    result = refresh(ent)
    [entry] = entries(ent, "black")
    assert result.exited["black"] == 1 and str(entry.status) == "exited"
    assert str(entry.exit_reason) == "record_expired" and entry.exited_on == TODAY
    assert client.get("/api/v1/lists/black").get_json()["meta"]["total"] == 0
    assert result.reevaluated == 1


def test_the_fixed_period_ends_it_and_its_record_cannot_list_the_firm_again(db, make_enterprise, add, refresh,
                                                                            entries):
    ent = make_enterprise()
    add(ent, "judicial", dishonest())
    refresh(ent)
    [entry] = lists.publish(db, None, actor="test")
    day_before = entry.ends_on - dt.timedelta(days=1)
    assert refresh(ent, day_before).changes == 0
    assert refresh(ent, entry.ends_on).exited["black"] == 1
    db.refresh(entry)
    assert str(entry.exit_reason) == "period_ended" and entry.exited_on == entry.ends_on
    again = refresh(ent, entry.ends_on + dt.timedelta(days=1))
    assert again.entered["black"] == 0 and len(entries(ent, "black")) == 1
    # A new record does list it again.
    add(ent, "judicial", dishonest(case=2, published=10))
    assert refresh(ent, entry.ends_on + dt.timedelta(days=1)).entered["black"] == 1


def test_publishing_only_pending_entries_is_refused_otherwise(db, make_enterprise, add, refresh, client, sign_in,
                                                             operator, make_user):
    from app.core.errors import InvalidInput

    ent = make_enterprise()
    add(ent, "judicial", dishonest())
    refresh(ent)
    [entry] = lists.publish(db, None, actor="test")
    with pytest.raises(InvalidInput):
        lists.publish(db, [entry.id], actor="test")
    sign_in(make_user("bank"))
    assert client.post("/api/v1/list-changes/publish", json={}).status_code == 403
    assert client.get("/api/v1/list-changes").status_code == 403
    sign_in(operator)
    assert client.get("/api/v1/list-changes").status_code == 200
    assert client.get("/api/v1/lists/grey").status_code == 404


def test_a_malformed_criteria_file_is_refused_naming_the_entry():
    from app.oversight.criteria import DEFAULT_FILE

    doc = json.loads(DEFAULT_FILE.read_text())
    bad = json.loads(json.dumps(doc))
    bad["lists"]["watch"]["criteria"][1]["category"] = "weather"
    with pytest.raises(CriteriaError, match=r"lists\.watch\.criteria\[1\]\.category"):
        parse_criteria(bad)
    bad = json.loads(json.dumps(doc))
    bad["lists"]["red"]["criteria"][0]["grades"] = ["AAAA"]
    with pytest.raises(CriteriaError, match=r"lists\.red\.criteria\[0\]\.grades"):
        parse_criteria(bad)
    bad = json.loads(json.dumps(doc))
    del bad["lists"]["black"]
    with pytest.raises(CriteriaError, match="lists"):
        parse_criteria(bad)
    assert parse_criteria(doc).version == "1.1"


def test_a_refresh_as_of_a_future_day_is_refused(client, sign_in, operator):
    import datetime as dt

    from app.core import clock

    sign_in(operator)
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    resp = client.post("/api/v1/lists/refresh", json={"as_of": tomorrow})
    assert resp.status_code == 422 and "as_of" in resp.get_json()["errors"], resp.get_json()
    assert client.post("/api/v1/lists/refresh", json={"as_of": clock.today().isoformat()}).status_code == 200
