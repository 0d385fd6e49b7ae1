"""Audit log request and response schemas (operators read the log; nobody writes it through
the API), and the Merkle tree's signed heads and proofs (RFC 9162), hashes in lower-case hex."""

from __future__ import annotations

from marshmallow import fields, validate

from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import INT64_MAX, Int, PageArgs, StrictSchema, one_of


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


class FirmEventSchema(AuditEventSchema):
    leaf_index = fields.Integer(allow_none=True, metadata={
        "description": "在默克尔树中的位置（第几片叶子，从 0 起）；尚未纳入已签名树头时为 null"})


class FirmEventPageSchema(PageSchema):
    items = page_of(FirmEventSchema)


_SIZE = validate.Range(min=1, max=INT64_MAX, error="应为正整数。")


def _hex(description: str) -> fields.String:
    return fields.String(metadata={"description": description})


class TreeHeadSchema(StrictSchema):
    tree_size = fields.Integer(metadata={"description": "树中的事件数（按 id 顺序的前 tree_size 条）"})
    root_hash = _hex("默克尔树根哈希（RFC 9162 §2.1.1，SHA-256，十六进制）")
    timestamp = fields.Integer(metadata={"description": "签名时间，自 1970-01-01T00:00:00Z 起的毫秒数"})
    kid = fields.String(metadata={"description": "签名密钥（见 /.well-known/jwks.json）"})
    signature = fields.String(metadata={
        "description": "紧凑 JWS（alg Ed25519，typ pc-audit-sth+jws），载荷为 {kid, root_hash, timestamp, tree_size}"})
    signed_at = fields.DateTime(metadata={"description": "签名时间（timestamp 的 ISO 8601 写法，UTC）"})


class TreeHeadPageSchema(PageSchema):
    items = page_of(TreeHeadSchema)


class InclusionArgs(StrictSchema):
    event = Int(required=True, validate=_SIZE, metadata={"description": "审计事件编号"})
    tree_size = Int(load_default=None, validate=_SIZE, metadata={"description": "树的大小（默认：最新签名树头的大小）"})


class InclusionProofSchema(StrictSchema):
    event_id = fields.Integer()
    leaf_index = fields.Integer(metadata={"description": "该事件是第几片叶子（从 0 起）"})
    tree_size = fields.Integer()
    leaf_data = fields.String(metadata={
        "description": "该事件在树中的字节（UTF-8）：规范 JSON（键排序、无空格），含 id 与事件内容"})
    leaf_hash = _hex("SHA-256(0x00 || leaf_data)，入树时的值")
    audit_path = fields.List(fields.String(), metadata={"description": "审计路径（RFC 9162 §2.1.3），由叶子向上"})
    root_hash = _hex("大小为 tree_size 的树的根哈希")
    tree_head = fields.Nested(TreeHeadSchema, allow_none=True, metadata={"description": "该大小的签名树头（如有）"})


class ConsistencyArgs(StrictSchema):
    first = Int(required=True, validate=_SIZE, metadata={"description": "较早的树的大小"})
    second = Int(load_default=None, validate=_SIZE, metadata={"description": "较晚的树的大小（默认：最新签名树头的大小）"})


class ConsistencyProofSchema(StrictSchema):
    first = fields.Integer()
    second = fields.Integer()
    first_root = _hex("大小为 first 的树的根哈希")
    second_root = _hex("大小为 second 的树的根哈希")
    consistency_path = fields.List(fields.String(), metadata={"description": "一致性证明（RFC 9162 §2.1.4）"})
    tree_head = fields.Nested(TreeHeadSchema, allow_none=True, metadata={"description": "大小为 second 的签名树头（如有）"})
