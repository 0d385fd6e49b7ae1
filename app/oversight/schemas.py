"""Oversight request and response schemas (outputs whitelist their fields)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.archive.models import CATEGORY_LABELS
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import (
    Flag,
    Int,
    JsonBool,
    PageArgs,
    PastDate,
    StrictSchema,
    one_of,
    text,
)
from app.oversight.models import (
    EXIT_LABELS,
    LIST_LABELS,
    OUTCOME_LABELS,
    REPAIR_STATUS_LABELS,
    ListName,
    ObjectionOutcome,
    ObjectionStatus,
    RepairStatus,
)

# --- lists -------------------------------------------------------------------------------------


class ListArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=50), metadata={"description": "企业名称或代码"})


class PendingArgs(PageArgs):
    list = fields.String(load_default=None, validate=one_of(list(ListName)))


class BasisSchema(StrictSchema):
    criterion = fields.String()
    label = fields.String()
    records = fields.List(fields.Integer())
    evaluations = fields.List(fields.Integer())


class PublicEntrySchema(StrictSchema):
    """An entry as published: the firm, the list, when, why (criteria only) and until when."""

    uscc = fields.Function(lambda e: e.enterprise.uscc)
    name = fields.Function(lambda e: e.enterprise.name)
    list = fields.Function(lambda e: str(e.list_name))
    label = fields.Function(lambda e: LIST_LABELS[e.list_name])
    published_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    basis = fields.Function(lambda e: [b["label"] for b in e.basis])


class PublicListSchema(PageSchema):
    list = fields.String()
    label = fields.String()
    items = page_of(PublicEntrySchema)


class ListEventSchema(StrictSchema):
    at = fields.DateTime()
    kind = fields.String()
    actor = fields.String()
    detail = fields.Dict()


class EntrySchema(StrictSchema):
    """An entry in full (the firm itself and operators): basis records, status, exit."""

    id = fields.Integer()
    uscc = fields.Function(lambda e: e.enterprise.uscc)
    name = fields.Function(lambda e: e.enterprise.name)
    list = fields.Function(lambda e: str(e.list_name))
    label = fields.Function(lambda e: LIST_LABELS[e.list_name])
    status = fields.Function(lambda e: str(e.status))
    criteria_version = fields.String()
    basis = fields.List(fields.Nested(BasisSchema))
    entered_on = fields.Date()
    published_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    exited_on = fields.Date(allow_none=True)
    exit_reason = fields.Function(lambda e: str(e.exit_reason) if e.exit_reason else None)
    exit_label = fields.Function(lambda e: EXIT_LABELS[e.exit_reason] if e.exit_reason else None)
    repair_from = fields.Date(allow_none=True, metadata={"description": "最早可申请信用修复的日期"})
    events = fields.List(fields.Nested(ListEventSchema))


class EntrySummarySchema(EntrySchema):
    class Meta:
        exclude = ("events", "repair_from")


class EntryPageSchema(PageSchema):
    items = page_of(EntrySummarySchema)


class PublishSchema(StrictSchema):
    entry_ids = fields.List(Int(), load_default=None, metadata={"description": "要发布的记录；不填则发布全部待发布记录"})


class RefreshSchema(StrictSchema):
    # Not a future day: a refresh as of next year would end every entry that lasts until then.
    as_of = PastDate(load_default=None, metadata={"description": "基准日（默认今天；不能是未来日期）"})
    publish = Flag(load_default=False, metadata={"description": "同时发布新列入的记录"})


class RefreshResultSchema(StrictSchema):
    as_of = fields.Date()
    firms = fields.Integer()
    entered = fields.Dict(keys=fields.String(), values=fields.Integer())
    exited = fields.Dict(keys=fields.String(), values=fields.Integer())
    cancelled = fields.Dict(keys=fields.String(), values=fields.Integer())
    reevaluated = fields.Integer()
    published = fields.Integer()


# --- objections --------------------------------------------------------------------------------


class ObjectionInSchema(StrictSchema):
    record_id = Int(required=True, metadata={"description": "本企业档案中的记录编号"})
    reason = text(2000, metadata={"description": "异议理由"})


class ObjectionArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(ObjectionStatus)))
    overdue = Flag(load_default=False, metadata={"description": "只列出逾期未处理的"})


class FileSchema(StrictSchema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.DateTime()


class ObjectionOutSchema(StrictSchema):
    objection_no = fields.String()
    uscc = fields.Function(lambda o: o.enterprise.uscc)
    enterprise_name = fields.Function(lambda o: o.enterprise.name)
    record = fields.Function(lambda o: {"id": o.record.id, "category": str(o.record.category),
                                        "category_label": CATEGORY_LABELS[o.record.category],
                                        "provider_ref": o.record.provider_ref, "status": str(o.record.status),
                                        "occurred_on": o.record.occurred_on.isoformat()})
    reason = fields.String()
    status = fields.Function(lambda o: str(o.status))
    received_at = fields.DateTime()
    due_on = fields.Date(metadata={"description": "答复期限（收到之日起 20 日）"})
    overdue = fields.Boolean()
    outcome = fields.Function(lambda o: str(o.outcome) if o.outcome else None)
    outcome_label = fields.Function(lambda o: OUTCOME_LABELS[o.outcome] if o.outcome else None)
    explanation = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    files = fields.List(fields.Nested(FileSchema))


class ObjectionSummarySchema(ObjectionOutSchema):
    class Meta:
        exclude = ("files",)


class ObjectionPageSchema(PageSchema):
    items = page_of(ObjectionSummarySchema)


class ResolveSchema(StrictSchema):
    outcome = fields.String(required=True, validate=one_of(list(ObjectionOutcome)))
    explanation = text(2000, metadata={"description": "处理说明（告知企业）"})
    corrected_payload = fields.Dict(load_default=None, metadata={"description": "outcome=corrected 时：更正后的记录内容"})


# --- repair ------------------------------------------------------------------------------------


class RepairInSchema(StrictSchema):
    entry_id = Int(required=True, metadata={"description": "本企业在列的名单记录编号"})
    rectification = text(4000, metadata={"description": "整改情况说明"})


class RepairArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(RepairStatus)))


class RepairOutSchema(StrictSchema):
    request_no = fields.String()
    uscc = fields.Function(lambda r: r.enterprise.uscc)
    enterprise_name = fields.Function(lambda r: r.enterprise.name)
    entry = fields.Function(lambda r: {"id": r.entry.id, "list": str(r.entry.list_name),
                                       "label": LIST_LABELS[r.entry.list_name],
                                       "published_on": r.entry.published_on.isoformat() if r.entry.published_on
                                       else None, "status": str(r.entry.status)})
    rectification = fields.String()
    status = fields.Function(lambda r: str(r.status))
    status_label = fields.Function(lambda r: REPAIR_STATUS_LABELS[r.status])
    submitted_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    files = fields.List(fields.Nested(FileSchema))


class RepairSummarySchema(RepairOutSchema):
    class Meta:
        exclude = ("files",)


class RepairPageSchema(PageSchema):
    items = page_of(RepairSummarySchema)


class DecideSchema(StrictSchema):
    approve = JsonBool(required=True)
    reason = text(2000, metadata={"description": "审核意见（告知企业）"})


# --- commitments -------------------------------------------------------------------------------


class CommitmentTextSchema(StrictSchema):
    code = fields.String()
    version = fields.String()
    title = fields.String()
    body = fields.String()
    sha256 = fields.String()
    published_on = fields.Date()


class SignSchema(StrictSchema):
    signatory = text(100, metadata={"description": "签署人姓名"})
    signatory_title = text(100, metadata={"description": "签署人职务"})
    text = text(64, metadata={"description": "承诺文本编号（如 self_discipline）"})  # last: the name shadows text()


class CommitmentOutSchema(StrictSchema):
    commitment_no = fields.String()
    uscc = fields.Function(lambda c: c.enterprise.uscc)
    enterprise_name = fields.Function(lambda c: c.enterprise.name)
    text = fields.Function(lambda c: {"code": c.text.code, "version": c.text.version, "title": c.text.title,
                                      "sha256": c.text.sha256})
    signatory = fields.String()
    signatory_title = fields.String()
    signed_at = fields.DateTime()
    kid = fields.String()
    statement = fields.String(metadata={"description": "平台签名的承诺声明（紧凑 JWS，Ed25519）"})


# --- notices and the public profile ------------------------------------------------------------


class NoticeSchema(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    subject_type = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class UnreadSchema(StrictSchema):
    unread = fields.Integer()


class NoticePageSchema(PageSchema):
    unread = fields.Integer()
    items = page_of(NoticeSchema)


class PublicListMembershipSchema(StrictSchema):
    list = fields.String()
    label = fields.String()
    published_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    basis = fields.List(fields.String())


class PublicCommitmentSchema(StrictSchema):
    title = fields.String()
    version = fields.String()
    signed_at = fields.DateTime()
    commitment_no = fields.String()


class PublicProfileSchema(StrictSchema):
    uscc = fields.String()
    name = fields.String()
    segment = fields.String()
    segment_label = fields.String()
    region_code = fields.String()
    region = fields.String()
    registered_capital = fields.Decimal(as_string=True, allow_none=True)
    founded_on = fields.Date(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    grade = fields.String(allow_none=True, metadata={"description": "信用等级；NR：不予评级（信息不足）；null：尚未评价"})
    grade_label = fields.String(allow_none=True, metadata={"description": "等级的中文说明（NR 为「信息不足」）"})
    grade_as_of = fields.Date(allow_none=True)
    scorecard_version = fields.String(allow_none=True)
    lists = fields.List(fields.Nested(PublicListMembershipSchema))
    commitments = fields.List(fields.Nested(PublicCommitmentSchema))
    licences = fields.List(fields.Dict(), metadata={"description": "在有效期内的行政许可（双公示字段）"})
    penalties = fields.List(fields.Dict(), metadata={"description": "在公示期内的行政处罚（双公示字段）"})
