"""The monitoring pages: each role's inbox and subscriptions, and who may not see them."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.accounts.models import Institution
from app.core import signals
from tests.markup import unwrapped
from tests.monitoring.conftest import add_consent, dispatch


def test_a_bank_officer_subscribes_from_the_page_and_sees_the_alert(
        client: FlaskClient, db: Session, make_enterprise: Any, make_user: Any, login: Any) -> None:
    firm = make_enterprise()
    officer = make_user("bank")
    add_consent(db, firm, db.get(Institution, officer.institution_id))
    login(officer)
    page = client.get("/bank/monitoring")
    assert page.status_code == 200 and "贷后监测" in page.get_data(as_text=True)
    resp = client.post("/monitoring/subscriptions", data={"uscc": firm.uscc, "events": ["grade.downgraded"],
                                                         "csrf_token": client.environ_base["HTTP_X_CSRFTOKEN"]})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    signals.grades_changed.send(None, session=db, changes=[{
        "enterprise_id": firm.id, "old_grade": "AA", "new_grade": "A", "old_score": None, "new_score": None,
        "as_of": "2026-11-18"}])
    dispatch(db)
    text = unwrapped(client.get("/bank/monitoring").get_data(as_text=True))
    assert "信用等级下调，AA → A（2026-11-18 评价）" in text and firm.uscc in text and "1 条未读" in text


def test_a_subscription_without_consent_is_refused_on_the_page(
        client: FlaskClient, db: Session, make_enterprise: Any, make_user: Any, login: Any) -> None:
    firm = make_enterprise()
    login(make_user("bank"))
    resp = client.post("/monitoring/subscriptions", data={"uscc": firm.uscc,
                                                         "csrf_token": client.environ_base["HTTP_X_CSRFTOKEN"]})
    assert resp.status_code == 422 and "贷后管理" in resp.get_data(as_text=True)


@pytest.mark.parametrize(("role", "path"), [("firm", "/bank/monitoring"), ("bank", "/me/alerts"),
                                            ("bank", "/console/alerts"), ("firm", "/group/alerts")])
def test_pages_of_other_roles_are_refused(client: FlaskClient, make_enterprise: Any, make_user: Any, login: Any,
                                          role: str, path: str) -> None:
    login(make_user(role, make_enterprise() if role == "firm" else None))
    assert client.get(path).status_code == 403


def test_a_firm_sees_its_own_alerts_page(client: FlaskClient, make_enterprise: Any, make_user: Any,
                                         login: Any) -> None:
    firm = make_enterprise()
    login(make_user("firm", firm))
    page = client.get("/me/alerts").get_data(as_text=True)
    assert "本企业的预警" in page and "尚无订阅" in page
    assert f'<input type="hidden" name="uscc" value="{firm.uscc}">' in page and 'id="uscc"' not in page  # itself only
    resp = client.post("/monitoring/subscriptions", data={"uscc": firm.uscc,
                                                         "csrf_token": client.environ_base["HTTP_X_CSRFTOKEN"]})
    assert resp.status_code == 302
    after = client.get("/me/alerts").get_data(as_text=True)
    assert "尚无订阅" not in after and f"确定取消对 {firm.name} 的监测？" in after
