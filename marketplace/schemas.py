"""Marketplace request and response schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.categories import UsccField
from app.archive.models import Segment
from app.archive.regions import PROVINCES
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import (
    Amount,
    Day,
    Int,
    JsonBool,
    KeyedDict,
    Moment,
    PageArgs,
    StrictSchema,
    StrList,
    one_of,
    text,
)
from app.scoring.scorecard import GRADES
from marketplace.models import (
    APPLICATION_STATUS_LABELS,
    COLLATERAL_LABELS,
    OFFER_STATUS_LABELS,
    PRODUCT_STATUS_LABELS,
    PRODUCT_TYPE_LABELS,
    REPAYMENT_LABELS,
    ApplicationStatus,
    Collateral,
    OfferStatus,
    ProductStatus,
    ProductType,
    Repayment,
)
from marketplace.rules import TAX_GRADE_ORDER

MAX_AMOUNT = Decimal("100000000000")
RANGES = (("amount_min", "amount_max", "金额"), ("rate_min", "rate_max", "利率"), ("term_min", "term_max", "期限"))


def range_errors(values: dict[str, Any], given: dict[str, Any]) -> dict[str, list[str]]:
    """Each range's lower bound must not exceed its upper one (checked on ``values``; the
    error is put on the bound the caller gave in ``given``, the lower one by preference)."""
    errors: dict[str, list[str]] = {}
    for low, high, label in RANGES:
        if low in values and high in values and values[low] > values[high]:
            errors.setdefault(low if low in given or high not in given else high, []).append(
                f"{label}下限不能高于上限。")
    return errors  # ¥1,000亿: anything above is a typo
Rate = fields.Decimal(places=3, as_string=True)


class RequirementsSchema(StrictSchema):
    min_tax_grade = fields.String(validate=one_of(TAX_GRADE_ORDER), metadata={"description": "纳税信用最低等级"})
    no_dishonest = JsonBool(metadata={"description": "要求无失信被执行人记录"})
    max_queries_3m = Int(validate=validate.Range(min=0, max=100, error="应为 0–100。"),
                         metadata={"description": "近 3 个月被机构查询次数上限"})


class GradeTermSchema(StrictSchema):
    rate_discount = fields.Decimal(places=3, as_string=True, validate=validate.Range(
        min=0, max=5, error="利率优惠应为 0–5 个百分点。"), metadata={"description": "年利率优惠（百分点）"})
    deposit_ratio = fields.Decimal(places=3, as_string=True, validate=validate.Range(
        min=0, max=1, error="保证金比例应为 0–1。"), metadata={"description": "保证金比例（0–1）"})


def _rate(**kw: Any) -> fields.Decimal:
    return fields.Decimal(places=3, as_string=True, validate=validate.Range(
        min=Decimal("0.001"), max=Decimal("100"), error="年利率应在 0–100% 之间。"), **kw)


class ProductInSchema(StrictSchema):
    """A product as a bank officer creates it (every field) or edits it (``partial``)."""

    name = text(100)
    type = fields.String(required=True, validate=one_of(list(ProductType)))
    description = text(2000, required=False)
    min_grade = fields.String(load_default="AA", validate=one_of(GRADES))
    amount_min = Amount(required=True, positive=True, fixed=True)
    amount_max = Amount(required=True, positive=True, fixed=True)
    rate_min = _rate(required=True)
    rate_max = _rate(required=True)
    term_min = Int(required=True, validate=validate.Range(min=1, max=360, error="期限应为 1–360 个月。"))
    term_max = Int(required=True, validate=validate.Range(min=1, max=360, error="期限应为 1–360 个月。"))
    repayment_methods = StrList(fields.String(validate=one_of(list(Repayment))), required=True,
                                validate=validate.Length(min=1, error="至少一种还款方式。"))
    segments = StrList(fields.String(validate=one_of(list(Segment))), load_default=list)
    provinces = StrList(fields.String(validate=one_of(sorted(PROVINCES))), load_default=list)
    min_years_in_business = Int(load_default=0, validate=validate.Range(min=0, max=50, error="应为 0–50 年。"))
    requirements = fields.Nested(RequirementsSchema, load_default=dict)
    collateral = fields.String(load_default="none", validate=one_of(list(Collateral)))
    grade_terms = KeyedDict(keys=fields.String(validate=one_of(GRADES)), values=fields.Nested(GradeTermSchema),
                              load_default=dict)
    deadline = Day(load_default=None, allow_none=True)

    # Also when other fields are wrong (each range only between bounds that loaded): every
    # mistake on the form is shown at once.
    @validates_schema(skip_on_field_errors=False)
    def _ranges(self, data: dict[str, Any], partial: Any = None, **_: Any) -> None:
        errors = range_errors(data, data)
        if data.get("amount_max") is not None and data["amount_max"] > MAX_AMOUNT:
            errors.setdefault("amount_max", []).append("金额上限不能超过 1000 亿元。")
        if errors:
            raise ValidationError(errors)


class ProductStatusSchema(StrictSchema):
    status = fields.String(required=True, validate=one_of(list(ProductStatus)))


class ProductListArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=50))
    type = fields.String(load_default=None, validate=one_of(list(ProductType)))
    grade = fields.String(load_default=None, validate=one_of(GRADES),
                          metadata={"description": "只列出该等级的企业可申请的产品"})
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))
    province = fields.String(load_default=None, validate=one_of(sorted(PROVINCES)))
    amount = Amount(load_default=None, positive=True, metadata={"description": "所需金额（元）"})
    institution = fields.String(load_default=None, validate=validate.Length(max=64),
                                metadata={"description": "金融机构的许可证号"})
    mine = fields.Boolean(load_default=False, metadata={"description": "本机构的全部产品（含草稿，银行人员）"})


class ProductOutSchema(StrictSchema):
    product_no = fields.String()
    name = fields.String()
    type = fields.String()
    type_label = fields.Function(lambda p: PRODUCT_TYPE_LABELS[p.type])
    description = fields.String(allow_none=True)
    institution = fields.Function(lambda p: {"name": p.institution.name, "licence_no": p.institution.licence_no})
    min_grade = fields.String()
    amount_min = fields.Decimal(as_string=True)
    amount_max = fields.Decimal(as_string=True)
    rate_min = fields.Decimal(as_string=True)
    rate_max = fields.Decimal(as_string=True)
    term_min = fields.Integer()
    term_max = fields.Integer()
    repayment_methods = fields.List(fields.String())
    repayment_labels = fields.Function(lambda p: [REPAYMENT_LABELS[Repayment(m)] for m in p.repayment_methods])
    segments = fields.List(fields.String())
    provinces = fields.List(fields.String())
    min_years_in_business = fields.Integer()
    requirements = fields.Dict()
    collateral = fields.String()
    collateral_label = fields.Function(lambda p: COLLATERAL_LABELS[p.collateral])
    grade_terms = fields.Dict()
    deadline = fields.Date(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda p: PRODUCT_STATUS_LABELS[p.status])
    published_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class ProductPageSchema(PageSchema):
    items = page_of(ProductOutSchema)


class OutcomeSchema(StrictSchema):
    rule = fields.String()
    label = fields.String()
    ok = fields.Boolean()
    reason = fields.String()


class MatchSchema(StrictSchema):
    product = fields.Nested(ProductOutSchema)
    outcomes = fields.List(fields.Nested(OutcomeSchema))
    failed = fields.List(fields.Nested(OutcomeSchema))
    my_terms = fields.Dict(allow_none=True, metadata={"description": "本企业等级对应的利率优惠与保证金比例"})


class MatchesSchema(StrictSchema):
    grade = fields.String(allow_none=True)
    eligible = fields.List(fields.Nested(MatchSchema))
    near_misses = fields.List(fields.Nested(MatchSchema))


class ProductPatchSchema(ProductInSchema):
    """The fields of a product to change (any subset; ranges checked with the stored values)."""


class ProfileSchema(StrictSchema):
    discoverable = JsonBool(required=True, metadata={
        "description": "允许金融机构在主动授信名单中看到本企业（默认关闭）"})


class CandidateSchema(StrictSchema):
    uscc = fields.Function(lambda c: c.facts.uscc)
    name = fields.Function(lambda c: c.facts.name)
    segment = fields.Function(lambda c: c.facts.segment)
    province_code = fields.Function(lambda c: c.facts.province_code)
    grade = fields.Function(lambda c: c.facts.grade)
    score = fields.Function(lambda c: str(c.facts.score) if c.facts.score is not None else None, allow_none=True,
                            metadata={"type": "string", "format": "decimal"})
    outcomes = fields.List(fields.Nested(OutcomeSchema))


class CandidatePageSchema(PageSchema):
    items = page_of(CandidateSchema)


class ApplicationInSchema(StrictSchema):
    product_no = text(32)
    amount = Amount(required=True, positive=True, fixed=True, metadata={"description": "申请金额（元）"})
    term_months = Int(required=True, validate=validate.Range(min=1, max=360, error="期限应为 1–360 个月。"))
    purpose = text(500, metadata={"description": "借款用途"})


class StepSchema(StrictSchema):
    offered_amount = Amount(positive=True, fixed=True, metadata={"description": "approve：批准金额（元）"})
    offered_rate = _rate(metadata={"description": "approve：批准年利率（%）"})
    offered_term_months = Int(validate=validate.Range(min=1, max=360, error="期限应为 1–360 个月。"),
                              metadata={"description": "approve：批准期限（月）"})
    reason = text(500, required=False, metadata={"description": "reject（必填）、decline、withdraw：原因"})
    disbursed_amount = Amount(positive=True, fixed=True, metadata={"description": "disburse：放款金额（元）"})
    disbursed_on = Day(metadata={"description": "disburse：放款日期"})


class ApplicationListArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(ApplicationStatus)))


class ApplicationEventSchema(StrictSchema):
    at = fields.DateTime()
    actor = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    detail = fields.Dict()


class ApplicationOutSchema(StrictSchema):
    application_no = fields.String()
    product = fields.Function(lambda a: {"product_no": a.product.product_no, "name": a.product.name})
    institution = fields.Function(lambda a: {"name": a.product.institution.name,
                                             "licence_no": a.product.institution.licence_no})
    uscc = fields.Function(lambda a: a.enterprise.uscc)
    enterprise_name = fields.Function(lambda a: a.enterprise.name)
    amount = fields.Decimal(as_string=True)
    term_months = fields.Integer()
    purpose = fields.String()
    status = fields.String()
    status_label = fields.Function(lambda a: APPLICATION_STATUS_LABELS[a.status])
    grade_at_application = fields.String(allow_none=True)
    consent_id = fields.Function(lambda a: a.consent.consent_id)
    offered_amount = fields.Decimal(as_string=True, allow_none=True)
    offered_rate = fields.Decimal(as_string=True, allow_none=True)
    offered_term_months = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    disbursed_amount = fields.Decimal(as_string=True, allow_none=True)
    disbursed_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    timeline = fields.List(fields.Nested(ApplicationEventSchema))


class ApplicationSummarySchema(ApplicationOutSchema):
    class Meta:
        exclude = ("timeline",)


class ApplicationPageSchema(PageSchema):
    items = page_of(ApplicationSummarySchema)


class OfferInSchema(StrictSchema):
    product_no = text(32)
    uscc = UsccField(required=True, allow_legacy=True)
    credit_limit = Amount(required=True, positive=True, fixed=True, metadata={"description": "授信额度（元）"})
    rate = _rate(required=True, metadata={"description": "年利率（%）"})
    term_months = Int(required=True, validate=validate.Range(min=1, max=360, error="期限应为 1–360 个月。"))
    valid_until = Moment(required=True, metadata={
        "description": "邀约有效期：ISO 8601 日期时间（不带时区按北京时间），或日期（当日 23:59:59 北京时间）"})


class OfferReplySchema(StrictSchema):
    purpose = text(500, required=False, metadata={"description": "accept：借款用途"})


class OfferListArgs(PageArgs):
    status = fields.String(load_default=None, validate=one_of(list(OfferStatus)))


class OfferOutSchema(StrictSchema):
    offer_no = fields.String()
    product = fields.Function(lambda o: {"product_no": o.product.product_no, "name": o.product.name})
    institution = fields.Function(lambda o: {"name": o.product.institution.name,
                                             "licence_no": o.product.institution.licence_no})
    uscc = fields.Function(lambda o: o.enterprise.uscc)
    enterprise_name = fields.Function(lambda o: o.enterprise.name)
    credit_limit = fields.Decimal(as_string=True)
    rate = fields.Decimal(as_string=True)
    term_months = fields.Integer()
    valid_until = fields.DateTime()
    status = fields.String()
    status_label = fields.Function(lambda o: OFFER_STATUS_LABELS[o.status])
    grade_at_offer = fields.String()
    application_no = fields.Function(lambda o: o.application.application_no if o.application else None)
    created_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)


class OfferPageSchema(PageSchema):
    items = page_of(OfferOutSchema)


class StatsArgs(StrictSchema):
    by = fields.String(load_default=None, validate=one_of(("bank", "segment", "grade", "month")))
    month_from = fields.String(load_default=None, data_key="from",
                               validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="应为 YYYY-MM。"))
    month_to = fields.String(load_default=None, data_key="to",
                             validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="应为 YYYY-MM。"))

    @validates_schema(skip_on_field_errors=True)
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("month_from") and data.get("month_to") and data["month_from"] > data["month_to"]:
            raise ValidationError({"to": ["结束月份不能早于开始月份。"]})


class StatsRowSchema(StrictSchema):
    key = fields.String()
    label = fields.String()
    applications = fields.Integer()
    approvals = fields.Integer()
    approval_rate = fields.Decimal(as_string=True, allow_none=True)
    amount_granted = fields.String(metadata={"format": "decimal", "description": "放款金额合计（元）"})
    average_rate = fields.String(allow_none=True, metadata={"format": "decimal", "description": "平均年利率（%）"})


class StatsSchema(StrictSchema):
    by = fields.String(allow_none=True)
    month_from = fields.String(allow_none=True, data_key="from")
    month_to = fields.String(allow_none=True, data_key="to")
    total = fields.Nested(StatsRowSchema)
    groups = fields.List(fields.Nested(StatsRowSchema))


# --- repayments: the outcomes of disbursed loans ------------------------------------------------

class RepaymentInSchema(StrictSchema):
    due_on = Day(required=True, metadata={"description": "应还日期"})
    amount_due = Amount(required=True, positive=True, fixed=True, metadata={"description": "应还金额（元）"})
    paid_on = Day(allow_none=True, load_default=None, metadata={"description": "实还日期（尚未还款则为 null）"})
    amount_paid = Amount(allow_none=True, load_default=None, fixed=True, metadata={"description": "实还金额（元）"})
    days_past_due = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0),
                                   metadata={"description": "逾期天数（可不填：按应还日与实还日或今天计算；填写须与之相符）"})


class RepaymentOutSchema(StrictSchema):
    due_on = fields.Date()
    amount_due = fields.Decimal(as_string=True)
    paid_on = fields.Date(allow_none=True)
    amount_paid = fields.Decimal(as_string=True, allow_none=True)
    days_past_due = fields.Integer(metadata={"description": "已还清：还清之日晚于应还日的天数；尚欠（未还或部分归还）：今天晚于应还日的天数"})
    status = fields.String(metadata={"description": "paid_on_time / paid_late / partly_paid / unpaid / not_due"})
    recorded_at = fields.DateTime()
    recorded_by = fields.String()


class RepaymentListSchema(StrictSchema):
    application_no = fields.String()
    items = fields.List(fields.Nested(RepaymentOutSchema))
