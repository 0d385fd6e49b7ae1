"""The demo's procurement: a power group's 电子商务采购平台 registered as a procurement
institution (招标采购单位), its tenderer user (``tenderer``), its system's OAuth client
(client credentials, scope ``screening:write``) and the 投标资格审查 consents a few demo firms
granted it; and, separately, a sample screening of 20 demo bidders (black- and watch-listed,
unrated and consenting firms among them) against a typical tender's rules.

Deterministic like the other demo modules: the same firms, seed and day give the same
platform, consents and sample (the client's secret and the screening's number, random by
design, aside).  Run again, it changes nothing but the tenderer's password when one is given."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user, set_password
from app.archive.models import Category, CreditRecord, Enterprise, RecordStatus
from app.core import clock
from app.core.signing import SigningKeys
from app.demo.firms import demo_firm_user
from app.oauth.services import clients_of_institution, register_bank_client
from app.oversight.models import EntryStatus, ListEntry
from app.procurement.models import Screening
from app.procurement.rules import Rules
from app.procurement.services import Tenderer, screen
from app.scoring.models import Evaluation
from consent.models import Consent, FetchType, PeriodUnit, Purpose
from consent.services import Terms, grant_consent

PLATFORM_NAME = "演示电力集团电子商务采购平台"
PLATFORM_LICENCE = "ECP0000000001"
TENDERER_USERNAME = "tenderer"
CONSENTING_FIRMS = 4  # demo firms that granted the platform a 投标资格审查 consent
SAMPLE_BIDDERS = 20
SAMPLE_TENDER = ("演示电力集团 2026 年第二批配网物资协议库存招标", "ECP-ZB-2026-0042")
SAMPLE_RULES = Rules.of({"min_grade": "BBB", "barred_lists": ["black"], "max_open_dishonest": 0,
                         "serious_penalty_years": 3, "max_serious_penalties": 0})


@dataclass
class ProcurementReport:
    institution: str = ""  # its licence number
    client: tuple[str, str | None] | None = None  # client_id and secret, when made by this run
    consents: list[str] = field(default_factory=list)  # the consenting firms' codes


def seed_procurement(session: Session, signer: SigningKeys, seed: int, password: str,
                     exclude: set[int] | None = None) -> ProcurementReport:
    """The platform, its tenderer user (``password``) and client, and the consents of
    ``CONSENTING_FIRMS`` rated demo firms (``exclude``: firms left out, such as the demo firm)."""
    report = ProcurementReport(institution=PLATFORM_LICENCE)
    inst = session.scalar(sa.select(Institution).where(Institution.licence_no == PLATFORM_LICENCE))
    if inst is None:
        inst = create_institution(session, name=PLATFORM_NAME, licence_no=PLATFORM_LICENCE, kind="procurement")
    user = session.scalar(sa.select(User).where(User.username == TENDERER_USERNAME))
    if user is None:
        create_user(session, username=TENDERER_USERNAME, password=password, role="tenderer",
                    display_name=f"{PLATFORM_NAME} 招标采购中心", institution_licence=PLATFORM_LICENCE)
    else:
        set_password(session, user, password)
    if not clients_of_institution(session, inst.id):
        client, secret = register_bank_client(session, inst, name=f"{PLATFORM_NAME} 招标系统", redirect_uris=[])
        report.client = (client.client_id, secret)
    granted = session.scalar(sa.select(sa.func.count()).select_from(Consent).where(
        Consent.institution_id == inst.id, Consent.purpose == Purpose.bid_qualification))
    if granted:
        return report
    rated = [e for e in session.scalars(
        sa.select(Enterprise).join(Evaluation, Evaluation.enterprise_id == Enterprise.id)
        .where(Evaluation.current.is_(True), Evaluation.grade != "NR").order_by(Enterprise.id))
        if e.id not in (exclude or set())]
    rng = random.Random(seed * 7919 + 27)
    today = clock.today()
    now = clock.now().replace(microsecond=0)
    for ent in sorted(rng.sample(rated, min(CONSENTING_FIRMS, len(rated))), key=lambda e: e.id):
        grant_consent(session, signer, demo_firm_user(session, ent), institution=inst, via="firm", terms=Terms(
            purpose=Purpose.bid_qualification, scopes=["judicial", "licence_penalty"],
            data_from=clock.add_years(today, -3), data_to=today, valid_until=now + dt.timedelta(days=180),
            fetch_type=FetchType.periodic, frequency_unit=PeriodUnit.month, frequency_value=10,
            data_life_unit=PeriodUnit.month, data_life_value=6))
        report.consents.append(ent.uscc)
    session.flush()
    return report


def sample_bidders(session: Session, seed: int, count: int = SAMPLE_BIDDERS,
                   include: tuple[int, ...] = ()) -> list[str]:
    """``count`` demo firms as a tender's bidders, in a fixed order: ``include`` (the demo
    firm, so its query log shows the tenderer's screening), the black- and watch-listed, a
    firm with a serious penalty decided within the rule's window, a few unrated, the
    platform's consenting firms, the rest drawn by the seed."""
    listed = list(session.scalars(sa.select(ListEntry.enterprise_id).where(ListEntry.status == EntryStatus.active)
                                  .order_by(ListEntry.list_name, ListEntry.id)))
    assert SAMPLE_RULES.serious_penalty_years is not None
    since = clock.add_years(clock.today(), -SAMPLE_RULES.serious_penalty_years)
    penalised = list(session.scalars(sa.select(CreditRecord.enterprise_id).where(
        CreditRecord.category == Category.penalty, CreditRecord.severity >= 3,
        CreditRecord.status == RecordStatus.active, CreditRecord.occurred_on >= since)
        .order_by(CreditRecord.enterprise_id).limit(1)))
    unrated = list(session.scalars(sa.select(Evaluation.enterprise_id).where(
        Evaluation.current.is_(True), Evaluation.grade == "NR").order_by(Evaluation.enterprise_id).limit(2)))
    consenting = list(session.scalars(sa.select(Consent.enterprise_id).join(
        Institution, Institution.id == Consent.institution_id).where(
        Institution.licence_no == PLATFORM_LICENCE).order_by(Consent.enterprise_id)))
    chosen = list(dict.fromkeys([*include, *listed[:5], *penalised, *unrated, *consenting]))[:count]
    rest = [i for i in session.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)) if i not in chosen]
    rng = random.Random(seed * 7919 + 28)
    chosen += rng.sample(rest, min(count - len(chosen), len(rest)))
    rng.shuffle(chosen)
    codes = dict(session.execute(sa.select(Enterprise.id, Enterprise.uscc).where(Enterprise.id.in_(chosen))).all())
    return [codes[i] for i in chosen]


def seed_sample_screening(session: Session, signer: SigningKeys, seed: int,
                          include: tuple[int, ...] = ()) -> Screening | None:
    """The platform's sample screening of ``SAMPLE_BIDDERS`` demo bidders, ``include`` among
    them (once; None when the platform is not there)."""
    inst = session.scalar(sa.select(Institution).where(Institution.licence_no == PLATFORM_LICENCE))
    if inst is None:
        return None
    made = session.scalar(sa.select(Screening).where(Screening.institution_id == inst.id,
                                                     Screening.tender_no == SAMPLE_TENDER[1]))
    if made is not None:
        return made
    user = session.scalar(sa.select(User).where(User.username == TENDERER_USERNAME))
    tenderer = Tenderer(inst, f"user:{TENDERER_USERNAME}", user_id=user.id if user else None)
    return screen(session, signer, tenderer, sample_bidders(session, seed, include=include), SAMPLE_RULES,
                  tender_name=SAMPLE_TENDER[0], tender_no=SAMPLE_TENDER[1])
