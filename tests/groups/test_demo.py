"""The demo's power groups: five groups of two or three levels, a credit manager each who
signs in with the demo password and sees the dashboard, most subsidiaries' consents."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app import create_app
from app.accounts.models import Institution, InstitutionKind, Role, User
from app.archive.services import subsidiaries
from app.core.db import Database
from consent.models import Consent, ConsentStatus, Purpose
from tests.conftest import DEMO_PASSWORD


def test_the_demo_has_groups_with_levels_users_and_most_consents(demo):
    database = Database(demo.url)
    try:
        with database.session() as session:
            groups = list(session.scalars(sa.select(Institution).where(Institution.kind == InstitutionKind.group)))
            assert len(groups) == 5
            users = list(session.scalars(sa.select(User).where(User.role == Role.group)))
            assert {u.username for u in users} == {"group", "group2", "group3", "group4", "group5"}
            for inst in groups:
                parent = session.scalar(sa.text("SELECT id FROM enterprise WHERE uscc = :u"), {"u": inst.uscc})
                subs = subsidiaries(session, parent)
                assert 3 <= len(subs) <= 6 and {s.level for s in subs} == {1, 2}
                consented = set(session.scalars(sa.select(Consent.enterprise_id).where(
                    Consent.institution_id == inst.id, Consent.purpose == Purpose.group_credit_management,
                    Consent.status == ConsentStatus.active)))
                assert len(consented) == len(subs) - 1  # most, not all
                assert consented <= {s.enterprise_id for s in subs}
    finally:
        database.dispose()
    assert "group " in demo.output and "集团信用管理人员" in demo.output


def test_the_demo_group_user_sees_the_dashboard(demo):
    app = create_app({"database_url": demo.url, "instance_path": demo.instance, "secret_key": "demo-groups-key",
                      "testing": True})
    http = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True))
    assert token is not None
    resp = http.post("/login", data={"username": "group", "password": DEMO_PASSWORD, "csrf_token": token.group(1)})
    assert resp.status_code == 302
    page = http.get("/group")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "二级公司 AAA 占比" in html and "横向对标" in html and "未经授权，仅显示公开信息" in html
    app.extensions["pc_db"].dispose()
