"""Certificate request and response schemas (outputs whitelist their fields)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from app.certificates.models import (
    CERTIFICATE_STATUS_LABELS,
    CertificateObjectionStatus,
    CertificateStatus,
)
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import JsonBool, PageArgs, StrictSchema, one_of, text

OBJECTION_STATUS_LABELS = {"open": "待处理", "upheld": "异议成立", "dismissed": "异议不成立",
                           "closed": "已终结（企业撤回申报）"}


class CertificateApplySchema(StrictSchema):
    declaration = JsonBool(required=True, metadata={
        "description": "申报承诺：本企业承诺所提交及平台所存信用信息真实、完整，同意评价结果公示（须为 true）"})

    @validates("declaration")
    def _accepted(self, value: bool, **_: object) -> None:
        if value is not True:
            raise ValidationError("申报须作出承诺：承诺平台所存及本企业报送的信用信息真实、完整，同意评价结果公示。")


class CertificateWithdrawSchema(StrictSchema):
    reason = text(500, required=False, load_default=None, metadata={"description": "撤回原因（可选）"})


class CertificateReasonSchema(StrictSchema):
    reason = text(500, metadata={"description": "原因（记入证书状态历史，并在公开核验中显示）"})


class CertificateNoteSchema(StrictSchema):
    """An operator's evaluation or issue: an optional note for the history."""

    note = text(500, required=False, load_default=None, metadata={
        "description": "说明（可选）：记入证书状态历史（该次评价或发证的事件 `note`），在状态历史中显示"})


class CertificateObjectionInSchema(StrictSchema):
    text = text(2000, metadata={"description": "异议内容：对该评价结果有异议的事实与理由"})


class CertificateResolveSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"],
                                                                   error="处理结果只能是异议成立或异议不成立。"),
                            metadata={"description": "upheld：异议成立（评价结果不予发证）；dismissed：异议不成立"})
    resolution = text(2000, metadata={"description": "处理说明（告知企业与异议人）"})


class CertificateListArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(CertificateStatus)))
    q = fields.String(load_default=None, validate=validate.Length(max=50),
                      metadata={"description": "企业名称、统一社会信用代码或证书编号"})


class CertificateObjectionArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(CertificateObjectionStatus)))


class CertificateNoticeArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=50), metadata={"description": "企业名称或代码"})


class CertificateVerifyArgs(StrictSchema):
    digest = fields.String(load_default=None, validate=validate.Length(max=80),
                           metadata={"description": "证书摘要（64 位十六进制 SHA-256，可带 sha256: 前缀）：给出时核对是否一致"})


class CertificateEventSchema(StrictSchema):
    at = fields.DateTime()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    to_label = fields.Function(lambda e: CERTIFICATE_STATUS_LABELS.get(e.to_status, e.to_status))
    actor = fields.String(metadata={"description": "操作人代码：user:用户名、job:任务名、system:…、cli"})
    actor_label = fields.String(metadata={
        "description": "操作人（中文）：用户的显示名与角色，如「王敏（征信机构）」；每日任务为「系统（每日任务）」等"})
    reason = fields.String(allow_none=True)
    note = fields.Function(lambda e: (e.detail or {}).get("note"), metadata={
        "description": "征信机构评价或发证时填写的说明（未填写为 null）"})
    detail = fields.Dict()


class CertificateObjectionSchema(StrictSchema):
    """An objection as its firm and operators see it (the objector is not named to the firm)."""

    objection_no = fields.String()
    certificate_no = fields.String()
    text = fields.String()
    status = fields.Function(lambda o: str(o.status), metadata={
        "description": "open 待处理；upheld 异议成立；dismissed 异议不成立；closed 已终结（企业撤回申报，未作核查结论）"})
    status_label = fields.Function(lambda o: OBJECTION_STATUS_LABELS[str(o.status)])
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)


class CertificateObjectionFullSchema(CertificateObjectionSchema):
    """For operators and the objector: who raised it."""

    objector = fields.Function(lambda o: o.user.display_name)
    objector_role = fields.Function(lambda o: str(o.user.role))
    certificate_status = fields.Function(lambda o: str(o.certificate_status), metadata={
        "description": "所异议的评价结果现在的状态：publicized 公示中、issued 已发证、rejected 未通过（不予发证）、withdrawn 企业已撤回等"})
    certificate_status_label = fields.String()


class CertificateObjectionPageSchema(PageSchema):
    items = page_of(CertificateObjectionFullSchema)


class CertificateSchema(StrictSchema):
    """A certificate or application in full, for its firm and operators."""

    certificate_no = fields.String()
    uscc = fields.Function(lambda c: c.enterprise.uscc)
    enterprise_name = fields.Function(lambda c: c.enterprise.name)
    status = fields.Function(lambda c: str(c.status))
    status_label = fields.Function(lambda c: CERTIFICATE_STATUS_LABELS[c.status])
    status_reason = fields.String(allow_none=True)
    status_changed_at = fields.DateTime()
    applied_at = fields.DateTime()
    evaluated_at = fields.DateTime(allow_none=True)
    grade = fields.String(allow_none=True)
    score = fields.String(allow_none=True)
    scorecard_version = fields.String(allow_none=True)
    grade_as_of = fields.Date(allow_none=True)
    notice_from = fields.DateTime(allow_none=True)
    notice_until = fields.DateTime(allow_none=True, metadata={"description": "公示期最后一日的 23:59:59（北京时间）"})
    issued_at = fields.DateTime(allow_none=True)
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    next_review_on = fields.Date(allow_none=True, metadata={
        "description": "下次年度复核日：仅在证书有效或暂停时给出；已撤销、已过期（含有效期已过而每日任务尚未标记的）、"
                       "未通过、已撤回的为 null"})
    digest = fields.String(allow_none=True)
    kid = fields.String(allow_none=True)
    open_objections = fields.Integer(metadata={"description": "待处理的异议数"})
    verify_url = fields.String(allow_none=True, metadata={"description": "公开核验地址（已发证时）"})


class CertificateDetailSchema(CertificateSchema):
    events = fields.List(fields.Nested(CertificateEventSchema))
    objections = fields.List(fields.Nested(CertificateObjectionSchema))


class CertificatePageSchema(PageSchema):
    items = page_of(CertificateSchema)


class PublicCertificateSchema(StrictSchema):
    """The public facts of a certificate number (as ``/verify/{no}`` answers them)."""

    certificate_no = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    issued = fields.Boolean(metadata={"description": "是否已发证（公示中的评价结果为 false）"})
    status = fields.String()
    status_label = fields.String()
    in_force = fields.Boolean(metadata={"description": "现在是否有效：已发证、未暂停或撤销、在有效期内、签名有效"})
    valid = fields.Boolean(metadata={"description": "核验结论：有效，且给出摘要时摘要一致"})
    verdict = fields.String(metadata={"description": "核验结论（中文）"})
    enterprise_name = fields.String()
    uscc = fields.String()
    grade = fields.String(allow_none=True)
    grade_label = fields.String(allow_none=True)
    grade_as_of = fields.String(allow_none=True)
    notice_from = fields.String(allow_none=True)
    notice_until = fields.String(allow_none=True)
    issued_at = fields.String(allow_none=True)
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True)
    next_review_on = fields.String(allow_none=True)
    status_reason = fields.String(allow_none=True)
    status_changed_at = fields.String()
    digest = fields.String(allow_none=True)
    digest_checked = fields.Boolean()
    digest_matches = fields.Boolean(allow_none=True)
    signature_valid = fields.Boolean(allow_none=True)
    kid = fields.String(allow_none=True)


class CertificateNoticeItemSchema(StrictSchema):
    """A result in its notice period, as published."""

    certificate_no = fields.String()
    uscc = fields.Function(lambda c: c.enterprise.uscc)
    enterprise_name = fields.Function(lambda c: c.enterprise.name)
    grade = fields.String()
    grade_as_of = fields.Date(allow_none=True)
    notice_from = fields.DateTime()
    notice_until = fields.DateTime()


class CertificateNoticePageSchema(PageSchema):
    rules = fields.List(fields.String(), metadata={"description": "现行证书规则（中文）"})
    items = page_of(CertificateNoticeItemSchema)


class ProfileCertificateSchema(StrictSchema):
    """A firm's certificate on its public profile."""

    certificate_no = fields.String()
    status = fields.Function(lambda c: str(c.status))
    status_label = fields.Function(lambda c: CERTIFICATE_STATUS_LABELS[c.status])
    grade = fields.String()
    notice_from = fields.DateTime(allow_none=True)
    notice_until = fields.DateTime(allow_none=True)
    issued_at = fields.DateTime(allow_none=True)
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    status_reason = fields.String(allow_none=True)
