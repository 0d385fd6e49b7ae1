"""A power group with subsidiaries on two levels, a firm outside it, another group; their
evaluations (two months), a group institution and a credit manager per group."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user
from app.archive.models import Enterprise
from app.archive.relations import Filer, file_relations
from app.core import clock
from app.scoring.models import Evaluation
from consent.models import Consent, FetchType, PeriodUnit, Purpose
from consent.services import Terms, grant_consent
from tests.conftest import PASSWORD

_n = iter(range(1000, 9999))


def evaluate(db, ent: Enterprise, grade: str, score: str | None, as_of: dt.date, *, current: bool = True,
             dims: tuple[str, str, str] = ("80", "80", "80")) -> Evaluation:
    ev = Evaluation(enterprise_id=ent.id, scorecard_id="power-v2", scorecard_version="test", as_of=as_of,
                    score=Decimal(score) if score else None, grade=grade, uncapped_grade=grade if score else None,
                    willingness=Decimal(dims[0]), capability=Decimal(dims[1]), performance=Decimal(dims[2]),
                    explanation={}, inputs_digest="0" * 64, record_count=0, current=current,
                    evaluated_at=clock.now() - (dt.timedelta(days=40) if not current else dt.timedelta(0)))
    db.add(ev)
    db.flush()
    return ev


def login_as(http: FlaskClient, user: User) -> FlaskClient:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    resp = http.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token.group(1)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    after = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True))
    if after is not None:
        http.environ_base["HTTP_X_CSRFTOKEN"] = after.group(1)
    return http


def group_terms(**overrides: Any) -> Terms:
    today = clock.today()
    values: dict[str, Any] = {
        "purpose": Purpose.group_credit_management, "scopes": ["evaluation", "lists"],
        "data_from": today - dt.timedelta(days=3 * 365), "data_to": today,
        "valid_until": clock.now() + dt.timedelta(days=300), "fetch_type": FetchType.periodic,
        "frequency_unit": PeriodUnit.day, "frequency_value": 50, "data_life_unit": PeriodUnit.year, "data_life_value": 1}
    values.update(overrides)
    return Terms(**values)


@dataclass
class World:
    firms: dict[str, Enterprise]
    institution: Institution
    manager: User
    other_institution: Institution
    other_manager: User
    admins: dict[str, User]
    consents: dict[str, Consent]


@pytest.fixture
def world(app, db, make_enterprise) -> World:
    """G holds A (全资) and B (控股 60%); A holds A1 (参股 30%).  H holds X.  O belongs to no
    group.  This month: A AAA 92 (was AA), B AA 85 (was AA), A1 A 75, O BBB 65, X unrated.
    A granted G 集团信用管理 (evaluation, lists); A1 granted and paused it; B granted nothing."""
    firms = {name: make_enterprise() for name in ("G", "A", "B", "A1", "O", "H", "X")}
    file_relations(db, Filer(operator="test"), [
        {"parent_uscc": firms["G"].uscc, "child_uscc": firms["A"].uscc, "kind": "wholly_owned", "valid_from": "2020-01-01"},
        {"parent_uscc": firms["G"].uscc, "child_uscc": firms["B"].uscc, "kind": "controlling", "share": "60",
         "valid_from": "2020-01-01"},
        {"parent_uscc": firms["A"].uscc, "child_uscc": firms["A1"].uscc, "kind": "minority", "share": "30",
         "valid_from": "2020-01-01"},
        {"parent_uscc": firms["H"].uscc, "child_uscc": firms["X"].uscc, "kind": "controlling", "share": "51",
         "valid_from": "2020-01-01"},
    ])
    month = clock.month_start(clock.today())
    last = clock.add_months(month, -1)
    evaluate(db, firms["A"], "AA", "84", last, current=False)
    evaluate(db, firms["B"], "AA", "85", last, current=False)
    evaluate(db, firms["A"], "AAA", "92", month, dims=("90", "95", "91"))
    evaluate(db, firms["B"], "AA", "85", month)
    evaluate(db, firms["A1"], "A", "75", month)
    evaluate(db, firms["O"], "BBB", "65", month)
    inst = create_institution(db, name="某电力集团有限公司", licence_no=f"GRP{next(_n)}", kind="group",
                              uscc=firms["G"].uscc)
    other = create_institution(db, name="另一电力集团有限公司", licence_no=f"GRP{next(_n)}", kind="group",
                               uscc=firms["H"].uscc)
    manager = create_user(db, username=f"group-{next(_n)}", password=PASSWORD, role="group",
                          institution_licence=inst.licence_no)
    other_manager = create_user(db, username=f"group-{next(_n)}", password=PASSWORD, role="group",
                                institution_licence=other.licence_no)
    admins = {name: create_user(db, username=f"firm-{name}-{next(_n)}", password=PASSWORD, role="firm",
                                enterprise_uscc=firms[name].uscc) for name in ("A", "B", "A1", "O")}
    keys = app.extensions["pc_signing_keys"]
    consents = {name: grant_consent(db, keys, admins[name], institution=inst, terms=group_terms())
                for name in ("A", "A1")}
    from consent.services import change_consent

    change_consent(db, consents["A1"], admins["A1"], "pause")
    db.flush()
    return World(firms, inst, manager, other, other_manager, admins, consents)
