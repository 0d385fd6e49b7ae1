"""Audit log request and response schemas (operators read the log; nobody writes it through the API)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import PageArgs, StrictSchema, one_of


def _filter(max_len: int, description: str) -> fields.String:
    return fields.String(load_default=None, validate=validate.Length(max=max_len), metadata={"description": description})


class AuditEventArgs(PageArgs):
    action = _filter(64, "操作，或操作族（如 consent 匹配 consent.revoke）")
    actor = _filter(100, "操作者（user:…、client:…、ip:…、system）")
    subject_type = _filter(32, "对象类型（consent、report、objection …）")
    subject_id = _filter(64, "对象编号")
    outcome = fields.String(load_default=None, validate=one_of(["ok", "refused"]))
    request_id = _filter(64, "请求编号")


class AuditEventSchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    outcome = fields.String()
    code = fields.String(allow_none=True)
    subject_type = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True)
    detail = fields.Dict()
    request_id = fields.String(allow_none=True)
    hash = fields.String(metadata={"description": "本条的链式摘要（SHA-256，含上一条的摘要）"})


class AuditEventPageSchema(PageSchema):
    items = page_of(AuditEventSchema)
