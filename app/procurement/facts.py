"""What a screening weighs, loaded for a whole batch in a handful of set-based queries (each
an IN over the batch's firms, in chunks): the firms, their current grades, their published
list entries and the public records behind the black list's, open 失信被执行人 records,
serious penalties within the rule's window, grade certificates and the bidders' 投标资格审查
consents to this tenderer.

Public or not: a penalty is public while it is within its 双公示 publication period (and
not ended by credit repair); a 失信被执行人 record, a penalty or an accident is public when it
is the basis of a published black-list entry (the list names it).  Everything else counts
only under the bidder's consent (``Fact.public`` False)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.archive.categories import ACCIDENT_LEVEL_LABELS
from app.archive.models import LIVE_STATUSES, Category, CreditRecord, Enterprise
from app.certificates.models import Certificate, CertificateStatus
from app.certificates.services import valid_certificate_firms
from app.core import clock
from app.oversight.models import LIST_LABELS, EntryStatus, ListEntry, ListName
from app.procurement.rules import CERTIFICATE_STATUS_LABELS, LIST_ORDER, Entry, Fact, Firm, Rules
from app.scoring.models import Evaluation
from app.scoring.services import current_scorecard
from consent.models import Consent, ConsentStatus, Purpose

CHUNK = 5000  # ids per IN (SQLite binds at most 32,766 parameters a statement)
_TEXT = sa.String()
T = TypeVar("T")

DISHONEST_LABELS = {"evade_enforcement": "规避执行", "false_litigation": "虚假诉讼",
                    "violate_property_report": "违反财产报告制度", "violate_consumption_limit": "违反限制消费令",
                    "refuse_with_ability": "有履行能力而拒不履行", "obstruct_enforcement": "妨碍执行"}
SERIOUS_PENALTY_LABEL = "严重行政处罚（责令停产停业、吊销许可证、行政拘留或认定为严重失信）"


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def among(session: Session, column: Any, values: Sequence[Any]) -> Iterator[Any]:
    """``column`` among ``values``, as conditions for one query each: on PostgreSQL one
    ``= ANY(array)`` (a single parameter, planned once, whatever the batch's size); on
    SQLite an IN per chunk of ``CHUNK``."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == sa.any_(sa.bindparam("among", list(values), type_=postgresql.ARRAY(column.type), unique=True))
        return
    for part in chunks(values):
        yield column.in_(part)


def serious_penalty_definition() -> tuple[tuple[str, ...], int]:
    """What a serious penalty is: the scorecard's ``serious_penalty`` cap (its categories and
    minimum severity), so a screening and a grade call the same penalties serious."""
    cap = next((c for c in current_scorecard().caps if c.key == "serious_penalty"), None)
    if cap is None or cap.min_severity is None or not cap.categories:
        return (str(Category.penalty),), 3
    return tuple(cap.categories), cap.min_severity


def find_firms(session: Session, codes: Sequence[str]) -> dict[str, Firm]:
    """The firms of the archive among ``codes`` (valid, upper-case), by code."""
    out: dict[str, Firm] = {}
    for among_codes in among(session, Enterprise.uscc, list(codes)):
        for ent_id, uscc, name, status in session.execute(
                sa.select(Enterprise.id, Enterprise.uscc, Enterprise.name, sa.type_coerce(Enterprise.status, _TEXT))
                .where(among_codes)):
            out[uscc] = Firm(id=ent_id, uscc=uscc, name=name, status=status)
    return out


def load(session: Session, firms: dict[int, Firm], rules: Rules, day: dt.date) -> None:
    """Fill in every firm's grade, lists, 失信 records, serious penalties and certificate."""
    ids = sorted(firms)
    _grades(session, firms, ids)
    public_basis = _basis_records(session, _entries(session, firms, ids))
    if rules.max_open_dishonest is not None:
        _dishonest(session, firms, ids, day, public_basis)
    if rules.penalties_ruled:
        assert rules.serious_penalty_years is not None
        _penalties(session, firms, ids, day, rules.serious_penalty_years, public_basis)
    _certificates(session, firms, ids, day)


def consents_of(session: Session, institution_id: int, ids: Sequence[int], now: dt.datetime,
                needed: frozenset[str] = frozenset()) -> dict[int, Consent]:
    """Each bidder's active 投标资格审查 consent to this tenderer, in force now.  Of several,
    the one whose scope covers the report sections the rules need (``needed``), else the one
    covering most of them; among those alike, the one that lasts longest."""
    out: dict[int, Consent] = {}
    for among_ids in among(session, Consent.enterprise_id, list(ids)):
        for consent in session.scalars(sa.select(Consent).where(
                among_ids, Consent.institution_id == institution_id,
                Consent.purpose == Purpose.bid_qualification, Consent.status == ConsentStatus.active,
                Consent.valid_from <= now, Consent.valid_until > now).order_by(Consent.id)):
            held = out.get(consent.enterprise_id)
            if held is None or _preference(consent, needed) > _preference(held, needed):
                out[consent.enterprise_id] = consent
    return out


def _preference(consent: Consent, needed: frozenset[str]) -> tuple[bool, int, dt.datetime, int]:
    """How well a consent serves a screening that needs ``needed``: covering them all first,
    then covering more of them, then lasting longer (then the later one)."""
    covered = needed & set(consent.scopes)
    return covered == needed, len(covered), consent.valid_until, consent.id


# --- the queries ------------------------------------------------------------------------------

def _grades(session: Session, firms: dict[int, Firm], ids: list[int]) -> None:
    for among_ids in among(session, Evaluation.enterprise_id, ids):
        for ent_id, grade, as_of in session.execute(
                sa.select(Evaluation.enterprise_id, sa.type_coerce(Evaluation.grade, _TEXT), Evaluation.as_of)
                .where(among_ids, Evaluation.current.is_(True))):
            firms[ent_id].grade, firms[ent_id].grade_as_of = grade, as_of


def _entries(session: Session, firms: dict[int, Firm], ids: list[int]) -> list[tuple[Entry, int, list[int]]]:
    """Published entries on each firm; returns each black-list basis item (entry, its index,
    its record ids), whose records are public through the list."""
    black: list[tuple[Entry, int, list[int]]] = []
    for among_ids in among(session, ListEntry.enterprise_id, ids):
        rows = session.execute(
            sa.select(ListEntry.id, ListEntry.enterprise_id, sa.type_coerce(ListEntry.list_name, _TEXT),
                      ListEntry.entered_on, ListEntry.published_on, ListEntry.ends_on, ListEntry.basis)
            .where(among_ids, ListEntry.status == EntryStatus.active))
        for entry_id, ent_id, name, entered, published, ends, basis in rows:
            entry = Entry(entry_id=entry_id, list_name=name, label=LIST_LABELS[ListName(name)], entered_on=entered,
                          published_on=published, ends_on=ends,
                          basis=[(b["criterion"], b["label"], []) for b in basis or ()])
            firms[ent_id].entries.append(entry)
            if name == ListName.black:
                black += [(entry, i, list(b.get("records", ()))) for i, b in enumerate(basis or ())]
    for firm in firms.values():
        firm.entries.sort(key=lambda e: (LIST_ORDER.get(e.list_name, 9), e.published_on or e.entered_on))
    return black


def _basis_records(session: Session, black: list[tuple[Entry, int, list[int]]]) -> set[int]:
    """The records behind the black list's entries, as public facts (decision and case numbers,
    dates) in their entries' basis; returns their ids."""
    wanted = sorted({rid for _, _, rids in black for rid in rids})
    facts: dict[int, Fact] = {}
    for among_ids in among(session, CreditRecord.id, wanted):
        for rid, category, payload, status in session.execute(
                sa.select(CreditRecord.id, sa.type_coerce(CreditRecord.category, _TEXT), CreditRecord.payload,
                          sa.type_coerce(CreditRecord.status, _TEXT))
                .where(among_ids)):
            fact = fact_of(rid, category, payload or {}, status)
            if fact is not None:
                facts[rid] = fact
    for entry, i, rids in black:
        entry.basis[i][2].extend(facts[rid] for rid in rids if rid in facts)
    return set(wanted)


def fact_of(rid: int, category: str, payload: dict[str, Any], status: str, public: bool = True) -> Fact | None:
    """A record as a screening names it (penalties, 失信 judgments, accidents; None for others)."""
    disputed = "（异议处理中）" if status == "disputed" else ""
    if category == Category.penalty:
        return Fact(rid, "penalty", "行政处罚" + disputed, payload.get("decision_no"), payload.get("authority"),
                    {"decided_on": _day(payload.get("decided_on")), "publish_until": _day(payload.get("publish_until"))},
                    public)
    if category == Category.judicial:
        conduct = DISHONEST_LABELS.get(str(payload.get("dishonest_conduct") or ""), "")
        label = f"失信被执行人（{conduct}）" if conduct else "司法案件"
        return Fact(rid, "judicial", label + disputed, payload.get("case_no"), payload.get("court"),
                    {"filed_on": _day(payload.get("filed_on")), "published_on": _day(payload.get("published_on"))},
                    public)
    if category == Category.safety:
        level = ACCIDENT_LEVEL_LABELS.get(str(payload.get("level") or ""), "")
        return Fact(rid, "safety", f"{level}生产安全事故" + disputed, None, None,
                    {"accident_on": _day(payload.get("accident_on"))}, public)
    return None


def _live(day: dt.date) -> Any:
    return sa.and_(CreditRecord.status.in_(list(LIVE_STATUSES)),
                   sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > day),
                   CreditRecord.occurred_on <= day)


def _dishonest(session: Session, firms: dict[int, Firm], ids: list[int], day: dt.date,
               public_basis: set[int]) -> None:
    """Open 失信被执行人 records: judgments with a dishonest conduct (severity 3), not performed
    by the day (``ended_on`` is the day performance was completed) and not expired."""
    for among_ids in among(session, CreditRecord.enterprise_id, ids):
        for rid, ent_id, payload, status in session.execute(
                sa.select(CreditRecord.id, CreditRecord.enterprise_id, CreditRecord.payload,
                          sa.type_coerce(CreditRecord.status, _TEXT))
                .where(among_ids, CreditRecord.category == Category.judicial,
                       CreditRecord.severity >= 3, _live(day),
                       sa.or_(CreditRecord.ended_on.is_(None), CreditRecord.ended_on > day))
                .order_by(CreditRecord.occurred_on, CreditRecord.id)):
            if not (payload or {}).get("dishonest_conduct"):
                continue
            fact = fact_of(rid, Category.judicial, payload, status, public=rid in public_basis)
            assert fact is not None
            firms[ent_id].dishonest.append(fact)


def _penalties(session: Session, firms: dict[int, Firm], ids: list[int], day: dt.date, years: int,
               public_basis: set[int]) -> None:
    """Serious penalties decided within the last ``years`` (the scorecard's window: after the
    day ``years`` back, up to the day); public while published (双公示) or behind a black-list entry."""
    categories, min_severity = serious_penalty_definition()
    since = clock.add_years(day, -years)
    for among_ids in among(session, CreditRecord.enterprise_id, ids):
        for rid, ent_id, category, payload, status, ended in session.execute(
                sa.select(CreditRecord.id, CreditRecord.enterprise_id, sa.type_coerce(CreditRecord.category, _TEXT),
                          CreditRecord.payload, sa.type_coerce(CreditRecord.status, _TEXT),
                          CreditRecord.disclosure_ended_on)
                .where(among_ids, CreditRecord.category.in_(categories),
                       CreditRecord.severity >= min_severity, _live(day), CreditRecord.occurred_on > since)
                .order_by(CreditRecord.occurred_on, CreditRecord.id)):
            payload = payload or {}
            published = (str(payload.get("publish_until") or "") >= day.isoformat()
                         and (ended is None or ended > day))
            fact = fact_of(rid, category, payload, status, public=published or rid in public_basis)
            if fact is not None:
                fact.label = SERIOUS_PENALTY_LABEL + ("（异议处理中）" if status == "disputed" else "")
                firms[ent_id].penalties.append(fact)


def _certificates(session: Session, firms: dict[int, Firm], ids: list[int], day: dt.date) -> None:
    """Each firm's grade certificate: one in force on the day if it holds one (the certificates
    package's rule, ``valid_certificate_firms``: issued, its validity covering the day), else a
    result in its notice period (公示中: public, not yet issued), else its latest that stood
    once (suspended, revoked, expired), to say why it does not count.  Applications not yet
    evaluated, results not passed and withdrawn ones are not public: never shown."""
    shown = (CertificateStatus.publicized, CertificateStatus.issued, CertificateStatus.suspended,
             CertificateStatus.revoked, CertificateStatus.expired)
    in_force = valid_certificate_firms(session, ids, day)  # (at most MAX_CODES ids: within SQLite's bound)
    for among_ids in among(session, Certificate.enterprise_id, ids):
        for no, ent_id, status, grade, valid_from, valid_until in session.execute(
                sa.select(Certificate.certificate_no, Certificate.enterprise_id,
                          sa.type_coerce(Certificate.status, _TEXT), Certificate.grade, Certificate.valid_from,
                          Certificate.valid_until)
                .where(among_ids, Certificate.status.in_(shown))
                .order_by(Certificate.status_changed_at, Certificate.id)):
            valid = (ent_id in in_force and status == CertificateStatus.issued and valid_from is not None
                     and valid_until is not None and valid_from <= day <= valid_until)
            if valid:
                label = "有效"
            elif status == CertificateStatus.issued and valid_until is not None and valid_until < day:
                status, label = "expired", "已过期"  # past its validity, not yet marked so
            elif status == CertificateStatus.issued:
                label = "尚未生效"
            else:
                label = CERTIFICATE_STATUS_LABELS.get(status, status)
            cert = {"certificate_no": no, "status": status, "status_label": label, "grade": grade,
                    "valid_from": _day(valid_from), "valid_until": _day(valid_until), "valid": valid}
            held = firms[ent_id].certificate
            if held is None or _standing(cert) >= _standing(held):  # of two alike, the later
                firms[ent_id].certificate = cert


def _standing(cert: dict[str, Any]) -> int:
    """Which certificate a screening names: one in force, else a result in its notice period,
    else any other."""
    return 2 if cert["valid"] else 1 if cert["status"] == CertificateStatus.publicized else 0


def _day(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)
