"""The demo's power groups: a few parents among the demo firms (generation and grid firms
first), each holding two or three second-level companies (二级公司), some of which hold
third-level ones; a group institution and a credit manager per group (``group`` for the first,
``group2`` … for the others, all with the ``group`` demo password); and the 集团信用管理
consent most subsidiaries grant their group (one per group does not, so the dashboard shows
both)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user, set_password
from app.archive.models import Enterprise, EnterpriseRelation, Segment
from app.archive.relations import Filer, file_relations
from app.core import clock
from app.core.signing import SigningKeys
from app.demo.firms import demo_firm_user
from consent.models import FetchType, PeriodUnit, Purpose
from consent.services import Terms, grant_consent

MAX_GROUPS = 5
FIRMS_PER_GROUP = 7  # a parent, up to three 二级公司, up to three 三级公司
PARENT_SEGMENTS = (Segment.generation, Segment.grid)


@dataclass
class GroupsReport:
    groups: list[str] = field(default_factory=list)  # parent USCCs
    relations: int = 0
    consents: int = 0


def group_username(i: int) -> str:
    return "group" if i == 0 else f"group{i + 1}"


def seed_groups(session: Session, signer: SigningKeys, seed: int, password: str,
                exclude: set[int] | None = None) -> GroupsReport:
    """Groups among the demo firms (``exclude``: firms left out, such as the demo firm)."""
    report = GroupsReport()
    if session.scalar(sa.select(EnterpriseRelation.id).limit(1)) is not None:
        return report  # made already
    rng = random.Random(seed * 7919 + 26)
    firms = [e for e in session.scalars(sa.select(Enterprise).order_by(Enterprise.id)) if e.id not in (exclude or set())]
    count = min(MAX_GROUPS, len(firms) // FIRMS_PER_GROUP)
    if count == 0:
        return report
    parents = [e for e in firms if e.segment in PARENT_SEGMENTS][:count]
    parents += [e for e in firms if e not in parents][:count - len(parents)]
    rest = [e for e in firms if e not in parents]
    rng.shuffle(rest)
    today = clock.today()
    for i, parent in enumerate(parents):
        level1 = [rest.pop() for _ in range(rng.choice((2, 3)))]
        level2 = [rest.pop() for _ in range(rng.choice((1, 2, 3)))]
        since = clock.month_start(today - dt.timedelta(days=rng.randint(2 * 365, 10 * 365)))  # before the as-of date
        rows = []
        for child in level1:
            kind = rng.choice(("wholly_owned", "controlling", "controlling"))
            rows.append({"parent_uscc": parent.uscc, "child_uscc": child.uscc, "kind": kind,
                         "share": "100" if kind == "wholly_owned" else str(rng.choice((51, 60, 65, 70, 80))),
                         "valid_from": since.isoformat()})
        for child in level2:
            holder = rng.choice(level1)
            kind = rng.choice(("wholly_owned", "controlling", "minority"))
            share = {"wholly_owned": "100", "controlling": str(rng.choice((51, 67, 75))),
                     "minority": str(rng.choice((20, 30, 35)))}[kind]
            rows.append({"parent_uscc": holder.uscc, "child_uscc": child.uscc, "kind": kind, "share": share,
                         "valid_from": (since + dt.timedelta(days=rng.randint(100, 700))).isoformat()})
        report.relations += file_relations(session, Filer(operator="demo"), rows).added
        licence = f"GRP{parent.uscc[-8:]}"
        inst = session.scalar(sa.select(Institution).where(Institution.licence_no == licence))
        if inst is None:
            inst = create_institution(session, name=f"{parent.name}（集团）", licence_no=licence, kind="group",
                                      uscc=parent.uscc)
        username = group_username(i)
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            create_user(session, username=username, password=password, role="group",
                        display_name=f"{parent.name} 信用管理部", institution_licence=inst.licence_no)
        else:
            set_password(session, user, password)
        report.groups.append(parent.uscc)
        subs = level1 + level2
        refuses = rng.choice(subs)  # one subsidiary per group has not granted (yet)
        now = clock.now().replace(microsecond=0)
        for child in subs:
            if child is refuses:
                continue
            grant_consent(session, signer, demo_firm_user(session, child), institution=inst, via="firm", terms=Terms(
                purpose=Purpose.group_credit_management, scopes=["evaluation", "summary", "lists"],
                data_from=clock.add_years(today, -3), data_to=today + dt.timedelta(days=365),
                valid_until=now + dt.timedelta(days=360), fetch_type=FetchType.periodic,
                frequency_unit=PeriodUnit.day, frequency_value=50, data_life_unit=PeriodUnit.year,
                data_life_value=1))
            report.consents += 1
    session.flush()
    return report
