"""Consent request bodies (the bank's, the firm's own grant) and the output shapes: a
consent, its events and the query log.  Bodies refuse unknown fields; outputs whitelist."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from app.accounts.models import INSTITUTION_KIND_LABELS, InstitutionKind
from app.archive.categories import UsccField
from app.core import clock
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import Day, Int, Moment, PageArgs, StrictSchema, no_nul, one_of, text
from app.oauth.scopes import REPORT_SECTIONS
from consent.models import (
    PURPOSE_LABELS,
    STATUS_LABELS,
    Consent,
    ConsentStatus,
    FetchType,
    PeriodUnit,
    Purpose,
    counterpart_label,
    terms_for,
)
from consent.services import Terms, terms_errors


def missing(what: str) -> dict[str, str | list[Any] | dict[Any, Any]]:
    """A required field's message naming it in words (a form shows it next to the field)."""
    return {"required": f"缺少必填字段：{what}。"}


class DataRangeSchema(StrictSchema):
    from_ = Day(required=True, data_key="from", error_messages=missing("数据范围起（授权可查询的记录从哪一天起）"),
                metadata={"description": "数据范围起（含）"})
    to = Day(required=True, error_messages=missing("数据范围止（授权可查询的记录到哪一天止）"),
             metadata={"description": "数据范围止（含）"})


class PeriodSchema(StrictSchema):
    unit = fields.String(required=True, validate=one_of(list(PeriodUnit)), error_messages=missing("周期（天、周、月或年）"))
    value = Int(required=True, validate=validate.Range(min=1, max=1000, error="应为 1–1000。"),
                error_messages=missing("次数"))


class FrequencySchema(PeriodSchema):
    value = Int(required=True, validate=validate.Range(min=1, max=1000, error="应为 1–1000。"),
                error_messages=missing("每个周期至多查询的次数"))


class DataLifeSchema(PeriodSchema):
    unit = fields.String(required=True, validate=one_of(list(PeriodUnit)), error_messages=missing("保存期限的单位"))
    value = Int(required=True, validate=validate.Range(min=1, max=1000, error="应为 1–1000。"),
                error_messages=missing("机构可保存数据的期限"))


class TermsSchema(StrictSchema):
    purpose = fields.String(required=True, validate=one_of(list(Purpose)), error_messages=missing("用途"),
                            metadata={"description": "用途：" + "、".join(f"{k}={v}" for k, v in PURPOSE_LABELS.items())})
    scopes = fields.List(fields.String(validate=one_of(list(REPORT_SECTIONS))), required=True,
                         error_messages=missing("查询内容（至少一个报告部分）"),
                         validate=validate.Length(min=1, error="至少选择一个报告部分。"),
                         metadata={"description": "报告部分（每个部分即 OAuth 范围 report:<部分>）；" + "；".join(
                             f"{PURPOSE_LABELS[p]}只能包含 {'、'.join(terms_for(p).offered)}" for p in Purpose
                             if terms_for(p).only is not None) + "，否则 422 scope_not_permitted 指明 scopes"})
    data_range = fields.Nested(DataRangeSchema, required=True, error_messages=missing("数据范围（起止日期）"))
    valid_until = Moment(required=True, error_messages=missing("授权截止日期"),
                         metadata={"description": "授权截止时间，最长 12 个月"})
    fetch_type = fields.String(required=True, validate=one_of(list(FetchType)),
                               error_messages=missing("查询方式（一次性或定期）"))
    frequency = fields.Nested(FrequencySchema, load_default=None, allow_none=True,
                              metadata={"description": "定期查询的频率上限：每 unit 至多 value 次"})
    data_life = fields.Nested(DataLifeSchema, required=True, error_messages=missing("机构可保存数据的期限"),
                              metadata={"description": "机构可保存所获数据的期限"})

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _across_fields(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        rng = data.get("data_range") or {}
        raw_freq = original.get("frequency") if isinstance(original, dict) else None
        life = data.get("data_life") or {}
        errors = terms_errors(clock.now(), data_from=rng.get("from_"), data_to=rng.get("to"),
                              valid_until=data.get("valid_until"), fetch_type=data.get("fetch_type"),
                              has_frequency=raw_freq is not None,
                              data_life=(PeriodUnit(life["unit"]), life["value"]) if "unit" in life and "value" in life
                              else None)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _terms(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        freq, life = data.pop("frequency"), data.pop("data_life")
        rng = data.pop("data_range")
        terms = Terms(
            purpose=Purpose(data.pop("purpose")), scopes=sorted(set(data.pop("scopes"))),
            data_from=rng["from_"], data_to=rng["to"], valid_until=data.pop("valid_until"),
            fetch_type=FetchType(data.pop("fetch_type")),
            frequency_unit=PeriodUnit(freq["unit"]) if freq else None, frequency_value=freq["value"] if freq else None,
            data_life_unit=PeriodUnit(life["unit"]), data_life_value=life["value"],
        )
        return {**data, "terms": terms}


class ConsentRequestSchema(TermsSchema):
    """The bank's request (client-credentials token with ``consents:write``)."""

    uscc = UsccField(required=True, allow_legacy=True)


class FirmGrantSchema(TermsSchema):
    """The firm grants a consent itself, for a bank that asked offline."""

    institution = fields.String(required=True, validate=[
        validate.Length(min=1, max=64, error="请选择授权对象（机构的金融许可证号或机构编号）。"), no_nul],
        metadata={"description": "授权对象：金融机构的金融许可证号，或电力集团、招标采购单位的机构编号；"
                                 "用途须为该类机构可获得的（金融机构：贷款申请审查、授信额度审查、供应链融资审查、贷后管理；"
                                 "电力集团：集团信用管理；招标采购单位：投标资格审查），否则 422 指明 purpose"})


class ActionSchema(StrictSchema):
    reason = text(500, required=False, load_default=None)


class ConsentListArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(ConsentStatus)))


class QueryLogArgs(PageArgs):
    uscc = UsccField(load_default=None, allow_legacy=True)
    consent_id = fields.String(load_default=None, validate=[validate.Length(min=1, max=40), no_nul],
                               metadata={"description": "只列该授权下的访问（授权的使用记录）；他方的授权为 404"})


class InstitutionRefSchema(StrictSchema):
    name = fields.String()
    licence_no = fields.String()
    kind = fields.String(metadata={"description": "机构类型：" + "、".join(f"{k}={v}" for k, v in INSTITUTION_KIND_LABELS.items())})
    counterpart = fields.Function(lambda i: counterpart_label(i.kind), metadata={
        "type": "string", "description": "企业对该机构的称呼：金融机构、电力集团或招标采购单位"})


class EventSchema(StrictSchema):
    at = fields.DateTime()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor = fields.String()
    reason = fields.String(allow_none=True)


class ConsentSchema(StrictSchema):
    consent_id = fields.String()
    status = fields.String()
    status_label = fields.Function(lambda c: STATUS_LABELS[c.status])
    uscc = fields.Function(lambda c: c.enterprise.uscc)
    enterprise_name = fields.Function(lambda c: c.enterprise.name)
    institution = fields.Nested(InstitutionRefSchema)
    purpose = fields.String()
    purpose_label = fields.Function(lambda c: PURPOSE_LABELS[c.purpose])
    scopes = fields.List(fields.String())
    data_range = fields.Function(lambda c: {"from": c.data_from.isoformat(), "to": c.data_to.isoformat()})
    valid_from = fields.DateTime()
    valid_until = fields.DateTime()
    fetch_type = fields.String()
    frequency = fields.Function(
        lambda c: {"unit": str(c.frequency_unit), "value": c.frequency_value} if c.frequency_unit else None)
    data_life = fields.Function(lambda c: {"unit": str(c.data_life_unit), "value": c.data_life_value})
    created_via = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    status_changed_at = fields.DateTime()
    status_reason = fields.String(allow_none=True)
    use_count = fields.Integer(metadata={"description": "已使用次数"})
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "最近一次使用时间"})
    artefact = fields.String(allow_none=True, metadata={"description": "平台签名的授权文书（JWS，Ed25519；公钥见 /.well-known/jwks.json）"})


class ConsentDetailSchema(ConsentSchema):
    events = fields.List(fields.Nested(EventSchema))


class ConsentPageSchema(PageSchema):
    items = page_of(ConsentSchema)


class QueryLogSchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    uscc = fields.Function(lambda q: q.enterprise.uscc)
    enterprise_name = fields.Function(lambda q: q.enterprise.name)
    institution = fields.Nested(InstitutionRefSchema)
    # null: an access to public facts only, under no consent (a tenderer's screening)
    consent_id = fields.Function(lambda q: q.consent.consent_id if q.consent is not None else None,
                                 metadata={"nullable": True})
    purpose = fields.String()
    purpose_label = fields.Function(lambda q: PURPOSE_LABELS[q.purpose])
    sections = fields.List(fields.String())
    resource = fields.String(metadata={"description": "所提供的资源（原始标识），如 screening:PS…、report:PC…、alert:alt_…"})
    resource_label = fields.String(metadata={
        "description": "资源的中文说明，如「投标资格审查（筛查 PS…）」「贷款申请审查（信用报告 PC…）」「贷后管理（预警推送 alt_…）」"})
    reference = fields.String(allow_none=True, metadata={"description": "资源中的编号（筛查号、报告号、预警编号），没有则为 null"})
    access_label = fields.Function(lambda q: "公开信息筛查（无需授权）" if q.consent_pk is None else "经授权查询",
                                   metadata={"type": "string", "description": "依据：经授权查询，或公开信息筛查（无需授权）"})
    public_only = fields.Boolean(metadata={"description": "true：仅使用公开信息，未使用任何授权"})


class QueryLogPageSchema(PageSchema):
    items = page_of(QueryLogSchema)


class WithEvents:
    """A consent with its status events, for ``ConsentDetailSchema``."""

    def __init__(self, consent: Consent, events: list[Any]) -> None:
        self._consent = consent
        self.events = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consent, name)


class InstitutionInSchema(StrictSchema):
    name = text(200)
    licence_no = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9]{6,30}$", error="金融许可证号应为 6–30 位大写字母或数字。"))
    kind = fields.String(load_default="bank", validate=one_of(list(InstitutionKind)),
                         metadata={"description": "group 为电力集团（须给出母公司的 uscc）"})
    uscc = UsccField(load_default=None)


class InstitutionOutSchema(StrictSchema):
    name = fields.String()
    licence_no = fields.String()
    kind = fields.String()
    uscc = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.DateTime()


class InstitutionListSchema(StrictSchema):
    items = fields.List(fields.Nested(InstitutionOutSchema))


class ClientInSchema(StrictSchema):
    name = text(200)
    redirect_uris = fields.List(fields.String(validate=validate.Length(min=1, max=500)), required=True)
    auth_method = fields.String(load_default="client_secret_basic",
                                validate=one_of(["client_secret_basic", "private_key_jwt"]))
    jwks = fields.Dict(load_default=None, metadata={"description": "private_key_jwt：客户端公钥（JWKS）"})


class ClientOutSchema(StrictSchema):
    client_id = fields.String()
    name = fields.String()
    token_endpoint_auth_method = fields.String(metadata={"description": "RFC 7591 名称"})
    auth_method = fields.Function(lambda c: c["token_endpoint_auth_method"] if isinstance(c, dict)
                                  else c.token_endpoint_auth_method, metadata={
        "type": "string", "description": "同 token_endpoint_auth_method（与请求字段同名）"})
    redirect_uris = fields.List(fields.String())
    grant_types = fields.List(fields.String())
    scope = fields.String()
    created_at = fields.DateTime()
    client_secret = fields.String(metadata={"description": "只在登记时返回一次（private_key_jwt 客户端没有）"})


class ClientListSchema(StrictSchema):
    items = fields.List(fields.Nested(ClientOutSchema))
