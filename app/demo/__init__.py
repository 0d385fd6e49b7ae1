"""The whole demo, as ``powercredit seed`` builds it: firms and their records (drawn from a
credit quality each firm hides, loan defaults included), thirteen months of month-end
evaluations (enough to back-test the grades a year before the as-of date), the marketplace,
oversight and the demo firm's first self-report.

The demo is a function of its inputs (number of firms, seed, as-of date): it runs on a
simulated clock (``app.core.clock.simulated``) that starts on the as-of date, so what it
writes does not depend on the day or the hour it is run, and two runs with the same inputs
write the same data (identifiers and secrets, which are random by design, aside).
Whatever the date, it covers every state it claims in ``CLAIMED_STATES``.

It is made once, into an empty database: on a database that already holds the demo it only
resets the demo accounts' passwords (``scripts/run.sh`` seeds at every start), and it
refuses a database that holds other data.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.services import MIN_PASSWORD_LENGTH, set_password
from app.archive.models import CreditRecord, Enterprise
from app.audit import services as audit
from app.audit.models import AuditEvent
from app.certificates.models import Certificate
from app.core import clock
from app.core.config import Settings
from app.core.crypto import FieldCipher
from app.core.errors import Conflict, InvalidInput
from app.core.signing import load_signing_keys
from app.demo.certificates import seed_certificates
from app.demo.firms import BANKS, SeedReport, seed_demo
from app.demo.groups import MAX_GROUPS, group_username, seed_groups
from app.demo.marketplace import seed_marketplace
from app.demo.monitoring import seed_monitoring
from app.demo.oversight import seed_oversight
from app.demo.procurement import ProcurementReport, seed_procurement, seed_sample_screening
from app.oversight import lists
from app.oversight.models import Commitment, Objection, RepairRequest
from app.procurement.models import Screening
from app.scoring.models import Evaluation
from app.scoring.services import grade_distribution, run_evaluations
from consent.models import Consent
from marketplace.models import Application, MarketplaceProfile, Offer, Product, ProductStatus
from marketplace.services import rate_cap
from reports.services import issue_self_report

# Month-end evaluations before the as-of date, so grade histories and the index have months,
# reaching back past the day a year before the as-of date: a back-test there, over the year
# up to the as-of date, reads the last of them on or before that day.
HISTORY_MONTHS = 13
# The demo's "now" on its as-of date: 09:00 Beijing time (or now, when that is earlier).
START_HOUR = 9
# The earliest as-of date: tax grades are published from 2015 (for 2014), and the red list asks
# for years of them; before 2020 the demo could not show every list.
EARLIEST_AS_OF = dt.date(2020, 1, 1)
DEMO_USERS = ("operator", "firm", "bank", "group", "tenderer")  # group2 … (the other groups) share group's password
MAX_FIRMS = 100_000
SEEDED_ACTION = "demo.seeded"

# What the demo covers on any as-of date: every state of each lifecycle it shows (checked by
# tests/app/test_demo_seed.py).
CLAIMED_STATES: dict[str, set[str]] = {
    "application": {"submitted", "under_review", "approved", "rejected", "accepted", "declined", "disbursed",
                    "withdrawn"},
    "offer": {"sent", "accepted", "declined", "withdrawn", "expired"},
    "consent": {"PENDING", "ACTIVE", "REJECTED", "PAUSED", "REVOKED", "EXPIRED"},
    "objection": {"open", "overdue", "upheld", "corrected", "removed"},
    "repair": {"submitted", "approved", "rejected"},
    "list": {"red", "black", "watch"},
    "list_entry": {"pending", "active", "exited", "cancelled"},
}


@dataclass
class DemoInputs:
    firms: int
    seed: int
    as_of: dt.date


@dataclass
class MadeDemo:
    """The inputs a database's demo was made with."""

    firms: int
    seed: int | None  # None: a demo made before the seed recorded its inputs
    as_of: dt.date


@dataclass
class DemoSummary:
    """What the database holds after the seed (counted there), and what this run did."""

    inputs: DemoInputs | MadeDemo  # this run's inputs, or on a rerun those the demo was made with
    created: bool  # False: the database already held the demo and was left as it was
    base: SeedReport = field(default_factory=SeedReport)
    firms: int = 0
    records: int = 0
    distribution: dict[str, int] = field(default_factory=dict)
    consents: dict[str, int] = field(default_factory=dict)
    products: int = 0
    discoverable: int = 0
    applications: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    lists: dict[str, int] = field(default_factory=dict)  # active entries per list
    entries: dict[str, int] = field(default_factory=dict)  # entries per status
    commitments: int = 0
    objections: dict[str, int] = field(default_factory=dict)  # open, overdue, or the outcome
    repairs: dict[str, int] = field(default_factory=dict)
    demo_firm: tuple[str, str] | None = None  # name, USCC
    procurement: ProcurementReport | None = None  # the tenderer platform this run made (its client's secret)
    certificates: dict[str, int] = field(default_factory=dict)  # per status
    screenings: int = 0
    passwords: dict[str, str] = field(default_factory=dict)  # set by this run (none on a rerun without one)


def demo_start(as_of: dt.date) -> dt.datetime:
    """The instant the demo's clock starts at for ``as_of``: 09:00 Beijing time that day, or
    now if that is earlier (a demo made today before nine is not stamped in the future)."""
    return min(clock.at_cn(as_of, START_HOUR), clock.now())


def check_inputs(firms: int, as_of: dt.date, password: str | None) -> None:
    """The refusals a caller can meet before anything is written."""
    errors: dict[str, list[str]] = {}
    if not 1 <= firms <= MAX_FIRMS:
        errors["firms"] = [f"企业数应在 1 到 {MAX_FIRMS} 之间，收到 {firms}。"]
    if as_of > clock.today():
        errors["as_of"] = [f"基准日期 {as_of.isoformat()} 晚于今天，演示数据不能来自未来。"]
    elif as_of < EARLIEST_AS_OF:
        errors["as_of"] = [f"基准日期不能早于 {EARLIEST_AS_OF.isoformat()}。"]
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"演示账号的密码至少 {MIN_PASSWORD_LENGTH} 个字符。"]
    if errors:
        raise InvalidInput("演示数据参数有误", errors=errors)


def existing_demo(session: Session) -> MadeDemo | None:
    """The inputs the database's demo was made with; None for an empty database. A database
    with firms but no demo in it is refused: the demo is never mixed into other data."""
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == SEEDED_ACTION)
                           .order_by(AuditEvent.id.desc()).limit(1))
    if event is not None:
        d = event.detail
        return MadeDemo(int(d["firms"]), int(d["seed"]), dt.date.fromisoformat(d["as_of"]))
    if session.scalar(sa.select(Enterprise.id).limit(1)) is None:
        return None
    if session.scalar(sa.select(User.id).where(User.username.in_(DEMO_USERS)).limit(1)) is not None:
        # a demo made before the seed recorded its inputs
        as_of = session.scalar(sa.select(sa.func.max(Evaluation.as_of))) or clock.today()
        firms = session.scalar(sa.select(sa.func.count()).select_from(Enterprise)) or 0
        return MadeDemo(int(firms), None, as_of)
    raise Conflict("数据库中已有企业数据，且不是演示数据库：演示数据只生成到空数据库（请换用新的 DATABASE_URL）",
                   code="not_a_demo_database")


def build_demo(session: Session, settings: Settings, cipher: FieldCipher, inputs: DemoInputs, *,
               start: dt.datetime | None = None, password: str | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> DemoSummary:
    """Seed the demo into an empty database, or, on one that holds the demo, reset the demo
    accounts' passwords and change nothing else. Runs on the simulated clock from ``start``
    (by default ``demo_start(inputs.as_of)``); ``progress(stage, done, total)`` is told as the
    firms and the history months go by."""
    check_inputs(inputs.firms, inputs.as_of, password)
    made = existing_demo(session)
    if made is not None:  # the demo is there: its passwords are reset only when one is given
        passwords = dict.fromkeys(DEMO_USERS, password) if password else {}
        group_users = [group_username(i) for i in range(1, MAX_GROUPS)] if password else []
        for username, pw in [*passwords.items(), *((u, password or "") for u in group_users)]:
            user = session.scalar(sa.select(User).where(User.username == username))
            if user is not None:
                set_password(session, user, pw)
        return summarise(session, DemoSummary(inputs=made, created=False, passwords=passwords), clock.today())
    passwords = {u: password or secrets.token_urlsafe(9) for u in DEMO_USERS}

    signer = load_signing_keys(settings)
    tell = progress or (lambda stage, done, total: None)
    as_of = inputs.as_of
    with clock.simulated(start or demo_start(as_of)):
        done = 0

        def firm_made(n: int) -> None:
            nonlocal done
            done += n
            tell("firms", done, inputs.firms)

        base = seed_demo(session, cipher, firms=inputs.firms, seed=inputs.seed, today=as_of, passwords=passwords,
                         signer=signer, progress=firm_made)
        for i, back in enumerate(range(HISTORY_MONTHS, 0, -1), start=1):
            month_end = clock.add_months(clock.month_start(as_of), 1 - back) - dt.timedelta(days=1)
            run_evaluations(session, "all", as_of=month_end)
            tell("history", i, HISTORY_MONTHS)
        run_evaluations(session, "all", as_of=as_of)

        demo_user = session.scalar(sa.select(User).where(User.username == "firm"))
        demo_ent = demo_user.enterprise if demo_user is not None else None
        market = seed_marketplace(session, signer, [b[1] for b in BANKS], inputs.seed,
                                  demo_ent.id if demo_ent else None,
                                  rate_cap(settings.lpr_1y, settings.rate_cap_multiple))
        seed_oversight(session, signer, inputs.seed, demo_ent.id if demo_ent else None)
        seed_groups(session, signer, inputs.seed, passwords["group"], exclude={demo_ent.id} if demo_ent else None)
        seed_monitoring(session, demo_ent.id if demo_ent else None)
        seed_certificates(session, signer, inputs.seed, demo_ent.id if demo_ent else None)
        procurement = seed_procurement(session, signer, inputs.seed, passwords["tenderer"],
                                       exclude={demo_ent.id} if demo_ent else None)
        seed_sample_screening(session, signer, inputs.seed, include=(demo_ent.id,) if demo_ent else ())
        if demo_user is not None and demo_ent is not None and market.products:
            # the demo firm has downloaded one self-report
            issue_self_report(session, signer, demo_ent, demo_user, settings.free_self_reports, actor="user:firm")
        audit.record(session, "seed", SEEDED_ACTION, detail={"firms": inputs.firms, "seed": inputs.seed,
                                                             "as_of": as_of.isoformat()})
        session.flush()  # everything written on the demo's clock, inside the block
    return summarise(session, DemoSummary(inputs=inputs, created=True, base=base, passwords=passwords,
                                          procurement=procurement), as_of)


def _count_by(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(sa.select(sa.type_coerce(column, sa.String()), sa.func.count()).group_by(column))
    return {str(k): int(n) for k, n in rows}


def summarise(session: Session, out: DemoSummary, today: dt.date) -> DemoSummary:
    """Count what the database holds, for the seed's report."""
    out.firms = session.scalar(sa.select(sa.func.count()).select_from(Enterprise)) or 0
    out.records = session.scalar(sa.select(sa.func.count()).select_from(CreditRecord)) or 0
    out.distribution = grade_distribution(session)
    # A consent past its end is expired whether or not ``consents expire`` has marked it yet.
    ended = sa.and_(Consent.status.in_(["PENDING", "ACTIVE", "PAUSED"]), Consent.valid_until <= clock.now())
    status = sa.case((ended, sa.literal("EXPIRED")), else_=sa.type_coerce(Consent.status, sa.String()))
    out.consents = {str(k): int(n) for k, n in session.execute(sa.select(status, sa.func.count()).group_by(status))}
    out.products = session.scalar(sa.select(sa.func.count()).select_from(Product)
                                  .where(Product.status == ProductStatus.live)) or 0
    out.discoverable = session.scalar(sa.select(sa.func.count()).select_from(MarketplaceProfile)
                                      .where(MarketplaceProfile.discoverable.is_(True))) or 0
    out.applications = _count_by(session, Application.status)
    out.offers = _count_by(session, Offer.status)
    counted = lists.counts(session)
    out.lists = {name: c["active"] for name, c in counted.items()}
    out.entries = {status: sum(c[status] for c in counted.values()) for status in next(iter(counted.values()))}
    out.commitments = session.scalar(sa.select(sa.func.count()).select_from(Commitment)) or 0
    out.certificates = _count_by(session, Certificate.status)
    out.screenings = session.scalar(sa.select(sa.func.count()).select_from(Screening)) or 0
    objections: dict[str, int] = {}
    for outcome, due_on in session.execute(sa.select(Objection.outcome, Objection.due_on)):
        state = str(outcome) if outcome is not None else "overdue" if due_on < today else "open"
        objections[state] = objections.get(state, 0) + 1
    out.objections = objections
    out.repairs = _count_by(session, RepairRequest.status)
    user = session.scalar(sa.select(User).where(User.username == "firm"))
    if user is not None and user.enterprise is not None:
        out.demo_firm = (user.enterprise.name, user.enterprise.uscc)
    return out
