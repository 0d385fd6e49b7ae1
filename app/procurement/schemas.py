"""Screening request (strict, every error named by its field) and the shapes answered: the
signed file (``ScreeningFileSchema``, documenting the frozen document embedded byte for byte),
the list, and the public verification."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import Int, JsonBool, StrictSchema, one_of, text
from app.procurement.rules import BARRABLE_LISTS, MAX_PENALTY_YEARS, NR_POLICIES, Rules
from app.procurement.services import MAX_CODES
from app.scoring.scorecard import GRADES

BARRED_DEFAULT = ["black"]


class ScreeningRulesSchema(StrictSchema):
    """The tender's credit rules (every field optional; see ``app.procurement.rules``)."""

    min_grade = fields.String(load_default=None, allow_none=True, validate=one_of(GRADES),
                              metadata={"description": "最低信用等级（AAA…C）；null：不限"})
    nr_policy = fields.String(load_default=None, allow_none=True, validate=one_of(NR_POLICIES), metadata={
        "description": "不予评级（NR）的投标人：fail 不通过，pass 通过；默认设了最低等级时为 fail，否则为 pass"})
    barred_lists = fields.List(fields.String(validate=one_of(BARRABLE_LISTS)), load_default=lambda: list(BARRED_DEFAULT),
                               metadata={"description": "列入即不通过的名单：black（必含，依中电联意见）、watch"})
    max_open_dishonest = Int(load_default=None, allow_none=True,
                             validate=validate.Range(min=0, max=1000, error="应为 0–1000 的整数。"),
                             metadata={"description": "未履行的失信被执行人记录至多几条；null：不限"})
    serious_penalty_years = Int(load_default=None, allow_none=True, validate=validate.Range(
        min=1, max=MAX_PENALTY_YEARS,
        error=f"应为 1–{MAX_PENALTY_YEARS} 年（不良记录在信用档案中只保存 {MAX_PENALTY_YEARS} 年）。"),
        metadata={"description": "严重行政处罚的统计年限（与 max_serious_penalties 同时给出）"})
    max_serious_penalties = Int(load_default=None, allow_none=True,
                                validate=validate.Range(min=0, max=1000, error="应为 0–1000 的整数。"),
                                metadata={"description": "统计年限内严重行政处罚至多几次"})
    certificate_required = JsonBool(load_default=False, metadata={"description": "须持有有效的信用等级证书"})

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        """The rules taken together, also when another field is wrong (every field's errors in
        one answer).  A pair is judged on what was sent (a value refused on its own is still
        given); a field refused on its own gets no second error here."""
        if not isinstance(original, dict):
            return
        errors: dict[str, list[str]] = {}
        barred = original.get("barred_lists", BARRED_DEFAULT)
        fine = isinstance(barred, list) and all(isinstance(x, str) and x in BARRABLE_LISTS for x in barred)
        if fine and "black" not in barred:
            errors["barred_lists"] = ["须包含黑名单（取值 black）：依中电联意见，列入失信联合惩戒名单（黑名单）的企业一律不得参与投标。"]
        years, most = original.get("serious_penalty_years"), original.get("max_serious_penalties")
        if years is not None and most is None:
            errors["max_serious_penalties"] = ["给出了严重行政处罚的统计年限，须同时给出次数上限。"]
        if most is not None and years is None:
            errors["serious_penalty_years"] = ["给出了严重行政处罚的次数上限，须同时给出统计年限。"]
        if errors:
            raise ValidationError(errors)


class ScreeningRequestSchema(StrictSchema):
    tender_name = text(300, metadata={"description": "招标项目名称"})
    tender_no = text(100, required=False, load_default=None, allow_none=True, metadata={"description": "招标编号"})
    rules = fields.Nested(ScreeningRulesSchema, load_default=None, allow_none=True)
    codes = fields.List(fields.String(), required=True, validate=validate.Length(
        min=1, max=MAX_CODES, error=f"应为 1–{MAX_CODES} 个统一社会信用代码（超过请分批提交）。"), metadata={
        "description": "投标人的统一社会信用代码（按此顺序逐行给出结果；代码无效、查无此企业、重复的逐行说明，不影响其余各行）"})

    @post_load
    def _rules(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        loaded = data.get("rules") or ScreeningRulesSchema().load({})
        return {**data, "rules": Rules.of(loaded)}


# --- answers ----------------------------------------------------------------------------------

def _dates() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                       metadata={"description": "相关日期（YYYY-MM-DD），如 decided_on、publish_until、published_on"})


class ScreeningFactSchema(StrictSchema):
    kind = fields.String(metadata={"description": "penalty 行政处罚 / judicial 失信被执行人 / safety 生产安全事故"})
    label = fields.String()
    reference = fields.String(allow_none=True, metadata={"description": "决定书文号或案号"})
    authority = fields.String(allow_none=True, metadata={"description": "处罚机关或法院"})
    dates = _dates()


class ScreeningBasisSchema(StrictSchema):
    criterion = fields.String()
    label = fields.String()
    records = fields.List(fields.Nested(ScreeningFactSchema))


class ScreeningListEntrySchema(StrictSchema):
    entry_id = fields.Integer()
    list = fields.String(metadata={"description": "red / black / watch"})
    label = fields.String()
    entered_on = fields.String()
    published_on = fields.String(allow_none=True)
    ends_on = fields.String(allow_none=True)
    basis = fields.List(fields.Nested(ScreeningBasisSchema))


class ScreeningRestrictionSchema(StrictSchema):
    rule = fields.String(metadata={"description": "min_grade / barred_list / watch_list / open_dishonest / "
                                                  "serious_penalty / certificate"})
    label = fields.String()
    source = fields.String(metadata={"description": "public 公开信息 / consent 经投标人授权"})
    reference = fields.String(allow_none=True)
    authority = fields.String(allow_none=True)
    dates = _dates()
    basis = fields.List(fields.Nested(ScreeningBasisSchema))


class ScreeningCertificateSchema(StrictSchema):
    certificate_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    grade = fields.String(allow_none=True)
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True)
    valid = fields.Boolean()


class ScreeningConsentUseSchema(StrictSchema):
    consent_id = fields.String()
    used = fields.Boolean()
    sections = fields.List(fields.String())
    added = fields.List(fields.String(), metadata={"description": "授权在公开信息之外增加的内容"})
    refused = fields.String(allow_none=True, metadata={"description": "授权未能使用时闸门的拒绝代码"})
    note = fields.String()


class ScreeningBidderSchema(StrictSchema):
    row = fields.Integer()
    uscc = fields.String()
    status = fields.String(metadata={"description": "found / NR / unknown / invalid / duplicate"})
    status_label = fields.String()
    duplicate_of = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    grade_as_of = fields.String(allow_none=True)
    lists = fields.List(fields.Nested(ScreeningListEntrySchema))
    certificate = fields.Nested(ScreeningCertificateSchema, allow_none=True)
    restrictions = fields.List(fields.Nested(ScreeningRestrictionSchema))
    outcome = fields.String(allow_none=True, metadata={"description": "pass / fail；未查到、代码无效、重复的行为 null"})
    outcome_label = fields.String()
    reasons = fields.List(fields.String())
    warnings = fields.List(fields.String())
    consent = fields.Nested(ScreeningConsentUseSchema, allow_none=True)


class ScreeningRulesDocSchema(StrictSchema):
    min_grade = fields.String(allow_none=True)
    nr_policy = fields.String()
    barred_lists = fields.List(fields.String())
    max_open_dishonest = fields.Integer(allow_none=True)
    serious_penalty_years = fields.Integer(allow_none=True)
    max_serious_penalties = fields.Integer(allow_none=True)
    certificate_required = fields.Boolean()


class ScreeningCountsSchema(StrictSchema):
    rows = fields.Integer()
    bidders = fields.Integer()
    passed = fields.Integer()
    failed = fields.Integer()
    not_found = fields.Integer()
    duplicates = fields.Integer()
    consents_used = fields.Integer()


class ScreeningTendererSchema(StrictSchema):
    name = fields.String()
    licence_no = fields.String()


class ScreeningTenderSchema(StrictSchema):
    no = fields.String(allow_none=True)
    name = fields.String()


class ScreeningStatementSchema(StrictSchema):
    sources = fields.String()
    notice = fields.String()
    serious_penalty = fields.String()


class ScreeningDocumentSchema(StrictSchema):
    schema_version = fields.String()
    screening_no = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    issued_at = fields.String()
    as_of = fields.String()
    tenderer = fields.Nested(ScreeningTendererSchema)
    tender = fields.Nested(ScreeningTenderSchema)
    rules = fields.Nested(ScreeningRulesDocSchema)
    rules_text = fields.List(fields.String())
    summary = fields.Nested(ScreeningCountsSchema)
    bidders = fields.List(fields.Nested(ScreeningBidderSchema))
    statement = fields.Nested(ScreeningStatementSchema)


class ScreeningFileSchema(StrictSchema):
    """The signed file: the document as issued, its digest and the platform's signature."""

    screening = fields.Nested(ScreeningDocumentSchema)
    digest = fields.String(metadata={"description": "screening 规范化 JSON 的 SHA-256（十六进制）"})
    digest_alg = fields.String()
    signature = fields.String(metadata={"description": "紧凑 JWS（Ed25519，typ pc-screening+jws），公钥见 /.well-known/jwks.json"})
    kid = fields.String()
    verify_url = fields.String()


class ScreeningSummarySchema(StrictSchema):
    screening_no = fields.String()
    tender_no = fields.String(allow_none=True)
    tender_name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    total = fields.Integer()
    passed = fields.Integer()
    failed = fields.Integer()
    not_found = fields.Integer()
    digest = fields.String()


class ScreeningPageSchema(PageSchema):
    items = page_of(ScreeningSummarySchema)


class ScreeningVerificationSchema(StrictSchema):
    screening_no = fields.String()
    issued = fields.Boolean()
    issued_at = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    tenderer = fields.String()
    bidders = fields.Integer(metadata={"description": "筛查的投标人数（重复提交的代码只计一家；即签名声明中的 bidders）"})
    rows = fields.Integer(metadata={"description": "提交的行数（含重复与无效的行）"})
    duplicates = fields.Integer(metadata={"description": "其中重复提交的行数"})
    digest = fields.String()
    digest_checked = fields.Boolean()
    digest_matches = fields.Boolean(allow_none=True)
    signature_valid = fields.Boolean()
    kid = fields.String()
