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
