"""The validity and its reviews at the edges of February: a term runs to the day before its
anniversary, and the anniversary of 29 February in a common year is 1 March (issued
2026-03-10 for three years: to 2029-03-09; issued 2028-02-29: to 2031-02-28). Reviews fall on
the anniversaries, never on the last day of the validity."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import time_machine

from app.certificates import services
from app.certificates.rules import Rules, anniversary, term_end
from app.core import clock
from tests.certificates.conftest import OPERATOR, reload
from tests.markup import unwrapped

D = dt.date


@pytest.mark.parametrize(("start", "months", "day"), [
    (D(2028, 2, 29), 12, D(2029, 3, 1)),  # no 29 February in 2029: rolls over to 1 March
    (D(2028, 2, 29), 48, D(2032, 2, 29)),  # a leap year again
    (D(2028, 2, 28), 12, D(2029, 2, 28)),
    (D(2028, 3, 1), 12, D(2029, 3, 1)),
    (D(2027, 2, 28), 12, D(2028, 2, 28)),  # into a leap year: 29 February is a day of the term
    (D(2027, 3, 1), 12, D(2028, 3, 1)),
    (D(2026, 1, 31), 1, D(2026, 3, 1)),  # no 31 February either
    (D(2026, 12, 31), 3, D(2027, 3, 31)),
])
def test_the_anniversary_rolls_a_missing_day_over(start, months, day):
    assert anniversary(start, months) == day


@pytest.mark.parametrize(("start", "years", "last"), [
    (D(2026, 3, 10), 3, D(2029, 3, 9)),  # the ordinary case the rule is read from
    (D(2028, 2, 29), 3, D(2031, 2, 28)),  # was 2031-02-27
    (D(2028, 2, 29), 1, D(2029, 2, 28)),
    (D(2028, 2, 29), 4, D(2032, 2, 28)),  # the anniversary is 29 February itself
    (D(2028, 2, 28), 3, D(2031, 2, 27)),
    (D(2028, 3, 1), 3, D(2031, 2, 28)),
    (D(2027, 2, 28), 1, D(2028, 2, 27)),
    (D(2027, 3, 1), 1, D(2028, 2, 29)),  # ends on a leap day
    (D(2026, 11, 25), 3, D(2029, 11, 24)),
])
def test_a_term_ends_the_day_before_its_anniversary(start, years, last):
    assert term_end(start, 12 * years) == last
    assert Rules(validity_years=years).valid_until(start) == last


def test_reviews_fall_on_the_anniversaries_counted_from_the_issue_date():
    rules = Rules()
    leap = D(2028, 2, 29)
    assert rules.review_after(leap, leap) == D(2029, 3, 1)
    assert rules.review_after(leap, D(2029, 3, 1)) == D(2030, 3, 1)
    assert rules.review_after(leap, D(2030, 3, 1)) == D(2031, 3, 1)  # after the validity: not held
    # Not chained: a review made on a clamped day does not drift the next one.
    assert Rules(review_months=1).review_after(D(2026, 1, 31), D(2026, 3, 1)) == D(2026, 3, 31)
    assert rules.review_after(D(2027, 2, 28), D(2027, 2, 28)) == D(2028, 2, 28)


def issue_on(db, publicized, keys, day: dt.date, grade: str = "AA"):
    """A result published eight days before ``day`` and issued on ``day`` (01:00 Beijing)."""
    with time_machine.travel(clock.at_cn(day - dt.timedelta(days=8), 10), tick=False):
        cert, ent, _ = publicized(grade)
    with time_machine.travel(clock.at_cn(day, 1), tick=False):
        services.issue(db, keys, cert.certificate_no, OPERATOR)
    assert cert.status == "issued", cert.status_reason
    return cert, ent


@pytest.mark.parametrize(("issued_on", "last", "first_review"), [
    (D(2028, 2, 29), D(2031, 2, 28), D(2029, 3, 1)),
    (D(2028, 2, 28), D(2031, 2, 27), D(2029, 2, 28)),
    (D(2028, 3, 1), D(2031, 2, 28), D(2029, 3, 1)),
    (D(2027, 3, 1), D(2030, 2, 28), D(2028, 3, 1)),
    (D(2027, 2, 28), D(2030, 2, 27), D(2028, 2, 28)),
])
def test_a_certificate_issued_at_the_edges_of_february(db, publicized, keys, issued_on, last, first_review):
    cert, ent = issue_on(db, publicized, keys, issued_on)
    assert (cert.valid_from, cert.valid_until, cert.next_review_on) == (issued_on, last, first_review)
    doc = services.frozen(cert)
    assert (doc["valid_from"], doc["valid_until"]) == (issued_on.isoformat(), last.isoformat())
    assert services.current_certificate(db, ent.id, last) is cert
    assert services.current_certificate(db, ent.id, last + dt.timedelta(days=1)) is None


def test_a_leap_day_certificate_lives_to_28_february_with_three_reviews_none_on_its_last_day(db, publicized, keys):
    cert, ent = issue_on(db, publicized, keys, D(2028, 2, 29))
    reviewed = []
    for day in (D(2029, 2, 28), D(2029, 3, 1), D(2030, 3, 1), D(2031, 2, 28)):
        with time_machine.travel(clock.at_cn(day, 0, 15), tick=False):
            outcome = services.advance(db, keys)
        assert outcome.expired == 0, day
        reviewed += [day] * outcome.reviewed
    assert reviewed == [D(2029, 3, 1), D(2030, 3, 1)]  # the third would fall on 2031-03-01, past the validity
    assert reload(db, cert).status == "issued" and cert.next_review_on is None
    with time_machine.travel(clock.at_cn(D(2031, 2, 28), 23, 59), tick=False):
        body = services.verification(db, keys, cert.certificate_no, cert.digest)
        assert body["in_force"] is True and body["valid_until"] == "2031-02-28"
    with time_machine.travel(clock.at_cn(D(2031, 3, 1), 0, 15), tick=False):
        assert services.advance(db, keys).expired == 1
    assert reload(db, cert).status == "expired" and cert.status_reason == "有效期已于 2031-02-28 届满"


# --- past its validity, before the daily job marks it ---------------------------------------------

LAPSED = "有效期已于 2029-11-17 届满"


@pytest.mark.parametrize("suspended", [False, True])
def test_a_certificate_past_its_validity_shows_as_expired_everywhere_before_the_job(
        client, db, issued, operator, sign_in, keys, tmp_path, suspended):
    cert, ent, user = issued("AA")
    if suspended:
        services.suspend(db, operator, cert.certificate_no, "核查申报材料")
    row_status, row_reason = str(cert.status), cert.status_reason
    number = cert.certificate_no
    with time_machine.travel(clock.at_cn(dt.date(2029, 11, 18), 0, 5), tick=False):  # the job runs at 00:15
        body = client.get(f"/verify/{number}", query_string={"format": "json", "digest": cert.digest}).get_json()
        assert (body["status"], body["status_label"], body["status_reason"]) == ("expired", "已过期", LAPSED)
        assert body["status_changed_at"] == "2029-11-17T16:00:00.000Z"  # 2029-11-18 00:00 Beijing
        assert body["valid"] is False and body["verdict"] == "证书已过期：不再有效"
        html = unwrapped(client.get(f"/verify/{number}").get_data(as_text=True))
        assert f"已过期</strong>：{LAPSED}" in html and (row_reason or "—") not in html
        profile = client.get(f"/api/v1/public/enterprises/{ent.uscc}/certificates").get_json()
        assert [(c["status"], c["status_label"], c["status_reason"]) for c in profile] == [("expired", "已过期", LAPSED)]

        sign_in(user)
        mine = client.get(f"/api/v1/me/certificates/{number}").get_json()
        assert (mine["status"], mine["status_label"], mine["status_reason"]) == ("expired", "已过期", LAPSED)
        listed = client.get("/api/v1/me/certificates").get_json()["items"]
        assert [(c["status"], c["status_reason"]) for c in listed] == [("expired", LAPSED)]
        page = client.get(f"/me/certificates/{number}").get_data(as_text=True)
        assert f'<span class="status status-expired">已过期</span> {LAPSED}' in page
        assert '<span class="status status-expired">已过期</span>' in client.get("/me/certificates").get_data(as_text=True)
        pdf = tmp_path / "lapsed.pdf"
        pdf.write_bytes(client.get(f"/api/v1/certificates/{number}/pdf").data)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "已过期" in text and "以核验结果为准" in text

        sign_in(operator)
        console = client.get(f"/console/certificates/{number}").get_data(as_text=True)
        assert f'<span class="status status-expired">已过期</span> {LAPSED}' in console
        assert "已是最终状态（已过期）" in console and ">暂停</button>" not in console and ">恢复</button>" not in console
        queue = client.get(f"/console/certificates?q={number}").get_data(as_text=True)
        assert '<span class="status status-expired">已过期</span>' in queue
        with pytest.raises(services.StatusConflict):
            (services.revoke if suspended else services.suspend)(db, operator, number, "过期后不能再改")
    # The row itself is untouched until the job runs.
    assert (str(reload(db, cert).status), cert.status_reason) == (row_status, row_reason)


# --- the next annual review, only while there is one to come ---------------------------------------

REVIEW = "下次年度复核 2027-11-18"


@pytest.mark.parametrize("end", ["revoked", "lapsed"])
def test_the_next_review_is_shown_only_while_the_certificate_is_held(client, db, issued, operator, sign_in, end):
    """Revoked, or past its validity (before the job marks it): the row keeps its review day,
    but no page or answer announces a review that will never come."""
    cert, ent, user = issued("AA")
    number = cert.certificate_no
    sign_in(operator)
    assert REVIEW in client.get(f"/console/certificates/{number}").get_data(as_text=True)
    assert client.get(f"/api/v1/certificates/{number}/history").get_json()["next_review_on"] == "2027-11-18"
    services.suspend(db, operator, number, "核查申报材料")  # suspended: the review still comes
    assert REVIEW in client.get(f"/console/certificates/{number}").get_data(as_text=True)
    assert services.next_review(cert) == dt.date(2027, 11, 18)
    if end == "revoked":
        services.revoke(db, operator, number, "企业注销")
        moment = clock.now()
    else:
        moment = clock.at_cn(dt.date(2029, 11, 18), 0, 5)
    with time_machine.travel(moment, tick=False):
        assert reload(db, cert).next_review_on is not None  # still on the row
        sign_in(operator)  # years on: a new session
        console = client.get(f"/console/certificates/{number}").get_data(as_text=True)
        assert "下次年度复核" not in console and "2026-11-18 至 2029-11-17" in console  # the validity is still shown
        assert client.get(f"/api/v1/certificates/{number}/history").get_json()["next_review_on"] is None
        assert [c["next_review_on"] for c in client.get("/api/v1/certificates",
                                                        query_string={"q": number}).get_json()["items"]] == [None]
        sign_in(user)
        assert "下次年度复核" not in client.get(f"/me/certificates/{number}").get_data(as_text=True)
        assert client.get(f"/api/v1/me/certificates/{number}").get_json()["next_review_on"] is None
        assert services.next_review(cert) is None
