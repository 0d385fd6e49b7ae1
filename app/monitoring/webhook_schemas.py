"""Webhook endpoints and deliveries, in and out: bodies refuse unknown fields, outputs
whitelist theirs (the secret appears only in the answers that create it)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import PageArgs, StrictSchema, no_nul, one_of
from app.monitoring.models import DELIVERY_STATUS_LABELS, EVENT_LABELS, DeliveryStatus, EventType
from app.monitoring.ssrf import MAX_URL

EVENTS_DOC = "事件类型（空列表：全部）：" + "、".join(f"{k}={v}" for k, v in EVENT_LABELS.items())


class EndpointCreateSchema(StrictSchema):
    url = fields.String(required=True, validate=[
        validate.Length(min=1, max=MAX_URL, error=f"长度应为 1–{MAX_URL} 个字符。"), no_nul],
        metadata={"description": "接收推送的网址：https；不得指向回环、私有、链路本地等地址（防 SSRF）"})
    events = fields.List(fields.String(validate=one_of([str(t) for t in EventType])), load_default=list,
                         validate=validate.Length(max=len(EventType), error="事件类型过多。"),
                         metadata={"description": EVENTS_DOC})
    description = fields.String(load_default="", validate=[
        validate.Length(max=500, error="长度至多为 500 个字符。"), no_nul], metadata={"description": "备注"})


class EndpointSchema(StrictSchema):
    id = fields.String(attribute="endpoint_id", metadata={"description": "端点编号（ep_…）"})
    url = fields.String()
    events = fields.List(fields.String(), metadata={"description": EVENTS_DOC})
    description = fields.String()
    status = fields.String(metadata={"description": "active=启用，disabled=停用（含接收方返回 410 Gone 时）"})
    created_at = fields.DateTime()
    rotated_at = fields.DateTime(allow_none=True)
    previous_secret_expires_at = fields.DateTime(attribute="previous_valid_until", allow_none=True,
                                                 metadata={"description": "轮换前的密钥在此之前仍一并签名"})


class EndpointCreatedSchema(EndpointSchema):
    secret = fields.String(metadata={"description": "签名密钥 whsec_…，只显示这一次"})


class EndpointPageSchema(PageSchema):
    items = page_of(EndpointSchema)


class SecretSchema(StrictSchema):
    id = fields.String(attribute="endpoint_id")
    secret = fields.String(metadata={"description": "新的签名密钥 whsec_…，只显示这一次"})
    previous_secret_expires_at = fields.DateTime(attribute="previous_valid_until", allow_none=True,
                                                 metadata={"description": "旧密钥在此之前仍一并签名（第二个 v1, 签名）"})


class AttemptSchema(StrictSchema):
    attempt = fields.Integer()
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "接收方的 HTTP 状态码；未得到应答时为空"})
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()


class DeliverySchema(StrictSchema):
    id = fields.String(attribute="message_id", metadata={"description": "消息编号（msg_…，即 webhook-id 头）"})
    endpoint_id = fields.String()
    event_type = fields.String()
    status = fields.String(metadata={"description": "、".join(f"{k}={v}" for k, v in DELIVERY_STATUS_LABELS.items())})
    attempt_count = fields.Integer(attribute="attempts")
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    replay_of = fields.String(attribute="replay_of_id", allow_none=True,
                              metadata={"description": "重放所依据的原消息编号"})
    body = fields.String(metadata={"description": "所发送（并签名）的 JSON 原文"})
    attempts = fields.List(fields.Nested(AttemptSchema), attribute="attempt_log")


class DeliveryPageSchema(PageSchema):
    items = page_of(DeliverySchema)


class DeliveryListArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(DeliveryStatus)))
