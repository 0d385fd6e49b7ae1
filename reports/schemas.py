"""Request and response schemas of the report API."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from marshmallow import fields, validate

from app.archive.categories import UsccField
from app.core.pagination import PageSchema, page_of
from app.core.schemas_base import PageArgs, StrictSchema, one_of
from app.oauth.scopes import REPORT_SECTIONS
from consent.models import Purpose
from reports.models import KIND_LABELS, SELF_ISSUED_KINDS


@cache
def report_json_schema(version: str = "1.0") -> dict[str, Any]:
    """The versioned JSON Schema of report documents (``reports/schemas/report-<v>.json``)."""
    text = resources.files("reports").joinpath("schemas", f"report-{version}.json").read_text("utf-8")
    return dict(json.loads(text))


SCHEMA_VERSIONS = ("1.0", "1.1", "1.2")  # every version a stored report can carry


class ReportSchemaArgs(StrictSchema):
    version = fields.String(load_default=None, validate=one_of(SCHEMA_VERSIONS),
                            metadata={"description": "报告的 schema_version；默认现行版本"})


class ReportRequestSchema(StrictSchema):
    uscc = UsccField(required=True, allow_legacy=True)
    purpose = fields.String(required=True, validate=one_of(list(Purpose)))
    sections = fields.List(fields.String(validate=one_of(list(REPORT_SECTIONS))), load_default=None,
                           validate=validate.Length(min=1, error="至少选择一个报告部分。"),
                           metadata={"description": "默认：授权（及令牌）包含的全部部分"})


class MyReportRequestSchema(StrictSchema):
    """A firm issuing a report itself: which edition (each counts against the yearly allowance)."""

    edition = fields.String(required=True, validate=one_of([str(k) for k in SELF_ISSUED_KINDS]), metadata={
        "description": "self：自主查询版（全部内容与查询记录）；bidding：招投标专用版（公开信息、信用等级及有效期、"
                       "信用等级证书、信用名单与投标限制，供投标使用）。两者均计入本年度免费次数"})


class ReportFormatArgs(StrictSchema):
    format = fields.String(load_default=None, validate=one_of(["json", "pdf"]),
                           metadata={"description": "json 或 pdf；也可用 Accept 头选择"})


class ReportListArgs(PageArgs):
    pass


class ReportSummarySchema(StrictSchema):
    report_no = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda r: KIND_LABELS[r.kind])
    issued_at = fields.DateTime()
    uscc = fields.Function(lambda r: r.enterprise.uscc)
    enterprise_name = fields.Function(lambda r: r.enterprise.name)
    recipient = fields.String(attribute="recipient_name")
    purpose = fields.String(allow_none=True)
    sections = fields.List(fields.String())
    digest = fields.String()
    available_until = fields.DateTime(allow_none=True, metadata={
        "description": "授信机构版：授权约定的数据保存期限届满时间（此后本机构不再能查看该报告）；自主查询版为空"})


class AllowanceSchema(StrictSchema):
    year = fields.Integer()
    free = fields.Integer()
    used = fields.Integer()
    remaining = fields.Integer()


class ReportPageSchema(PageSchema):
    items = page_of(ReportSummarySchema)
    allowance = fields.Nested(AllowanceSchema, allow_none=True)


class VerificationSchema(StrictSchema):
    report_no = fields.String()
    issued = fields.Boolean()
    issued_at = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    recipient = fields.String()
    digest = fields.String()
    digest_checked = fields.Boolean()
    digest_matches = fields.Boolean(allow_none=True)
    signature_valid = fields.Boolean()
    kid = fields.String()


class FetchSchema(StrictSchema):
    uscc = UsccField(required=True, allow_legacy=True)
    purpose = fields.String(required=True, validate=one_of(list(Purpose)))
    sections = fields.List(fields.String(validate=one_of(list(REPORT_SECTIONS))), load_default=None,
                           metadata={"description": "默认：授权包含的全部部分"})


class FetchResultSchema(StrictSchema):
    consent_id = fields.String()
    query_id = fields.Integer()
    fetched_at = fields.DateTime()
    data_range = fields.Dict()
    data_life = fields.Dict(metadata={"description": "机构可保存所获数据的期限"})
    sections = fields.Dict()
