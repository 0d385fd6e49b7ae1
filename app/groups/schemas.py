"""Group schemas: a group's subsidiaries and its dashboard's numbers (output only)."""

from __future__ import annotations

from marshmallow import fields

from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import StrictSchema


def _dec(description: str) -> fields.Decimal:
    return fields.Decimal(as_string=True, allow_none=True, metadata={"description": description})


class SubsidiaryOutSchema(StrictSchema):
    uscc = fields.String()
    name = fields.String()
    level = fields.Integer(metadata={"description": "1 为二级公司（直接持有），2 为三级公司，依此类推"})
    parent_uscc = fields.String(metadata={"description": "直接母公司"})
    kind = fields.String(metadata={"description": "wholly_owned 全资、controlling 控股、minority 参股"})
    share = fields.Decimal(as_string=True, metadata={"description": "直接母公司的持股比例（百分数）"})
    segment = fields.String()
    province = fields.String(metadata={"description": "省份代码（2 位）"})
    grade = fields.String(allow_none=True, metadata={"description": "当前信用等级（公开信息）；NR 为信息不足"})
    as_of = fields.Date(allow_none=True, metadata={"description": "当前评价的基准日"})
    previous_grade = fields.String(allow_none=True, metadata={"description": "上一次评价的等级"})
    change = fields.Integer(allow_none=True, metadata={"description": "较上次评价上升（正）或下降（负）的级数"})
    consent_status = fields.String(metadata={
        "description": "该子公司给予本集团的「集团信用管理」授权：active、paused、revoked、expired、pending、"
                       "rejected、none（无），或本次查询被拒的原因代码（如 frequency_exceeded）"})
    disclosed = fields.Boolean(metadata={"description": "是否含公开信息以外的内容（经授权，或征信机构）"})
    score = _dec("得分 0–100（经授权）")
    willingness = _dec("守信意愿（经授权）")
    capability = _dec("守信能力（经授权）")
    performance = _dec("守信表现（经授权）")
    segment_percentile = _dec("得分在同一细分行业、同月评价企业中的百分位（0–100，经授权）")
    province_percentile = _dec("得分在同一省份、同月评价企业中的百分位（0–100，经授权）")


class SubsidiaryPageSchema(PageSchema):
    items = page_of(SubsidiaryOutSchema)


class GradeCountSchema(StrictSchema):
    grade = fields.String()
    count = fields.Integer()


class ChangeSchema(StrictSchema):
    uscc = fields.String()
    name = fields.String()
    level = fields.Integer()
    previous_grade = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    change = fields.Integer(allow_none=True)
    as_of = fields.Date(allow_none=True)


class BenchmarkSchema(StrictSchema):
    uscc = fields.Function(lambda b: b.group.uscc)
    name = fields.Function(lambda b: b.group.name)
    as_of = fields.Date()
    subsidiaries = fields.Integer(metadata={"description": "各级子公司数"})
    evaluated = fields.Integer(metadata={"description": "其中已有评价的"})
    distribution = fields.List(fields.Nested(GradeCountSchema), attribute="distribution_rows",
                               metadata={"description": "各级子公司的当前等级分布（公开信息）"})
    level1 = fields.Integer(metadata={"description": "已有评价的二级公司数"})
    level1_aaa = fields.Integer(metadata={"description": "其中 AAA 的"})
    aaa_share = _dec("二级公司中 AAA 的比例（0–1）")
    target = fields.Decimal(as_string=True, metadata={"description": "目标比例（中电联意见：一半）"})
    meets_target = fields.Boolean()
    disclosed = fields.Integer(metadata={"description": "可查看得分与对标的子公司数（经授权）"})
    dimension_means = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=True, allow_none=True),
                                  metadata={"description": "三个维度的平均分（经授权的子公司）"})
    changes = fields.List(fields.Nested(ChangeSchema), metadata={"description": "较上次评价等级有变化的子公司"})
    benchmark = fields.List(fields.Nested(SubsidiaryOutSchema), attribute="disclosed_rows",
                            metadata={"description": "横向对标：经授权的子公司的得分、三个维度与百分位"})
