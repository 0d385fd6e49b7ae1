"""Evaluation output schemas: what is public (grade, score, dimensions, supervision class)
and what only the firm itself and operators see (the factor-by-factor explanation)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.models import Segment
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import Int, PageArgs, PastDate, StrictSchema, one_of
from app.scoring.scorecard import SUPERVISION_CLASSES
from app.scoring.validation import MAX_HORIZON_MONTHS


class DimensionsSchema(StrictSchema):
    willingness = fields.Decimal(as_string=True, allow_none=True, metadata={"description": "守信意愿"})
    capability = fields.Decimal(as_string=True, allow_none=True, metadata={"description": "守信能力"})
    performance = fields.Decimal(as_string=True, allow_none=True,
                                 metadata={"description": "守信表现（该维度没有可评因子时为 null）"})


class EvaluationSchema(StrictSchema):
    grade = fields.String(metadata={"description": "信用等级 AAA…C（已按硬性规则封顶）；NR：不予评级（信息不足），"
                                                   "此时 score、supervision_class 为 null，reason 说明原因"})
    score = fields.Decimal(as_string=True, allow_none=True, metadata={"description": "0–100；NR 时为 null"})
    reason = fields.String(allow_none=True, metadata={"description": "不予评级（NR）的原因；有等级时为 null"})
    coverage = fields.Decimal(as_string=True, allow_none=True,
                              metadata={"description": "数据覆盖率：有数据来源覆盖的因子在评分卡中的权重占比（0–1；"
                                                       "第 1 版评分卡为 null）"})
    supervision_class = fields.String(allow_none=True, metadata={"description": "信用分类监管类别 A–D；NR 时为 null"})
    dimensions = fields.Method("_dimensions", metadata={"description": "三维度得分"})
    scorecard_id = fields.String()
    scorecard_version = fields.String()
    as_of = fields.Date()
    evaluated_at = fields.DateTime()
    inputs_digest = fields.String()

    def _dimensions(self, ev: object) -> dict[str, str]:
        return DimensionsSchema().dump(ev)  # type: ignore[no-any-return]  # (an Evaluation or its dict)


class ExplainedEvaluationSchema(EvaluationSchema):
    uncapped_grade = fields.String(allow_none=True, metadata={
        "description": "按分数得到的等级（封顶前；仅企业本身与运营人员可见；NR 时为 null）"})
    explanation = fields.Dict(metadata={"description": "逐项因子：得分、原因、依据记录；封顶规则（仅企业本身与运营人员可见）"})


class TimelineSchema(StrictSchema):
    items = fields.List(fields.Nested(EvaluationSchema))


class DistributionArgs(StrictSchema):
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))


class DistributionSchema(StrictSchema):
    total = fields.Integer()
    grades = fields.Dict(keys=fields.String(), values=fields.Integer())
    segments = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()))


class ClassArgs(PageArgs):
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))


class ClassMemberSchema(StrictSchema):
    uscc = fields.Function(lambda ev: ev.enterprise.uscc)
    name = fields.Function(lambda ev: ev.enterprise.name)
    segment = fields.Function(lambda ev: str(ev.enterprise.segment))
    grade = fields.String()
    score = fields.Decimal(as_string=True, allow_none=True)
    supervision_class = fields.String()
    as_of = fields.Date()


class ClassPageSchema(PageSchema):
    supervision_class = fields.String(validate=one_of(SUPERVISION_CLASSES))
    items = page_of(ClassMemberSchema)


MONTH = r"\A\d{4}-(0[1-9]|1[0-2])\Z"


def _plausible_month(value: str) -> None:
    """A month the calendar can count from and to (not year 0, not the last month of 9999)."""
    if re.match(MONTH, value) and not 1949 <= int(value[:4]) <= 9000:  # (the pattern's own error otherwise)
        raise ValidationError("月份应在 1949 年至 9000 年之间。")


class IndexArgs(StrictSchema):
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))
    region = fields.String(load_default=None, validate=validate.Regexp(
        r"\A\d{2}(\d{4})?\Z", error="应为 2 位省级代码或 6 位行政区划代码。"),
        metadata={"description": "省级代码（2 位）或行政区划代码（6 位，取其省份）"})
    from_ = fields.String(data_key="from", load_default=None,
                          validate=[validate.Regexp(MONTH, error="应为 YYYY-MM 格式的月份。"), _plausible_month])
    to = fields.String(load_default=None,
                       validate=[validate.Regexp(MONTH, error="应为 YYYY-MM 格式的月份。"), _plausible_month])
    by = fields.String(load_default="all", validate=one_of(("all", "segment", "province")))
    base = fields.String(load_default=None,
                         validate=[validate.Regexp(MONTH, error="应为 YYYY-MM 格式的月份。"), _plausible_month],
                         metadata={"description": "定基指数的基期（=100）；默认为预警阈值文件所定的月份，"
                                                  "未定时为首个有评价的月份"})

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["from_"] > data["to"]:
            raise ValidationError({"to": ["结束月份不能早于起始月份。"]})


class IndexRowSchema(StrictSchema):
    month = fields.String()
    group = fields.String(metadata={"description": "all，或业态、省级代码（按 by 分组时）"})
    firms = fields.Integer()
    index = fields.Float(metadata={"description": "信用电力指数：当月各企业最新评价分数的均值（0–100）"})
    willingness = fields.Float(allow_none=True, metadata={"description": "守信意愿分指数（该维度无人可评时为 null）"})
    capability = fields.Float(allow_none=True, metadata={"description": "守信能力分指数（同上）"})
    performance = fields.Float(allow_none=True, metadata={"description": "守信表现分指数（同上）"})
    index_base100 = fields.Float(allow_none=True, metadata={
        "description": "定基指数：本月指数 ÷ 同一分组基期指数 × 100（基期该分组无评价时为 null）"})
    std = fields.Float(allow_none=True, metadata={"description": "离散度：参评企业分数的标准差（总体标准差）"})
    q1 = fields.Float(allow_none=True, metadata={"description": "分数的下四分位数（线性插值）"})
    q3 = fields.Float(allow_none=True, metadata={"description": "分数的上四分位数（线性插值）"})
    iqr = fields.Float(allow_none=True, metadata={"description": "离散度：四分位距 q3 − q1"})
    evaluated = fields.Integer(metadata={"description": "当月参评企业数（含不予评级 NR；firms 为计入均值的企业数）"})
    tail_share = fields.Float(metadata={"description": "尾部：当月参评企业中 B 级及以下（B、CCC、CC、C）的占比（0–1）"})
    nr_share = fields.Float(metadata={"description": "当月参评企业中不予评级（NR）的占比（0–1）"})


class IndexSchema(StrictSchema):
    definition = fields.String()
    base_month = fields.String(allow_none=True, metadata={"description": "定基指数的基期（YYYY-MM，= 100）"})
    items = fields.List(fields.Nested(IndexRowSchema))


class EvaluationRunSchema(StrictSchema):
    id = fields.Integer()
    mode = fields.String(metadata={"description": "all 全部、changed 记录有变化的、single 指定企业、ingestion 报送后自动"})
    scorecard_id = fields.String()
    scorecard_version = fields.String()
    as_of = fields.Date()
    firms = fields.Integer()
    evaluated = fields.Integer()
    unchanged = fields.Integer()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class EvaluationRunPageSchema(PageSchema):
    items = page_of(EvaluationRunSchema)


# --- the published scorecards -------------------------------------------------------------------

class ScorecardSummarySchema(StrictSchema):
    id = fields.String()
    version = fields.String()
    name = fields.String()
    description = fields.String()
    in_use = fields.Boolean(metadata={"description": "当前评价所用的评分卡"})
    factors = fields.Integer(metadata={"description": "因子数"})
    digest = fields.String(metadata={"description": "评分卡文件规范化 JSON 的 SHA-256（评价记录中的版本可据此核对）"})


class ScorecardListSchema(StrictSchema):
    items = fields.List(fields.Nested(ScorecardSummarySchema))


class CategoryLabelSchema(StrictSchema):
    code = fields.String()
    label = fields.String()


class PublishedBandSchema(StrictSchema):
    from_ = fields.Float(data_key="from", attribute="from")
    points = fields.Float()


class PublishedFactorSchema(StrictSchema):
    key = fields.String()
    label = fields.String()
    weight = fields.Float(metadata={"description": "在所属维度内的权重"})
    weight_in_score = fields.Float(metadata={"description": "在总分中的权重（维度权重 × 因子权重）"})
    measure = fields.String()
    measure_label = fields.String()
    categories = fields.List(fields.Nested(CategoryLabelSchema))
    bands = fields.List(fields.Nested(PublishedBandSchema), metadata={"description": "度量达到各段起点时的分值"})
    map = fields.Dict(keys=fields.String(), values=fields.Float(), metadata={"description": "取值到分值的映射"})
    missing_points = fields.Float(metadata={"description": "没有可用记录时的分值"})
    lookback_years = fields.Integer()
    half_life_years = fields.Float(allow_none=True)
    reason = fields.String()
    rules = fields.List(fields.String(), metadata={"description": "特别规则（有效期内才计、同一文本只计一次、按级别加权…）"})


class PublishedDimensionSchema(StrictSchema):
    key = fields.String()
    label = fields.String()
    weight = fields.Float()
    factors = fields.List(fields.Nested(PublishedFactorSchema))


class PublishedGradeSchema(StrictSchema):
    grade = fields.String()
    min_score = fields.Float()
    supervision_class = fields.String()


class PublishedCapSchema(StrictSchema):
    key = fields.String()
    label = fields.String()
    max_grade = fields.String()


class PublishedScorecardSchema(StrictSchema):
    id = fields.String()
    version = fields.String()
    name = fields.String()
    description = fields.String()
    in_use = fields.Boolean(metadata={"description": "当前评价所用的评分卡"})
    digest = fields.String(metadata={"description": "评分卡文件规范化 JSON 的 SHA-256"})
    lookback_years = fields.Integer(metadata={"description": "记录的回溯年限（因子可另设）"})
    dimensions = fields.List(fields.Nested(PublishedDimensionSchema))
    grades = fields.List(fields.Nested(PublishedGradeSchema))
    caps = fields.List(fields.Nested(PublishedCapSchema))
    evidence = fields.Dict(allow_none=True, metadata={
        "description": "不予评级（NR）的最低证据规则：min_known_factors、min_coverage、min_history_months 与说明；"
                       "第 1 版评分卡为 null"})
    serves = fields.List(fields.Dict(), metadata={"description": "适用的板块"})
    segments = fields.List(fields.Dict(), metadata={"description": "权重或等级线不同的板块及其权重"})
    default_definition = fields.Dict(metadata={"description": "违约定义（回测用）：days_past_due、written_off、horizon_months"})


# --- back-testing a scorecard (app.scoring.validation) ---------------------------------------------

class ValidationArgs(StrictSchema):
    as_of = PastDate(required=True, metadata={"description": "验证基准日 D（YYYY-MM-DD）：取各企业在 D 及以前的最新评价"})
    horizon_months = Int(load_default=None, validate=validate.Range(min=1, max=MAX_HORIZON_MONTHS,
                                                                    error=f"观察期应为 1–{MAX_HORIZON_MONTHS} 个月。"),
                         metadata={"description": "观察期（月），默认取评分卡违约定义的观察期"})
    compare_as_of = PastDate(load_default=None, metadata={"description": "人群稳定性（PSI）的比较基准日，默认 D 前 12 个月"})

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data["compare_as_of"] and data["compare_as_of"] >= data["as_of"]:
            raise ValidationError({"compare_as_of": ["比较基准日应早于验证基准日。"]})


class ValidationFormArgs(ValidationArgs):
    """The operator page's form: every field may be left empty (the defaults are shown)."""

    version = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    as_of = PastDate(load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data["as_of"]:
            super()._check(data)


class DefinitionSchema(StrictSchema):
    days_past_due = fields.Integer(metadata={"description": "逾期天数达到此值即为违约"})
    written_off = fields.Boolean(metadata={"description": "核销是否为违约"})
    horizon_months = fields.Integer(metadata={"description": "评分卡违约定义的观察期（月）"})
    label = fields.String()


class ValidationScorecardSchema(StrictSchema):
    id = fields.String()
    version = fields.String()
    name = fields.String()


class ValidationPopulationSchema(StrictSchema):
    evaluated = fields.Integer(metadata={"description": "D 及以前有该版本评价的企业数"})
    in_default = fields.Integer(metadata={"description": "D 当日或之前已违约而不纳入样本的企业数"})
    observed = fields.Integer(metadata={"description": "样本企业数（含 NR）"})
    rated = fields.Integer()
    not_rated = fields.Integer()
    defaults = fields.Integer(metadata={"description": "观察期内违约的样本企业数（含 NR）"})
    default_rate = fields.Float(allow_none=True)


class GradeOutcomeSchema(StrictSchema):
    grade = fields.String()
    count = fields.Integer()
    defaults = fields.Integer()
    default_rate = fields.Float(allow_none=True)


class ViolationSchema(StrictSchema):
    better = fields.String()
    worse = fields.String()
    better_rate = fields.Float()
    worse_rate = fields.Float()


class MonotonicSchema(StrictSchema):
    holds = fields.Boolean(allow_none=True, metadata={"description": "违约率是否自最差等级至最好等级单调不升"})
    violations = fields.List(fields.Nested(ViolationSchema), metadata={"description": "较好等级违约率高于相邻较差等级之处"})
    reason = fields.String(allow_none=True)


class RocPointSchema(StrictSchema):
    fpr = fields.Float()
    tpr = fields.Float()


class DiscriminationSchema(StrictSchema):
    auc = fields.Float(allow_none=True)
    gini = fields.Float(allow_none=True, metadata={"description": "2·AUC − 1"})
    ks = fields.Float(allow_none=True, metadata={"description": "max(TPR − FPR)"})
    ks_score = fields.Float(allow_none=True, metadata={"description": "KS 取得处的分数（不高于此分数者视为预测违约）"})
    auc_grade = fields.Float(allow_none=True, metadata={
        "description": "按等级（封顶后，同级并列）计的 AUC；auc、ks 按分数（封顶前）计"})
    roc = fields.List(fields.Nested(RocPointSchema), metadata={"description": "ROC 曲线（至多 200 点）"})
    reason = fields.String(allow_none=True, metadata={"description": "无法计算时的原因"})


class CalibrationRowSchema(StrictSchema):
    grade = fields.String()
    count = fields.Integer()
    observed_rate = fields.Float(allow_none=True)
    implied_pd = fields.Float(allow_none=True, metadata={"description": "逻辑回归（违约 ~ 分数）预测违约概率在该等级内的均值"})


class CalibrationSchema(StrictSchema):
    rows = fields.List(fields.Nested(CalibrationRowSchema))
    brier = fields.Float(allow_none=True, metadata={"description": "Brier 分数：预测违约概率与结果之差的平方均值"})
    intercept = fields.Float(allow_none=True)
    slope = fields.Float(allow_none=True, metadata={"description": "分数的系数（每分）"})
    reason = fields.String(allow_none=True)


class StabilityRowSchema(StrictSchema):
    grade = fields.String()
    base_count = fields.Integer()
    base_share = fields.Float()
    current_count = fields.Integer()
    current_share = fields.Float()
    contribution = fields.Float(allow_none=True, metadata={"description": "该档对 PSI 的贡献（无法计算 PSI 时为 null）"})


class StabilitySchema(StrictSchema):
    base_as_of = fields.String(metadata={"description": "比较基准日（YYYY-MM-DD）"})
    as_of = fields.String()
    epsilon = fields.Float(metadata={"description": "空档的占比按此值计"})
    psi = fields.Float(allow_none=True)
    band = fields.String(allow_none=True, metadata={"description": "stable（< 0.1）、some_shift（0.1–0.25）、significant_shift（> 0.25）"})
    band_label = fields.String(allow_none=True)
    rows = fields.List(fields.Nested(StabilityRowSchema))
    base_firms = fields.Integer()
    current_firms = fields.Integer()
    reason = fields.String(allow_none=True)


class ValidationReportSchema(StrictSchema):
    scorecard = fields.Nested(ValidationScorecardSchema)
    definition = fields.Nested(DefinitionSchema, metadata={"description": "评分卡的违约定义"})
    as_of = fields.String(metadata={"description": "验证基准日（YYYY-MM-DD）"})
    horizon_months = fields.Integer()
    horizon_end = fields.String(metadata={"description": "观察期末（YYYY-MM-DD）"})
    horizon_complete = fields.Boolean(metadata={"description": "观察期是否已结束（期末不晚于今天）"})
    today = fields.String()
    notes = fields.List(fields.String())
    population = fields.Nested(ValidationPopulationSchema)
    grades = fields.List(fields.Nested(GradeOutcomeSchema), metadata={"description": "各等级（好者在前）"})
    not_rated = fields.Nested(GradeOutcomeSchema, metadata={"description": "不予评级（NR），不计入 AUC、KS 与校准"})
    monotonic = fields.Nested(MonotonicSchema)
    discrimination = fields.Nested(DiscriminationSchema)
    calibration = fields.Nested(CalibrationSchema)
    stability = fields.Nested(StabilitySchema)
