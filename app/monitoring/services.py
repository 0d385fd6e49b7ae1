"""监测预警: subscriptions, dispatch of the outbox into alerts and webhook deliveries, and the
alert inbox.

The gate applies to monitoring as to pulls: a bank sees a firm's events only while its
``post_loan_monitoring`` consent for that firm is active and within its window, and only the
report sections the consent covers; a group sees its subsidiaries' public events (grades,
lists, 双公示 — a 失信 judgment is public only as the basis of a black-list entry) and the rest
only under the subsidiary's ``group_credit_management`` consent; a firm sees its own.  Each alert a bank or group receives under a consent is an
access written to the firm's query log, in the transaction that creates the alert.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, selectinload

from app.accounts.models import Institution
from app.archive.models import CATEGORY_LABELS, Category, Enterprise, EnterpriseRelation
from app.archive.services import get_enterprise, group_parents
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, after_commit, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.jobs import enqueue
from app.monitoring.models import (
    EVENT_LABELS,
    Alert,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    MonitoringEvent,
    SubscriberKind,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.monitoring.parties import Party
from consent.models import STATUS_LABELS as CONSENT_STATUS_LABELS
from consent.models import Consent, ConsentStatus, Purpose, QueryLog

DISPATCH_BATCH = 2000  # events per dispatch transaction
GRADE_THRESHOLDS = ("AA",)  # crossing AA ends (or starts) 信易贷 eligibility
ARREARS_ALERT_MONTHS = 2  # 电费 in arrears this many months in a row or more raises utility.arrears
GROUP_PURPOSE = "group_credit_management"

# The report section an event discloses: a bank's consent (or a group's) must cover it.
RECORD_SECTIONS = {
    Category.licence: "licence_penalty", Category.penalty: "licence_penalty", Category.tax: "tax",
    Category.contract: "contract", Category.quality: "quality", Category.safety: "safety",
    Category.environment: "environment", Category.judicial: "judicial", Category.bidding: "bidding",
    Category.commitment: "commitment", Category.loan: "loan", Category.honour: "honour", Category.utility: "utility",
}
TYPE_SECTIONS = {
    EventType.grade_upgraded: "evaluation", EventType.grade_downgraded: "evaluation",
    EventType.grade_not_rated: "evaluation", EventType.grade_threshold: "evaluation",
    EventType.grade_rated: "evaluation", EventType.list_entered: "lists", EventType.list_exited: "lists",
    EventType.repair_approved: "lists", EventType.objection_opened: "objections",
    EventType.objection_resolved: "objections", EventType.judgment_dishonest: "judicial",
    EventType.utility_arrears: "utility",
}
PUBLIC_CATEGORIES = {Category.licence, Category.penalty}  # 双公示
SUBSCRIBABLE = [str(t) for t in EventType if t != EventType.index_warning]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def section_of(event_type: str, category: str | None) -> str | None:
    if category is not None and event_type.startswith("record."):
        return RECORD_SECTIONS.get(Category(category))
    return TYPE_SECTIONS.get(EventType(event_type)) if event_type in EventType._value2member_map_ else None


# --- the outbox: events written with their cause -----------------------------------------------


@dataclass
class NewEvent:
    type: str
    enterprise_id: int | None
    data: dict[str, Any]
    public: bool = False
    category: str | None = None
    severity: int | None = None
    dedupe_key: str | None = None  # unique when set: the event is written once, whoever writes it


def write_events(session: Session, events: list[NewEvent]) -> int:
    """Add events to the outbox in the caller's transaction; once it commits, the dispatch job
    is queued (a rollback takes the events with it, and queues nothing)."""
    if not events:
        return 0
    now = clock.now()
    session.execute(sa.insert(MonitoringEvent), [
        {"event_id": new_id("evt_"), "type": e.type, "enterprise_id": e.enterprise_id, "public": e.public,
         "category": e.category, "severity": e.severity, "data": e.data, "occurred_at": now,
         "dedupe_key": e.dedupe_key}
        for e in events])
    after_commit(session, lambda: enqueue("monitoring.dispatch"), key="monitoring.dispatch")
    return len(events)


def _firm_data(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(sa.select(Enterprise.id, Enterprise.uscc, Enterprise.name).where(Enterprise.id.in_(ids)))
    return {i: (u, n) for i, u, n in rows}


def events_of_run(session: Session, run_id: int) -> list[NewEvent]:
    """The events a provider's batch raises: each new negative record once (a 失信 judgment
    as ``judicial.dishonest``, 电费 arrears of several months as ``utility.arrears``,
    anything else as ``record.negative``), and each corrected record."""
    rec = sa.table("credit_record", sa.column("id"), sa.column("enterprise_id"), sa.column("category"),
                   sa.column("polarity"), sa.column("severity"), sa.column("occurred_on"), sa.column("version"),
                   sa.column("status"), sa.column("payload"), sa.column("run_id"), sa.column("provider_ref"))
    wants_payload = rec.c.category.in_([str(Category.judicial), str(Category.utility)])
    rows = session.execute(
        sa.select(rec.c.id, rec.c.enterprise_id, rec.c.category, rec.c.polarity, rec.c.severity, rec.c.occurred_on,
                  rec.c.version, rec.c.status, sa.case((wants_payload, rec.c.payload), else_=sa.null()))
        .where(rec.c.run_id == run_id, sa.or_(rec.c.version > 1, rec.c.polarity == "bad"))
        .order_by(rec.c.id)).all()
    firms = _firm_data(session, {r[1] for r in rows})
    out: list[NewEvent] = []
    for rid, ent, cat, _polarity, severity, occurred, version, status, payload in rows:
        if status == "expired" and version == 1:
            continue  # sent already past its retention: nothing to warn of
        if isinstance(payload, str | bytes):
            payload = orjson.loads(payload)
        category = Category(cat)
        uscc, name = firms[ent]
        record = {"id": rid, "category": str(category), "category_label": CATEGORY_LABELS[category],
                  "severity": severity, "occurred_on": str(occurred), "version": version}
        data = {"uscc": uscc, "name": name, "record": record}
        if version > 1:
            out.append(NewEvent(EventType.record_corrected, ent, data, category in PUBLIC_CATEGORIES, str(category),
                                severity))
        elif category == Category.judicial and payload and payload.get("dishonest_conduct"):
            data["judgment"] = {"case_no": payload.get("case_no"), "court": payload.get("court"),
                                "published_on": payload.get("published_on")}
            # Not a public fact by itself (DESIGN: the public sees grades, lists and 双公示): a 失信
            # judgment reaches the public only as the basis of a black-list entry (list.entered).
            out.append(NewEvent(EventType.judgment_dishonest, ent, data, False, str(category), severity))
        elif (category == Category.utility and payload and payload.get("status") == "arrears"
              and int(payload.get("arrears_months") or 1) >= ARREARS_ALERT_MONTHS):
            data["arrears"] = {"month": payload.get("month"), "months": int(payload.get("arrears_months") or 1),
                               "amount": str(payload.get("arrears_amount"))}
            out.append(NewEvent(EventType.utility_arrears, ent, data, False, str(category), severity))
        else:
            out.append(NewEvent(EventType.record_negative, ent, data, category in PUBLIC_CATEGORIES, str(category),
                                severity))
    return out


def events_of_expiry(session: Session, records: list[tuple[int, int, str, int]]) -> list[NewEvent]:
    firms = _firm_data(session, {r[1] for r in records})
    return [NewEvent(EventType.record_expired, ent, {
        "uscc": firms[ent][0], "name": firms[ent][1],
        "record": {"id": rid, "category": cat, "category_label": CATEGORY_LABELS[Category(cat)], "severity": sev}},
        Category(cat) in PUBLIC_CATEGORIES, cat, sev) for rid, ent, cat, sev in records]


def events_of_grades(session: Session, changes: list[dict[str, Any]]) -> list[NewEvent]:
    from app.scoring.scorecard import GRADES, NOT_RATED

    rank = {g: i for i, g in enumerate(GRADES)}  # AAA first: a lower index is a better grade
    firms = _firm_data(session, {int(c["enterprise_id"]) for c in changes})
    out: list[NewEvent] = []
    for c in changes:
        ent = int(c["enterprise_id"])
        old, new = str(c["old_grade"]), str(c["new_grade"])
        data = {"uscc": firms[ent][0], "name": firms[ent][1], "from": old, "to": new, "from_score": c["old_score"],
                "to_score": c["new_score"], "as_of": c["as_of"]}
        if new == NOT_RATED:
            out.append(NewEvent(EventType.grade_not_rated, ent, data, True))
        elif old == NOT_RATED:
            out.append(NewEvent(EventType.grade_rated, ent, data, True))
        elif old in rank and new in rank:
            kind = EventType.grade_downgraded if rank[new] > rank[old] else EventType.grade_upgraded
            out.append(NewEvent(kind, ent, data, True))
        for threshold in GRADE_THRESHOLDS:
            t = rank[threshold]
            was, now = (old in rank and rank[old] <= t), (new in rank and rank[new] <= t)
            if was != now and NOT_RATED not in (old, new):
                out.append(NewEvent(EventType.grade_threshold, ent, {
                    **data, "threshold": threshold, "direction": "above" if now else "below"}, True))
    return out


def events_of_oversight(session: Session, type: str, enterprise_id: int, data: dict[str, Any]) -> list[NewEvent]:
    uscc, name = _firm_data(session, {enterprise_id})[enterprise_id]
    public = type in (EventType.list_entered, EventType.list_exited, EventType.repair_approved)
    return [NewEvent(EventType(type), enterprise_id, {"uscc": uscc, "name": name, **data}, public,
                     data.get("category"))]


# --- subscriptions ------------------------------------------------------------------------------


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise InvalidInput("事件类型无效", errors={"events": [f"未知的事件类型：{'、'.join(unknown)}；可用：{'、'.join(SUBSCRIBABLE)}"]})
    return sorted(set(events))


def _check_categories(categories: list[str]) -> list[str]:
    unknown = sorted(set(categories) - {str(c) for c in Category})
    if unknown:
        raise InvalidInput("记录类别无效", errors={"categories": [f"未知的记录类别：{'、'.join(unknown)}"]})
    return sorted(set(categories))


def monitoring_consent(session: Session, institution_id: int, enterprise_id: int, purpose: str) -> Consent | None:
    """The consent in force (active, within its window) that lets an institution watch a firm."""
    now = clock.now()
    return session.scalars(
        sa.select(Consent).where(Consent.enterprise_id == enterprise_id, Consent.institution_id == institution_id,
                                 Consent.purpose == purpose, Consent.status == ConsentStatus.active,
                                 Consent.valid_from <= now, Consent.valid_until > now)
        .order_by(Consent.valid_until.desc()).limit(1)).first()


def _why_no_consent(session: Session, institution_id: int, enterprise_id: int, purpose: str) -> str:
    """Why no consent of ``purpose`` is in force, from the newest one there is."""
    newest = session.scalars(
        sa.select(Consent).where(Consent.enterprise_id == enterprise_id, Consent.institution_id == institution_id,
                                 Consent.purpose == purpose).order_by(Consent.created_at.desc(), Consent.id.desc())
        .limit(1)).first()
    if newest is None:
        return "该企业未向本机构授予此项授权"
    if newest.status == ConsentStatus.active:
        return ("该授权尚未生效" if newest.valid_from > clock.now() else "该授权已到期")
    return f"该授权（{newest.consent_id}）当前为「{CONSENT_STATUS_LABELS[newest.status]}」"


def group_enterprise_id(session: Session, institution_id: int) -> int | None:
    """The parent enterprise of a group institution (its USCC is the parent's)."""
    return session.scalar(sa.select(Enterprise.id).join(Institution, Institution.uscc == Enterprise.uscc)
                          .where(Institution.id == institution_id))


def subscribe(session: Session, party: Party, *, uscc: str, events: list[str], categories: list[str] | None = None,
              min_severity: int = 0, include_subsidiaries: bool = False, request_id: str | None = None
              ) -> tuple[Subscription, bool]:
    """A party watches a firm; the same firm again changes the existing subscription's filters.
    Returns the subscription and whether it is new."""
    if party.is_operator:
        raise Forbidden("征信机构无需订阅：预警见控制台", code="operator_cannot_subscribe")
    firm = get_enterprise(session, uscc)
    events = _check_events(events)
    categories = _check_categories(categories or [])
    if not 0 <= min_severity <= 3:
        raise InvalidInput("严重程度无效", errors={"min_severity": ["应为 0–3。"]})
    if include_subsidiaries and party.kind != "group":
        raise InvalidInput("只有集团可以订阅全部下属企业", errors={"include_subsidiaries": ["仅集团用户可用。"]})
    if party.kind == "firm":
        if firm.id != party.enterprise_id:
            raise Forbidden("企业只能订阅本企业的变动", code="not_your_enterprise")
    elif party.kind == "bank":
        assert party.institution_id is not None
        if monitoring_consent(session, party.institution_id, firm.id, Purpose.post_loan_monitoring) is None:
            why = _why_no_consent(session, party.institution_id, firm.id, Purpose.post_loan_monitoring)
            raise Forbidden(f"订阅贷后监测须持有该企业有效的「贷后管理」授权：{why}", code="consent_required",
                            errors={"uscc": [f"{why}。"]})
    elif party.kind == "group":
        parent = party.enterprise_id
        if include_subsidiaries:
            if firm.id != parent:
                raise Forbidden("订阅全部下属企业时，统一社会信用代码应为本集团的", code="not_your_group")
        elif firm.id != parent and parent not in group_parents(session, firm.id):
            raise Forbidden("该企业不是本集团的下属企业", code="not_a_subsidiary")
    owner = party.owner_filter(Subscription.institution_id, Subscription.subscriber_enterprise_id)
    existing = session.scalars(sa.select(Subscription).where(
        owner, Subscription.enterprise_id == firm.id, Subscription.ended_at.is_(None),
        Subscription.include_subsidiaries.is_(include_subsidiaries)).with_for_update(of=Subscription)).first()
    if existing is not None:
        existing.events, existing.categories, existing.min_severity = events, categories, min_severity
        session.flush()
        return existing, False
    sub = Subscription(subscription_id=new_id("sub_"), enterprise_id=firm.id, kind=party.subscriber_kind,
                       events=events, categories=categories, min_severity=min_severity,
                       include_subsidiaries=include_subsidiaries, created_by=party.actor, **party.owner_columns())
    session.add(sub)
    session.flush()
    audit.record(session, party.actor, "subscription.created", subject_type="subscription",
                 subject_id=sub.subscription_id, request_id=request_id,
                 detail={"uscc": firm.uscc, "events": events, "include_subsidiaries": include_subsidiaries})
    return sub, True


def get_subscription(session: Session, party: Party, subscription_id: str) -> Subscription:
    sub = session.scalars(sa.select(Subscription).where(Subscription.subscription_id == subscription_id)).first()
    if sub is None or not (party.is_operator or party.owns(sub.institution_id, sub.subscriber_enterprise_id)):
        raise NotFound("订阅不存在", code="subscription_not_found")
    return sub


def unsubscribe(session: Session, party: Party, subscription_id: str, request_id: str | None = None) -> Subscription:
    sub = get_subscription(session, party, subscription_id)
    if sub.ended_at is not None:
        raise Conflict("该订阅已取消", code="subscription_ended")
    sub.ended_at, sub.ended_by = clock.now(), party.actor
    session.flush()
    audit.record(session, party.actor, "subscription.ended", subject_type="subscription",
                 subject_id=sub.subscription_id, request_id=request_id)
    return sub


def list_subscriptions(session: Session, party: Party, *, uscc: str | None = None, active: bool = True,
                       page: int = 1, per_page: int = 50) -> Page[Subscription]:
    stmt = sa.select(Subscription).order_by(Subscription.id.desc())
    if not party.is_operator:
        stmt = stmt.where(party.owner_filter(Subscription.institution_id, Subscription.subscriber_enterprise_id))
    if active:
        stmt = stmt.where(Subscription.ended_at.is_(None))
    if uscc:
        stmt = stmt.join(Enterprise, Enterprise.id == Subscription.enterprise_id).where(Enterprise.uscc == uscc)
    return paginate(session, stmt, page, per_page)


# --- dispatch -----------------------------------------------------------------------------------


def _ancestors(session: Session, ids: set[int], day: dt.date) -> dict[int, set[int]]:
    """Every firm's holders on ``day`` at every level, for a batch of firms in one query."""
    if not ids:
        return {}
    rel = EnterpriseRelation
    live = sa.and_(rel.valid_from <= day, sa.or_(rel.valid_to.is_(None), rel.valid_to > day))
    up = (sa.select(rel.child_id.label("firm"), rel.parent_id.label("holder"), sa.literal(1).label("depth"))
          .where(rel.child_id.in_(ids), live).cte("up", recursive=True))
    above = aliased(rel)
    up = up.union_all(
        sa.select(up.c.firm, above.parent_id, (up.c.depth + 1).label("depth"))
        .join(above, above.child_id == up.c.holder)
        .where(above.valid_from <= day, sa.or_(above.valid_to.is_(None), above.valid_to > day), up.c.depth < 10))
    out: dict[int, set[int]] = defaultdict(set)
    for firm, holder in session.execute(sa.select(up.c.firm, up.c.holder)):
        out[firm].add(holder)
    return out


def _as_of(data: dict[str, Any]) -> str:
    """The day an evaluation holds from, as grade alerts name it (an alert can arrive later)."""
    return f"（{data['as_of']} 评价）" if data.get("as_of") else ""


def _title(event: MonitoringEvent) -> str:
    d = event.data
    who = d.get("name") or d.get("group_label") or ""
    t = event.type
    if t in (EventType.record_negative, EventType.record_corrected, EventType.record_expired):
        r = d["record"]
        return f"{who}：{EVENT_LABELS[EventType(t)]}（{r['category_label']}，严重程度 {r['severity']}）"
    if t in (EventType.grade_upgraded, EventType.grade_downgraded, EventType.grade_rated, EventType.grade_not_rated):
        return f"{who}：{EVENT_LABELS[EventType(t)]}，{d['from']} → {d['to']}{_as_of(d)}"
    if t == EventType.grade_threshold:
        side = "降至" if d["direction"] == "below" else "升至"
        return (f"{who}：信用等级{side} {d['threshold']} {'以下' if d['direction'] == 'below' else '及以上'}"
                f"（{d['from']} → {d['to']}）{_as_of(d)}")
    if t in (EventType.list_entered, EventType.list_exited):
        return f"{who}：{EVENT_LABELS[EventType(t)]}（{d['list_label']}）"
    if t == EventType.utility_arrears:
        return f"{who}：连续 {d['arrears']['months']} 个月欠缴电费"
    if t == EventType.judgment_dishonest:
        return f"{who}：新增失信被执行人判决（{d['judgment'].get('case_no') or ''}）"
    if t == EventType.index_warning:
        return d.get("title", EVENT_LABELS[EventType.index_warning])
    return f"{who}：{EVENT_LABELS.get(EventType(t), t) if t in EventType._value2member_map_ else t}"


def _body(event: MonitoringEvent, alert_id: str, subscription_id: str | None, title: str) -> dict[str, Any]:
    """The alert as the API and webhooks carry it (Standard Webhooks' type/timestamp/data)."""
    return {"type": event.type, "timestamp": clock.iso_utc(clock.now()),
            "data": {"alert_id": alert_id, "event_id": event.event_id, "subscription_id": subscription_id,
                     "title": title, "occurred_at": clock.iso_utc(event.occurred_at),
                     **event.data}}


def _pending_events(session: Session, limit: int) -> list[MonitoringEvent]:
    stmt = (sa.select(MonitoringEvent).where(MonitoringEvent.dispatched_at.is_(None))
            .order_by(MonitoringEvent.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # two consumers never take the same event
    return list(session.scalars(stmt))


def dispatch(session: Session, *, limit: int = DISPATCH_BATCH) -> int:
    """Turn up to ``limit`` pending events into alerts (and query-log entries, and webhook
    deliveries) in the caller's transaction, and mark them dispatched there; returns how many
    events it took."""
    events = _pending_events(session, limit)
    if not events:
        return 0
    now = clock.now()
    today = clock.today()
    firm_ids = {e.enterprise_id for e in events if e.enterprise_id is not None}
    holders = _ancestors(session, firm_ids, today)
    watched = firm_ids | {h for hs in holders.values() for h in hs}
    subs: dict[int, list[Subscription]] = defaultdict(list)
    for sub in session.scalars(sa.select(Subscription).where(Subscription.enterprise_id.in_(watched),
                                                             Subscription.ended_at.is_(None))):
        subs[sub.enterprise_id].append(sub)
    consents = _consents_in_force(session, firm_ids, now)
    endpoints = _endpoints(session)

    alerts: list[dict[str, Any]] = []
    logs: list[dict[str, Any] | None] = []
    for event in events:
        ent = event.enterprise_id
        if ent is None:  # an index warning: to the group it is about, or to the operators
            alert_id = new_id("alt_")
            title = _title(event)
            group = event.data.get("institution_id")
            alerts.append({"alert_id": alert_id, "event_pk": event.id, "subscription_pk": None,
                           "institution_id": group, "subscriber_enterprise_id": None, "enterprise_id": None,
                           "type": event.type, "title": title[:300], "payload": _body(event, alert_id, None, title),
                           "created_at": now})
            logs.append(None)
            continue
        candidates = [s for s in subs.get(ent, ()) if not s.include_subsidiaries]
        candidates += [s for h in holders.get(ent, ()) for s in subs.get(h, ()) if s.include_subsidiaries]
        candidates += [s for s in subs.get(ent, ()) if s.include_subsidiaries]  # the group's own parent
        served: set[tuple[int | None, int | None]] = set()  # one alert per subscriber, however many subscriptions match
        for sub in candidates:
            subscriber = (sub.institution_id, sub.subscriber_enterprise_id)
            if subscriber in served or not sub.wants(event):
                continue
            consent = None
            if sub.kind == SubscriberKind.bank:
                consent = consents.get((ent, sub.institution_id, str(Purpose.post_loan_monitoring)))
                if consent is None or not _covers(consent, event):
                    continue  # the gate: no consent in force, or not for this section
            elif sub.kind == SubscriberKind.group:
                consent = consents.get((ent, sub.institution_id, GROUP_PURPOSE))
                if consent is not None and not _covers(consent, event):
                    consent = None
                if consent is None and not event.public:
                    continue  # beyond public facts only under the subsidiary's consent
                if sub.enterprise_id != ent and not sub.include_subsidiaries:
                    continue
            served.add(subscriber)
            alert_id = new_id("alt_")
            title = _title(event)
            alerts.append({"alert_id": alert_id, "event_pk": event.id, "subscription_pk": sub.id,
                           "institution_id": sub.institution_id, "subscriber_enterprise_id": sub.subscriber_enterprise_id,
                           "enterprise_id": ent, "type": event.type, "title": title[:300],
                           "payload": _body(event, alert_id, sub.subscription_id, title), "created_at": now})
            logs.append(None if consent is None else {
                "at": now, "enterprise_id": ent, "institution_id": consent.institution_id, "consent_pk": consent.id,
                "client_pk": None, "user_id": None, "purpose": consent.purpose,
                "sections": [section_of(event.type, event.category) or "evaluation"],
                "resource": f"alert:{alert_id}", "request_id": None})
    if alerts:
        _write_alerts(session, alerts, logs, endpoints)
    session.execute(sa.update(MonitoringEvent).where(MonitoringEvent.id.in_([e.id for e in events]))
                    .values(dispatched_at=now).execution_options(synchronize_session=False))
    return len(events)


def _covers(consent: Consent, event: MonitoringEvent) -> bool:
    section = section_of(event.type, event.category)
    return section is None or section in consent.scopes


def _consents_in_force(session: Session, firm_ids: set[int], now: dt.datetime) -> dict[tuple[int, int | None, str], Consent]:
    if not firm_ids:
        return {}
    out: dict[tuple[int, int | None, str], Consent] = {}
    for consent in session.scalars(sa.select(Consent).where(
            Consent.enterprise_id.in_(firm_ids), Consent.status == ConsentStatus.active,
            Consent.purpose.in_([str(Purpose.post_loan_monitoring), GROUP_PURPOSE]),
            Consent.valid_from <= now, Consent.valid_until > now)):
        out[(consent.enterprise_id, consent.institution_id, str(consent.purpose))] = consent
    return out


def _endpoints(session: Session) -> dict[tuple[int | None, int | None], list[WebhookEndpoint]]:
    out: dict[tuple[int | None, int | None], list[WebhookEndpoint]] = defaultdict(list)
    for ep in session.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.status == EndpointStatus.active)):
        out[(ep.institution_id, ep.subscriber_enterprise_id)].append(ep)
    return out


def _write_alerts(session: Session, alerts: list[dict[str, Any]], logs: list[dict[str, Any] | None],
                  endpoints: dict[tuple[int | None, int | None], list[WebhookEndpoint]]) -> None:
    accessed = [(i, log) for i, log in enumerate(logs) if log is not None]
    if accessed:
        ids = session.scalars(sa.insert(QueryLog).returning(QueryLog.id, sort_by_parameter_order=True),
                              [log for _, log in accessed]).all()
        for (i, _), log_id in zip(accessed, ids, strict=True):
            alerts[i]["query_log_pk"] = log_id
    for alert in alerts:
        alert.setdefault("query_log_pk", None)
    alert_pks = session.scalars(sa.insert(Alert).returning(Alert.id, sort_by_parameter_order=True), alerts).all()
    now = clock.now()
    deliveries = []
    for alert, pk in zip(alerts, alert_pks, strict=True):
        for ep in endpoints.get((alert["institution_id"], alert["subscriber_enterprise_id"]), ()):
            if ep.takes(alert["type"]):
                deliveries.append({"message_id": new_id("msg_"), "endpoint_pk": ep.id, "alert_pk": pk,
                                   "event_type": alert["type"], "body": orjson.dumps(alert["payload"]).decode(),
                                   "status": DeliveryStatus.pending, "attempts": 0, "next_attempt_at": now,
                                   "created_at": now})
    if deliveries:
        session.execute(sa.insert(WebhookDelivery), deliveries)
        after_commit(session, lambda: enqueue("monitoring.deliver"), key="monitoring.deliver")


def allowed_deliveries(session: Session, deliveries: list[WebhookDelivery]) -> set[int]:
    """Checked again just before deliveries are sent, for a batch in a few queries: the ids of
    those that may still go (a bank's consent paused, revoked or expired since the alert — or a
    group's, for a non-public event — stops them at once)."""
    if not deliveries:
        return set()
    alert_pks = {d.alert_pk for d in deliveries if d.alert_pk is not None}
    rows = session.execute(
        sa.select(Alert.id, Alert.enterprise_id, Alert.created_at, Subscription.kind, Subscription.institution_id,
                  Subscription.ended_at, MonitoringEvent.type, MonitoringEvent.category, MonitoringEvent.public)
        .join(MonitoringEvent, MonitoringEvent.id == Alert.event_pk)
        .outerjoin(Subscription, Subscription.id == Alert.subscription_pk)
        .where(Alert.id.in_(alert_pks))).all() if alert_pks else []
    alerts = {r[0]: r for r in rows}
    firms = {r[1] for r in rows if r[1] is not None}
    consents = _consents_in_force(session, firms, clock.now())
    allowed: set[int] = set()
    for delivery in deliveries:
        if delivery.alert_pk is None:
            allowed.add(delivery.id)  # a ping
            continue
        row = alerts.get(delivery.alert_pk)
        if row is None:
            continue
        _, ent, created, kind, institution, ended, type_, category, public = row
        if kind is None or ent is None:  # an index warning
            allowed.add(delivery.id)
            continue
        if ended is not None and ended <= created:
            continue
        section = section_of(type_, category)
        if kind == SubscriberKind.bank:
            consent = consents.get((ent, institution, str(Purpose.post_loan_monitoring)))
        elif kind == SubscriberKind.group and not public:
            consent = consents.get((ent, institution, GROUP_PURPOSE))
        else:
            allowed.add(delivery.id)
            continue
        if consent is not None and (section is None or section in consent.scopes):
            allowed.add(delivery.id)
    return allowed


def dispatch_all(database: Any) -> int:
    """Every pending event, in transactions of ``DISPATCH_BATCH``; the events taken."""
    total = 0
    while True:
        with database.transaction() as session:
            n = dispatch(session)
        total += n
        if n < DISPATCH_BATCH:
            return total


# --- the inbox ------------------------------------------------------------------------------------


def list_alerts(session: Session, party: Party, *, uscc: str | None = None, type: str | None = None,
                unread: bool = False, page: int = 1, per_page: int = 50) -> Page[Alert]:
    stmt = sa.select(Alert).options(selectinload(Alert.enterprise)).order_by(Alert.id.desc())
    stmt = stmt.where(party.owner_filter(Alert.institution_id, Alert.subscriber_enterprise_id))
    if uscc:
        stmt = stmt.join(Enterprise, Enterprise.id == Alert.enterprise_id).where(Enterprise.uscc == uscc)
    if type:
        stmt = stmt.where(Alert.type == type)
    if unread:
        stmt = stmt.where(Alert.read_at.is_(None))
    return paginate(session, stmt, page, per_page)


def recent_alerts(session: Session, *, institution_id: int | None = None, enterprise_id: int | None = None,
                  limit: int = 20) -> list[Alert]:
    """A subscriber's newest alerts (a group's dashboard, a firm's home)."""
    stmt = sa.select(Alert).options(selectinload(Alert.enterprise)).order_by(Alert.id.desc()).limit(limit)
    if institution_id is not None:
        stmt = stmt.where(Alert.institution_id == institution_id)
    else:
        stmt = stmt.where(Alert.institution_id.is_(None), Alert.subscriber_enterprise_id == enterprise_id)
    return list(session.scalars(stmt))


def mark_read(session: Session, party: Party, alert_ids: list[str], user_id: int | None) -> int:
    if not alert_ids:
        return 0
    stmt = (sa.update(Alert).where(Alert.alert_id.in_(alert_ids), Alert.read_at.is_(None))
            .values(read_at=clock.now(), read_by=user_id).execution_options(synchronize_session=False))
    stmt = stmt.where(party.owner_filter(Alert.institution_id, Alert.subscriber_enterprise_id))
    return int(cast(Any, session.execute(stmt)).rowcount or 0)


def unread_count(session: Session, party: Party) -> int:
    stmt = sa.select(sa.func.count()).select_from(Alert).where(
        Alert.read_at.is_(None), party.owner_filter(Alert.institution_id, Alert.subscriber_enterprise_id))
    return int(session.scalar(stmt) or 0)
