"""Evaluation output schemas: what is public (grade, score, dimensions, supervision class)
and what only the firm itself and operators see (the factor-by-factor explanation)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.models import Segment
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import PageArgs, StrictSchema, one_of
from app.scoring.scorecard import SUPERVISION_CLASSES


class DimensionsSchema(StrictSchema):
    willingness = fields.Decimal(as_string=True, metadata={"description": "守信意愿"})
    capability = fields.Decimal(as_string=True, metadata={"description": "守信能力"})
    performance = fields.Decimal(as_string=True, metadata={"description": "守信表现"})


class EvaluationSchema(StrictSchema):
    grade = fields.String(metadata={"description": "信用等级 AAA…C（已按硬性规则封顶）"})
    score = fields.Decimal(as_string=True, metadata={"description": "0–100"})
    supervision_class = fields.String(metadata={"description": "信用分类监管类别 A–D"})
    dimensions = fields.Method("_dimensions", metadata={"description": "三维度得分"})
    scorecard_id = fields.String()
    scorecard_version = fields.String()
    as_of = fields.Date()
    evaluated_at = fields.DateTime()
    inputs_digest = fields.String()

    def _dimensions(self, ev: object) -> dict[str, str]:
        return DimensionsSchema().dump(ev)  # type: ignore[no-any-return]  # (an Evaluation or its dict)


class ExplainedEvaluationSchema(EvaluationSchema):
    uncapped_grade = fields.String(metadata={"description": "按分数得到的等级（封顶前；仅企业本身与运营人员可见）"})
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
    score = fields.Decimal(as_string=True)
    supervision_class = fields.String()
    as_of = fields.Date()


class ClassPageSchema(PageSchema):
    supervision_class = fields.String(validate=one_of(SUPERVISION_CLASSES))
    items = page_of(ClassMemberSchema)


MONTH = r"\A\d{4}-(0[1-9]|1[0-2])\Z"


class IndexArgs(StrictSchema):
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))
    region = fields.String(load_default=None, validate=validate.Regexp(
        r"\A\d{2}(\d{4})?\Z", error="应为 2 位省级代码或 6 位行政区划代码。"),
        metadata={"description": "省级代码（2 位）或行政区划代码（6 位，取其省份）"})
    from_ = fields.String(data_key="from", load_default=None,
                          validate=validate.Regexp(MONTH, error="应为 YYYY-MM 格式的月份。"))
    to = fields.String(load_default=None, validate=validate.Regexp(MONTH, error="应为 YYYY-MM 格式的月份。"))
    by = fields.String(load_default="all", validate=one_of(("all", "segment", "province")))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["from_"] > data["to"]:
            raise ValidationError({"to": ["结束月份不能早于起始月份。"]})


class IndexRowSchema(StrictSchema):
    month = fields.String()
    group = fields.String(metadata={"description": "all，或业态、省级代码（按 by 分组时）"})
    firms = fields.Integer()
    index = fields.Float(metadata={"description": "信用电力指数：当月各企业最新评价分数的均值（0–100）"})
    willingness = fields.Float()
    capability = fields.Float()
    performance = fields.Float()


class IndexSchema(StrictSchema):
    definition = fields.String()
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
