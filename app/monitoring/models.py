"""监测预警: the outbox of events, subscriptions, the alert inbox, webhook endpoints and their
deliveries.

An event (``MonitoringEvent``) is written in the same transaction as the change that causes
it; dispatch turns each into one alert per subscription that may see it and one delivery per
webhook endpoint of that subscriber that listens for it, in one transaction, and marks the
event dispatched there: none is lost, none doubled.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


class EventType(enum.StrEnum):
    record_negative = "record.negative"  # a new negative record
    record_corrected = "record.corrected"  # a record's content superseded by its provider
    record_expired = "record.expired"  # a negative record past its retention, no longer counted
    grade_upgraded = "grade.upgraded"
    grade_downgraded = "grade.downgraded"
    grade_not_rated = "grade.not_rated"  # became NR (不予评级)
    grade_threshold = "grade.threshold_crossed"  # crossed a threshold such as AA (信易贷 eligibility)
    grade_rated = "grade.rated"  # rated again after NR
    list_entered = "list.entered"
    list_exited = "list.exited"
    objection_opened = "objection.opened"
    objection_resolved = "objection.resolved"
    repair_approved = "repair.approved"
    utility_arrears = "utility.arrears"  # 电费 in arrears several months in a row
    judgment_dishonest = "judicial.dishonest"  # a new 失信被执行人 judgment
    index_warning = "index.warning"  # a group, segment or province index crossed its threshold


EVENT_LABELS = {
    EventType.record_negative: "新增不良记录",
    EventType.record_corrected: "记录更正",
    EventType.record_expired: "不良记录期满失效",
    EventType.grade_upgraded: "信用等级上调",
    EventType.grade_downgraded: "信用等级下调",
    EventType.grade_not_rated: "不予评级（信息不足）",
    EventType.grade_threshold: "信用等级跨越阈值",
    EventType.grade_rated: "恢复评级",
    EventType.list_entered: "列入名单",
    EventType.list_exited: "移出名单",
    EventType.objection_opened: "提出异议",
    EventType.objection_resolved: "异议处理完毕",
    EventType.repair_approved: "信用修复获批",
    EventType.utility_arrears: "连续欠缴电费",
    EventType.judgment_dishonest: "新增失信被执行人判决",
    EventType.index_warning: "信用电力指数预警",
}
WEBHOOK_PING = "webhook.ping"  # sent by POST /api/v1/webhook-endpoints/{id}/ping, not an event


class SubscriberKind(enum.StrEnum):
    bank = "bank"  # an institution watching a borrower under a post_loan_monitoring consent
    group = "group"  # a power group watching its subsidiaries
    firm = "firm"  # a firm watching itself


class MonitoringEvent(Base):
    """The outbox: one change worth an alert, written with its cause."""

    __tablename__ = "monitoring_event"
    __table_args__ = (
        sa.Index("ix_monitoring_event_pending", "dispatched_at", "id"),
        sa.Index("ix_monitoring_event_enterprise", "enterprise_id", "id"),
    )

    id: Mapped[intpk]
    event_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public: evt_…
    type: Mapped[str] = mapped_column(sa.String(40))
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))  # null: an index warning
    public: Mapped[bool] = mapped_column(default=False)  # only public facts (grade, lists, 双公示)
    category: Mapped[str | None] = mapped_column(sa.String(20))  # a record's category
    severity: Mapped[int | None] = mapped_column(sa.SmallInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # An event that must be raised once whoever raises it (an index warning's key): two runs
    # racing to write it cannot both commit.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)

    enterprise: Mapped[Enterprise | None] = relationship()


class Subscription(Base):
    """Who watches a firm for which events (all when ``events`` is empty)."""

    __tablename__ = "subscription"
    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'firm' AND subscriber_enterprise_id IS NOT NULL AND institution_id IS NULL)"
            " OR (kind IN ('bank', 'group') AND institution_id IS NOT NULL AND subscriber_enterprise_id IS NULL)",
            name="subscriber_binding"),
        sa.Index("ix_subscription_enterprise_active", "enterprise_id", "ended_at"),
        sa.Index("ix_subscription_institution", "institution_id", "ended_at"),
    )

    id: Mapped[intpk]
    subscription_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public: sub_…
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))  # the firm watched
    kind: Mapped[SubscriberKind] = mapped_column(str_enum("subscriber_kind", list(SubscriberKind)))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"))
    subscriber_enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))
    events: Mapped[list[str]] = mapped_column(JSONType)
    categories: Mapped[list[str]] = mapped_column(JSONType)  # record categories (empty: all)
    min_severity: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    # A group's subscription to its parent enterprise that covers every subsidiary it holds on
    # the day of each event, at every level (new ones included, sold ones no longer).
    include_subsidiaries: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(sa.String(100))

    enterprise: Mapped[Enterprise] = relationship(foreign_keys=[enterprise_id], lazy="joined")
    institution: Mapped[Institution | None] = relationship()

    def wants(self, event: MonitoringEvent) -> bool:
        if self.events and event.type not in self.events:
            return False
        if event.category is not None and self.categories and event.category not in self.categories:
            return False
        return not (event.severity is not None and event.severity < self.min_severity)


class Alert(Base):
    """One event as one subscriber sees it: its inbox, and what its webhooks carry."""

    __tablename__ = "alert"
    __table_args__ = (
        sa.UniqueConstraint("event_pk", "subscription_pk", name="uq_alert_event_subscription"),
        sa.Index("ix_alert_institution", "institution_id", "id"),
        sa.Index("ix_alert_subscriber_enterprise", "subscriber_enterprise_id", "id"),
    )

    id: Mapped[intpk]
    alert_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public: alt_…
    event_pk: Mapped[int] = mapped_column(sa.ForeignKey("monitoring_event.id"))
    subscription_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("subscription.id"))  # none: an index warning
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"))
    subscriber_enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))
    type: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the body webhooks carry
    query_log_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("query_log.id"))  # a bank's or group's access
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    read_by: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))

    event: Mapped[MonitoringEvent] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    enterprise: Mapped[Enterprise | None] = relationship(foreign_keys=[enterprise_id])


class EndpointStatus(enum.StrEnum):
    active = "active"
    disabled = "disabled"


class WebhookEndpoint(Base):
    """A subscriber's receiver: URL, the events it takes, its signing secret (encrypted at
    rest; the previous one still signs for a day after a rotation)."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (
        sa.CheckConstraint("(institution_id IS NULL) <> (subscriber_enterprise_id IS NULL)", name="owner_binding"),
    )

    id: Mapped[intpk]
    endpoint_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public: ep_…
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    subscriber_enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)  # empty: every event type
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    secret: Mapped[str] = mapped_column(sa.Text)  # encrypted (app.core.crypto.FieldCipher)
    previous_secret: Mapped[str | None] = mapped_column(sa.Text)
    previous_valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[EndpointStatus] = mapped_column(str_enum("endpoint_status", list(EndpointStatus)),
                                                   default=EndpointStatus.active)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def takes(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for its (next) attempt
    succeeded = "succeeded"
    dead = "dead"  # gave up after the last retry: replay from the API or the console
    withheld = "withheld"  # the consent that allowed it is no longer in force: never sent


DELIVERY_STATUS_LABELS = {
    DeliveryStatus.pending: "待发送",
    DeliveryStatus.succeeded: "已送达",
    DeliveryStatus.dead: "已放弃（可重放）",
    DeliveryStatus.withheld: "授权已失效，未发送",
}


class WebhookDelivery(Base):
    """One message to one endpoint; its ``message_id`` is the ``webhook-id`` header, the same
    on every retry (receivers deduplicate on it)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_delivery_endpoint", "endpoint_pk", "id"),
    )

    id: Mapped[intpk]
    message_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public: msg_…
    endpoint_pk: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoint.id"))
    alert_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"))  # none for a ping
    event_type: Mapped[str] = mapped_column(sa.String(40))
    body: Mapped[str] = mapped_column(sa.Text)  # the exact JSON bytes signed and sent
    status: Mapped[DeliveryStatus] = mapped_column(str_enum("delivery_status", list(DeliveryStatus)),
                                                   default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # claimed by a sender
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    replay_of: Mapped[int | None] = mapped_column(sa.ForeignKey("webhook_delivery.id"))

    endpoint: Mapped[WebhookEndpoint] = relationship()
    alert: Mapped[Alert | None] = relationship()


class DeliveryAttempt(Base):
    """Each attempt of a delivery: the endpoint's delivery log."""

    __tablename__ = "webhook_attempt"

    id: Mapped[intpk]
    delivery_pk: Mapped[int] = mapped_column(sa.ForeignKey("webhook_delivery.id"), index=True)
    attempt: Mapped[int]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    duration_ms: Mapped[int]
