"""Evaluation output schemas: what is public (grade, score, dimensions, supervision class)
and what only the firm itself and operators see (the factor-by-factor explanation)."""

from __future__ import annotations

from marshmallow import fields

from app.archive.models import Segment
from app.archive.schemas import PageMetaSchema
from app.schemas_base import PageArgs, StrictSchema, one_of
from app.scoring.scorecard import SUPERVISION_CLASSES


class DimensionsSchema(StrictSchema):
    willingness = fields.Decimal(as_string=True, metadata={"description": "守信意愿"})
    capability = fields.Decimal(as_string=True, metadata={"description": "守信能力"})
    performance = fields.Decimal(as_string=True, metadata={"description": "守信表现"})


class EvaluationSchema(StrictSchema):
    grade = fields.String(metadata={"description": "信用等级 AAA…C（已按硬性规则封顶）"})
    score = fields.Decimal(as_string=True, metadata={"description": "0–100"})
    uncapped_grade = fields.String(metadata={"description": "按分数得到的等级（封顶前）"})
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


class ClassPageSchema(StrictSchema):
    supervision_class = fields.String(validate=one_of(SUPERVISION_CLASSES))
    items = fields.List(fields.Nested(ClassMemberSchema))
    meta = fields.Nested(PageMetaSchema)
