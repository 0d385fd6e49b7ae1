"""Subscriptions and alerts as the API takes and gives them."""

from __future__ import annotations

from marshmallow import fields, validate

from app.archive.categories import UsccField
from app.archive.models import Category
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import Int, JsonBool, PageArgs, StrictSchema, one_of
from app.monitoring.models import EVENT_LABELS, EventType
from app.monitoring.services import SUBSCRIBABLE

EVENTS_HELP = "事件类型（为空则全部）：" + "、".join(f"{t}={EVENT_LABELS[EventType(t)]}" for t in SUBSCRIBABLE)


class SubscriptionRequestSchema(StrictSchema):
    uscc = UsccField(required=True, allow_legacy=True, metadata={"description": "被监测企业的统一社会信用代码"})
    events = fields.List(fields.String(validate=one_of(SUBSCRIBABLE)), load_default=list,
                         metadata={"description": EVENTS_HELP})
    categories = fields.List(fields.String(validate=one_of([str(c) for c in Category])), load_default=list,
                             metadata={"description": "只关注这些类别的记录事件（为空则全部）"})
    min_severity = Int(load_default=0, validate=validate.Range(min=0, max=3, error="应为 0–3。"),
                       metadata={"description": "记录事件的最低严重程度（0–3）"})
    include_subsidiaries = JsonBool(load_default=False, metadata={
        "description": "集团：以本集团的统一社会信用代码订阅全部下属企业（各级，含日后新增）"})


class SubscriptionSchema(StrictSchema):
    id = fields.String(attribute="subscription_id")
    uscc = fields.Function(lambda s: s.enterprise.uscc)
    name = fields.Function(lambda s: s.enterprise.name)
    kind = fields.String()
    events = fields.List(fields.String())
    categories = fields.List(fields.String())
    min_severity = fields.Integer()
    include_subsidiaries = fields.Boolean()
    created_at = fields.DateTime()
    created_by = fields.String()
    ended_at = fields.DateTime(allow_none=True)


class SubscriptionListArgs(PageArgs):
    uscc = UsccField(load_default=None, allow_legacy=True)
    active = fields.Boolean(load_default=True, metadata={"description": "只列出有效的订阅（默认）"})


class SubscriptionPageSchema(PageSchema):
    items = page_of(SubscriptionSchema)


class AlertSchema(StrictSchema):
    id = fields.String(attribute="alert_id")
    type = fields.String()
    type_label = fields.Function(lambda a: EVENT_LABELS.get(EventType(a.type), a.type)
                                 if a.type in EventType._value2member_map_ else a.type)
    title = fields.String()
    uscc = fields.Function(lambda a: a.enterprise.uscc if a.enterprise else None, allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    payload = fields.Dict(metadata={"description": "与 Webhook 推送的正文相同：{type, timestamp, data}"})


class AlertListArgs(PageArgs):
    uscc = UsccField(load_default=None, allow_legacy=True)
    type = fields.String(load_default=None, validate=one_of([str(t) for t in EventType]))
    unread = fields.Boolean(load_default=False)


class AlertPageSchema(PageSchema):
    items = page_of(AlertSchema)
    unread = fields.Integer(metadata={"description": "未读预警数"})


class MarkReadSchema(StrictSchema):
    ids = fields.List(fields.String(validate=validate.Length(max=40)), required=True,
                      validate=validate.Length(min=1, max=500, error="一次标记 1–500 条。"))


class MarkedSchema(StrictSchema):
    marked = fields.Integer()


