"""A bank officer asks a firm for a consent from the site (the bank system's request, by
hand): the firm is told, approves it on its consents page, and only then may the bank pull."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from app.accounts.services import create_user
from app.archive.uscc import make_uscc
from app.oversight.models import Notice
from consent.models import Consent, ConsentEvent, ConsentStatus
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of, refusals


def _officer(db: Any, bank: Any, name: str = "officer") -> Any:
    return create_user(db, username=f"{name}-{bank.institution.licence_no}", password=PASSWORD, role="bank",
                       institution_licence=bank.institution.licence_no)


def _form(page: str, uscc: str, **changes: Any) -> dict[str, Any]:
    valid_until = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    form = {"csrf_token": csrf_of(page), "uscc": uscc, "purpose": "loan_application", "scopes": ["identity", "tax"],
            "data_from": "2023-01-01", "data_to": dt.date.today().isoformat(), "valid_until": valid_until,
            "fetch_type": "one_time", "data_life_unit": "month", "data_life_value": "6"}
    form.update(changes)
    return form


def test_an_officer_requests_a_consent_the_firm_is_told_and_approves_it(bank, firm, client, login, db) -> None:
    officer = _officer(db, bank)
    login(officer)
    page = client.get(f"/consents/request?uscc={firm.enterprise.uscc}").get_data(as_text=True)
    assert "申请企业授权" in page and f'value="{firm.enterprise.uscc}"' in page

    # Bad input: the page again, each error under its field, what was typed kept.
    resp = client.post("/consents/request", data=_form(page, "91110000MA0012345", scopes=[], data_to="2022-01-01"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="uscc-err"' in html and 'id="scopes-err"' in html and 'id="data_to-err"' in html
    assert 'value="91110000MA0012345"' in html
    assert 'aria-invalid="true" aria-describedby="data_to-err"' in html  # every field, not only uscc
    # A date picker left empty is a missing date, not a malformed date-time; a data life too
    # long is shown under its field.
    resp = client.post("/consents/request", data=_form(page, firm.enterprise.uscc, valid_until="",
                                                       data_life_unit="year", data_life_value="31"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="valid_until-err"' in html and "缺少必填字段" in html
    assert "例如 2026-12-31T18:00:00" not in html
    assert 'aria-describedby="valid_until-err"' in html and 'id="data_life-err"' in html and "最长 30 年" in html
    miswritten = "91110000" + "0" * 9 + "X"  # its check character is wrong
    resp = client.post("/consents/request", data=_form(page, miswritten))
    assert resp.status_code == 422 and 'id="uscc-err"' in resp.get_data(as_text=True)
    assert "校验位错误" in resp.get_data(as_text=True)
    unknown = make_uscc("9", "1", "110000", "00000000")  # well formed, but no such firm here
    resp = client.post("/consents/request", data=_form(page, unknown))
    assert resp.status_code == 422 and 'id="uscc-err"' in resp.get_data(as_text=True)
    assert "没有统一社会信用代码为" in resp.get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0  # nothing half-made

    resp = client.post("/consents/request", data=_form(page, firm.enterprise.uscc))
    assert resp.status_code == 302 and "status=PENDING" in resp.headers["Location"]
    db.expire_all()
    consent = db.scalar(sa.select(Consent).where(Consent.enterprise_id == firm.enterprise.id))
    assert consent is not None and consent.status == ConsentStatus.pending
    assert consent.institution_id == bank.institution.id and consent.created_via == "officer"
    assert consent.client_pk is None and consent.scopes == ["identity", "tax"]
    event = db.scalar(sa.select(ConsentEvent).where(ConsentEvent.consent_pk == consent.id))
    assert event is not None and event.actor == f"user:{officer.id}"
    listed = client.get("/consents?status=PENDING").get_data(as_text=True)
    assert consent.consent_id in listed

    # The firm is told, and decides on its consents page.
    notice = db.scalar(sa.select(Notice).where(Notice.enterprise_id == firm.enterprise.id,
                                               Notice.subject_type == "consent"))
    assert notice is not None and notice.subject_id == consent.consent_id and bank.institution.name in notice.title
    login(firm.user)
    assert "去同意或拒绝" in client.get("/me/notices").get_data(as_text=True)
    page = client.get("/consents").get_data(as_text=True)
    # The list does not approve at a click: the request's row leads to its terms, where the
    # answer is given after the sections, data range and validity are shown.
    row = page.split(f'title="{consent.consent_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-action="approve"' not in row and "查看并答复" in row
    assert f'href="/consents/{consent.consent_id}#decide"' in row and " 申请</span>" in row  # when it was asked
    assert "暂停" in page and "撤销" in page and "不可恢复" in page  # what each does, in words
    detail = client.get(f"/consents/{consent.consent_id}").get_data(as_text=True)
    decide = detail.split('id="decide"', 1)[1]
    assert "答复申请" in decide and f"数据范围 {consent.data_from} 至 {consent.data_to}" in decide
    assert 'data-action="approve"' in decide and 'data-action="reject"' in decide
    resp = client.post(f"/consents/{consent.consent_id}/approve", data={"csrf_token": csrf_of(detail), "back": "detail"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/consents/{consent.consent_id}")
    after = client.get(f"/consents/{consent.consent_id}").get_data(as_text=True)
    assert "已同意" in after and 'data-action="revoke"' in after.split('id="decide"', 1)[1]
    db.expire_all()
    approved = db.get(Consent, consent.id)
    assert approved is not None and approved.status == ConsentStatus.active and approved.artefact


def test_only_bank_officers_may_request_consents(bank, firm, client, login, db, make_user) -> None:
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/consents/request", data=_form(page, firm.enterprise.uscc))
    assert resp.status_code in (302, 401) and db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    for user in (firm.user, make_user("operator")):
        login(user)
        assert client.get("/consents/request").status_code == 403
        page = client.get("/consents").get_data(as_text=True)
        resp = client.post("/consents/request", data=_form(page, firm.enterprise.uscc))
        assert resp.status_code == 403
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0


def test_an_officer_of_a_suspended_institution_is_refused(bank, firm, client, login, db) -> None:
    officer = _officer(db, bank)
    bank.institution.active = False
    db.flush()
    login(officer)
    page = client.get("/consents/request").get_data(as_text=True)
    resp = client.post("/consents/request", data=_form(page, firm.enterprise.uscc))
    assert resp.status_code == 422 and "该金融机构已停用" in resp.get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    audited = refusals(db, "institution_inactive")  # written after the rollback, as the API's refusals
    assert [(e.action, e.actor, e.subject_id) for e in audited] == [
        ("consent.request", f"user:{officer.id}", firm.enterprise.uscc)]


def test_a_bank_systems_request_notifies_the_firm_too(bank, firm, db) -> None:
    consent = bank.request_consent(firm.enterprise.uscc)
    notice = db.scalar(sa.select(Notice).where(Notice.enterprise_id == firm.enterprise.id))
    assert notice is not None and notice.subject_id == consent["consent_id"] and notice.kind == "consent_request"


def test_the_firm_rejects_on_the_requests_page_with_a_reason(bank, firm, client, login, db) -> None:
    officer = _officer(db, bank, "officer-r")
    login(officer)
    page = client.get(f"/consents/request?uscc={firm.enterprise.uscc}").get_data(as_text=True)
    assert client.post("/consents/request", data=_form(page, firm.enterprise.uscc)).status_code == 302
    db.expire_all()
    consent = db.scalar(sa.select(Consent).where(Consent.enterprise_id == firm.enterprise.id))
    login(firm.user)
    detail = client.get(f"/consents/{consent.consent_id}").get_data(as_text=True)
    decide = detail.split('id="decide"', 1)[1]
    assert 'name="reason"' in decide and "拒绝理由（选填，机构可见）</label>" in decide
    resp = client.post(f"/consents/{consent.consent_id}/reject",
                       data={"csrf_token": csrf_of(detail), "back": "detail", "reason": "本企业暂无贷款需求"})
    assert resp.status_code == 302
    db.expire_all()
    assert db.get(Consent, consent.id).status == ConsentStatus.rejected
    last = db.scalars(sa.select(ConsentEvent).where(ConsentEvent.consent_pk == consent.id)
                      .order_by(ConsentEvent.id.desc())).first()
    assert last is not None and last.reason == "本企业暂无贷款需求"
    assert "本企业暂无贷款需求" in client.get(f"/consents/{consent.consent_id}").get_data(as_text=True)
