"""Grade certificates for ``powercredit seed``, through the same services users go through: a
share of the firms graded A and above hold a certificate issued over the past year (applied,
evaluated and published, then issued the night after the notice period, each step on the clock
as it was that day, so the signed documents and their dates hold); the annual reviews that have
come due are made; results in their notice period now, one with an objection waiting and one
whose objection was upheld; applications waiting for their evaluation; and certificates the rule
suspended or revoked — the firm's grade fallen since, the black list — or, where the demo's data
gives none, an operator did. A function of the seed and the demo's clock; a rerun adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.archive.models import Enterprise
from app.certificates import services
from app.certificates.models import Certificate, CertificateStatus
from app.certificates.rules import current as current_rules
from app.core import clock
from app.core.errors import DomainError
from app.core.signing import SigningKeys
from app.demo.firms import demo_firm_user
from app.scoring.models import Evaluation

JOB = "job:certificates.advance"
# What each kind of objector would write: a bank of its borrower, a tenderer of a bidder.
OBJECTIONS: dict[Role, tuple[str, ...]] = {
    Role.bank: ("该企业在我行的流动资金贷款近期出现逾期，与公示的信用状况不符，请核查。",
                "据我行贷后检查，该企业存在拖欠分包商工程款的情况，申请核实。"),
    Role.tenderer: ("该企业近期在我单位的供货合同中有逾期履行的情况，请核查其履约记录。",
                    "该企业在我单位组织的招标中提供的业绩材料与实际不符，申请核实。"),
}


def _first(session: Session, role: Role) -> User | None:
    return session.scalar(sa.select(User).where(User.role == role).order_by(User.id).limit(1))


@contextmanager
def _on(moment: dt.datetime) -> Iterator[None]:
    """A step of a past procedure, on the clock as it was then."""
    with clock.simulated(moment):
        yield


def seed_certificates(session: Session, signer: SigningKeys, seed: int, demo_firm_id: int | None) -> dict[str, int]:
    """Certificates in every state; the count of certificates by status."""
    if session.scalar(sa.select(Certificate.id).limit(1)) is None:
        _seed(session, signer, seed, demo_firm_id)
    return services.counts_by_status(session)


def _seed(session: Session, signer: SigningKeys, seed: int, demo_firm_id: int | None) -> None:
    rng = random.Random(seed + 27)
    rules = current_rules()
    now = clock.now()
    today = clock.today()
    operator = _first(session, Role.operator)
    objector = _first(session, Role.bank) or _first(session, Role.tenderer)
    if operator is None:
        return
    op_actor = services.actor_of(operator)
    # Firms graded A or above now, the demo firm first.
    eligible = list(session.scalars(
        sa.select(Enterprise).join(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id,
                                                       Evaluation.current.is_(True)))
        .where(Evaluation.grade.in_(["AAA", "AA", "A"])).order_by(Enterprise.id)))
    eligible.sort(key=lambda e: e.id != demo_firm_id)
    if not eligible:
        return
    head = [e for e in eligible if e.id == demo_firm_id]
    rest = [e for e in eligible if e.id != demo_firm_id]
    rng.shuffle(rest)
    firms = head + rest
    issued_n = max(3, min(30, len(firms) // 6))
    to_issue, pending = firms[:issued_n], firms[issued_n:]

    # Issued over the past year: applied on a working morning, evaluated that afternoon, issued by
    # the night job once the notice period had run out.
    for ent in to_issue:
        day = today - dt.timedelta(days=rng.randint(rules.notice_days + 20, 360))
        while not clock.is_working_day(day):
            day -= dt.timedelta(days=1)
        user = demo_firm_user(session, ent)
        try:
            with _on(clock.at_cn(day, 9, rng.randint(0, 59))):
                cert = services.apply(session, user)
            with _on(clock.at_cn(day, 15, rng.randint(0, 59))):
                services.evaluate(session, cert.certificate_no, op_actor)
            if cert.status != CertificateStatus.publicized or cert.notice_until is None:
                continue
            with _on(cert.notice_until + dt.timedelta(minutes=15, microseconds=1)):
                services.issue(session, signer, cert.certificate_no, JOB)
        except DomainError:
            continue  # not eligible on that day (not rated then, on the black list): no certificate

    # Now: in their notice period (one whose objection was upheld three days in), one whose
    # notice has ended with an objection still open (the operator resolves it, then issues:
    # the job issues nothing while an objection is open), and applications waiting.
    plan = ["objected", "clean", "upheld", "applied", "applied", "clean"]
    ago = {"objected": rules.notice_days + 1, "upheld": 3}
    for ent, state in zip(pending, plan, strict=False):
        user = demo_firm_user(session, ent)
        started = now - dt.timedelta(days=ago.get(state, 0), hours=rng.randint(1, 5))
        try:
            with _on(started):
                cert = services.apply(session, user)
            if state == "applied":
                continue
            with _on(started + dt.timedelta(minutes=40)):
                services.evaluate(session, cert.certificate_no, op_actor)
            if state in ("objected", "upheld") and objector is not None and cert.status == CertificateStatus.publicized:
                with _on(started + dt.timedelta(days=1, hours=2)):
                    o = services.object_to(session, objector, cert.certificate_no, rng.choice(OBJECTIONS[objector.role]))
                if state == "upheld":
                    with _on(started + dt.timedelta(days=2, hours=3)):
                        services.resolve_objection(session, operator, o.objection_no, "upheld",
                                                   "经核查，该企业存在未报送的合同违约记录，评价结果不予发证。")
        except DomainError:
            continue

    # Today's daily work: expiry, the rule against today's grades and lists, the reviews due.
    services.advance(session, signer, actor=JOB)
    counts = services.counts_by_status(session)
    held = list(session.scalars(sa.select(Certificate).where(Certificate.status == CertificateStatus.issued,
                                                             Certificate.enterprise_id != (demo_firm_id or 0))
                                .order_by(Certificate.id)))
    rng.shuffle(held)
    # Where the data gave no suspension or revocation, an operator's.
    if not counts.get("suspended") and held:
        services.suspend(session, operator, held.pop().certificate_no, "核查企业申报材料的真实性，核查期间暂停")
    if not counts.get("revoked") and held:
        services.revoke(session, operator, held.pop().certificate_no, "企业提供的业绩材料不实，经核查撤销证书")
