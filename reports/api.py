"""The report API: the schema; banks pull reports through the consent gate and fetch the
ones they pulled (JSON, PDF); firms issue and download their own reports (自主查询版,
招投标专用版); anyone verifies a report number at ``/verify/{report_no}`` (in ``reports.web``)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint

from app.accounts.auth import refuse_cross_site, require_csrf_header, require_firm, require_user
from app.accounts.models import Role
from app.core.auth import refuse_anonymous
from app.core.errors import Forbidden, InvalidInput
from app.core.extensions import csrf, db_session, limiter, settings, signing_keys, writes
from app.oauth.bearer import bank_limit, bank_token, bearer_first, client_rate_key
from consent.gate import Caller, authorize_access
from reports import schemas, services
from reports.models import Report, ReportKind
from reports.responses import JSON, PDF, json_response, pdf_response, report_doc
from reports.sections import build_sections

blp = ApiBlueprint("reports", __name__, url_prefix="/api/v1", description="信用报告：出具、下载与核验")

BANK_SECURITY: list[dict[str, list[str]]] = [{"oauth2": []}]


def wants_pdf() -> bool:
    fmt = request.args.get("format")
    if fmt is not None and fmt not in ("json", "pdf"):
        raise InvalidInput("format 参数有误", errors={"format": ["应为 json 或 pdf"]})
    if fmt:
        return fmt == "pdf"
    best = request.accept_mimetypes.best_match([JSON, PDF], default=JSON)
    return best == PDF and request.accept_mimetypes[PDF] > request.accept_mimetypes[JSON]


def reader_institution() -> services.Reader:
    """Who reads pulled reports: a bank system (Bearer token) or a signed-in bank officer.
    A token bound to a consent reads only the reports pulled under that consent, and only
    while the consent is in force (as introspection reports it active); the bank's own
    system token (``consents:write``, bound to no consent) and its officers read every
    report the bank holds."""
    if "Authorization" in request.headers:
        tok = bank_token()
        client = tok.client
        assert client.institution_id is not None  # bank_token refuses clients without one
        if tok.consent_pk is None and "consents:write" not in tok.scope.split():
            raise Forbidden("该令牌无权读取报告", code="insufficient_scope")
        if tok.consent is not None:
            services.require_in_force(tok.consent)
        return services.Reader(client.institution_id, f"client:{client.client_id}", tok.consent_pk)
    refuse_anonymous(bearer=True, hint="请先登录（金融机构人员），或以 Authorization: Bearer 访问令牌调用（金融机构系统）")
    user = require_user(Role.bank)
    if user.institution_id is None:
        raise Forbidden("该账号未关联金融机构", code="not_an_institution")
    return services.Reader(user.institution_id, f"user:{user.username}")


def read_pulled(report_no: str, fmt: str) -> Report:
    """A pulled report read again by its bank: allowed only to that bank, and audited."""
    return services.read_pulled(db_session(), report_no, reader_institution(), fmt, g.get("request_id"))


@blp.route("/reports/schema")
class ReportSchemaView(MethodView):
    @blp.arguments(schemas.ReportSchemaArgs, location="query")
    @blp.response(200, {"type": "object"}, content_type="application/schema+json",
                  description="报告的 JSON Schema（draft 2020-12）")
    def get(self, args: dict[str, Any]) -> Response:
        """报告 JSON 结构（JSON Schema）：默认为现行版本；version 取报告的 schema_version（如 1.0）可得旧版"""
        return Response(json.dumps(schemas.report_json_schema(args["version"] or services.SCHEMA_VERSION),
                                   ensure_ascii=False), mimetype="application/schema+json")


@blp.route("/reports")
class Reports(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.ReportListArgs, location="query")
    @blp.response(200, schemas.ReportPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本机构已获取的报告（金融机构）"""
        reader = reader_institution()
        page = services.list_reports(db_session(), page=args["page"], per_page=args["per_page"],
                                     institution_id=reader.institution_id, consent_pk=reader.consent_pk)
        return page.body(allowance=None)

    @bearer_first  # a caller without a valid token is told so (401), not the body's schema
    @blp.arguments(schemas.ReportRequestSchema())  # an instance: parsed by the same one every pull
    @blp.doc(security=BANK_SECURITY, **report_doc(201, "已出具的报告文件", pdf=False, location=True,
                                                  refusals=(401, 403, 404, 429)))
    def post(self, data: dict[str, Any]) -> Response:
        """获取企业信用报告（金融机构，绑定授权的令牌）：经授权闸门检查、计次、写入查询记录，出具并签名（授信机构版）"""
        session = db_session()
        report = services.pull_report(session, signing_keys(), Caller.of_token(bank_token()), data["uscc"], data["purpose"],
                                      set(data["sections"]) if data["sections"] else None,
                                      request_id=g.get("request_id"))
        resp = json_response(report, 201)
        resp.headers["Location"] = url_for("reports.InstitutionReport", report_no=report.report_no)
        return resp


@blp.route("/reports/<string:report_no>")
class InstitutionReport(MethodView):
    decorators = [limiter.limit(bank_limit, key_func=client_rate_key)]

    @writes
    @blp.doc(security=BANK_SECURITY, **report_doc(200, "报告文件（JSON 或 PDF）", refusals=(401, 403, 404, 410)))
    def get(self, report_no: str) -> Response:
        """本机构获取的一份报告（JSON；Accept: application/pdf 或 ?format=pdf 得 PDF）"""
        as_pdf = wants_pdf()
        report = read_pulled(report_no, "pdf" if as_pdf else "json")
        return pdf_response(report) if as_pdf else json_response(report)


@blp.route("/reports/<string:report_no>.pdf")
class InstitutionReportPdf(MethodView):
    decorators = [limiter.limit(bank_limit, key_func=client_rate_key)]

    @writes
    @blp.doc(security=BANK_SECURITY, **report_doc(200, "报告 PDF", json_too=False, refusals=(401, 403, 404, 410)))
    def get(self, report_no: str) -> Response:
        """本机构获取的一份报告（PDF）"""
        return pdf_response(read_pulled(report_no, "pdf"))


@blp.route("/me/report")
class MyNewReport(MethodView):
    @writes
    @blp.doc(**report_doc(201, "新出具的自主查询报告（JSON 或 PDF）；头 X-Free-Reports-Remaining 为本年度剩余免费次数",
                          refusals=(401, 403)))
    def get(self) -> Response:
        """出具本企业的自主查询报告（企业；计入每年免费次数）：JSON，或按 Accept / ?format=pdf 返回 PDF"""
        require_firm()
        refuse_cross_site("出具自主查询报告（计入每年免费次数）")
        require_csrf_header("出具自主查询报告（计入每年免费次数）")
        return issued_by_firm(ReportKind.self_report, location=False)


def issued_by_firm(kind: ReportKind, *, location: bool = True) -> Response:
    """A report the signed-in firm issues itself (201), as JSON (with the allowance) or PDF,
    the remaining free reports in ``X-Free-Reports-Remaining`` (and its address in
    ``Location``)."""
    user = require_firm()
    as_pdf = wants_pdf()
    assert user.enterprise is not None
    report, left = services.issue_self_report(
        db_session(), signing_keys(), user.enterprise, user, settings().free_self_reports,
        actor=f"user:{user.username}", request_id=g.get("request_id"), kind=kind)
    headers = {"X-Free-Reports-Remaining": str(left.remaining)}
    if location:
        headers["Location"] = url_for("reports.MyReport", report_no=report.report_no)
    if as_pdf:
        return pdf_response(report, 201, headers)
    resp = json_response(report, 201, {"allowance": left.as_dict()})
    resp.headers.update(headers)
    return resp


@blp.route("/me/reports")
class MyReports(MethodView):
    @blp.arguments(schemas.MyReportRequestSchema())
    @blp.doc(**report_doc(201, "新出具的报告文件（JSON，或按 Accept / ?format=pdf 返回 PDF）；头 X-Free-Reports-Remaining "
                               "为本年度剩余免费次数", location=True, refusals=(401, 403)))
    def post(self, data: dict[str, Any]) -> Response:
        """本企业出具报告（企业）：edition 为 self（自主查询版）或 bidding（招投标专用版：公开信息、信用等级及有效期、
        信用等级证书、信用名单与投标限制，供投标使用）；两者合计计入每年免费次数，用完为 403"""
        return issued_by_firm(ReportKind(data["edition"]))

    @blp.arguments(schemas.ReportListArgs, location="query")
    @blp.response(200, schemas.ReportPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本企业自行出具的报告（自主查询版与招投标专用版，kind_label 为版本），以及本年度剩余免费次数（企业）"""
        user = require_firm()
        session = db_session()
        assert user.enterprise is not None
        page = services.list_reports(session, page=args["page"], per_page=args["per_page"],
                                     enterprise_id=user.enterprise_id)
        left = services.allowance(session, user.enterprise, settings().free_self_reports)
        return page.body(allowance=left.as_dict())


@blp.route("/me/reports/<string:report_no>")
class MyReport(MethodView):
    @blp.doc(**report_doc(200, "报告文件（JSON 或 PDF）", refusals=(401, 403, 404)))
    def get(self, report_no: str) -> Response:
        """重新下载本企业自行出具的报告（自主查询版或招投标专用版，不计次数）"""
        user = require_firm()
        assert user.enterprise_id is not None
        report = services.own_report(db_session(), report_no, user.enterprise_id)
        return pdf_response(report) if wants_pdf() else json_response(report)


@blp.route("/me/reports/<string:report_no>.pdf")
class MyReportPdf(MethodView):
    @blp.doc(**report_doc(200, "报告 PDF", json_too=False, refusals=(401, 403, 404)))
    def get(self, report_no: str) -> Response:
        """重新下载本企业自行出具的报告（PDF，不计次数）"""
        user = require_firm()
        assert user.enterprise_id is not None
        return pdf_response(services.own_report(db_session(), report_no, user.enterprise_id))


@blp.route("/data/fetch")
class DataFetch(MethodView):
    decorators = [bearer_first, csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.FetchSchema)
    @blp.response(200, schemas.FetchResultSchema)
    @blp.doc(security=[{"oauth2": []}])
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """按授权获取企业信用信息（金融机构，绑定授权的令牌）：经授权闸门检查、计次并写入查询记录"""
        session = db_session()
        tok = bank_token()
        sections = set(data["sections"] or (tok.consent.scopes if tok.consent else []))
        access = authorize_access(session, Caller.of_token(tok), data["uscc"], data["purpose"], sections,
                                           resource="data:fetch", request_id=g.get("request_id"))
        consent = access.consent
        return {"consent_id": consent.consent_id, "query_id": access.log.id, "fetched_at": access.log.at,
                "data_range": {"from": consent.data_from.isoformat(), "to": consent.data_to.isoformat()},
                "data_life": {"unit": str(consent.data_life_unit), "value": consent.data_life_value},
                "sections": build_sections(session, consent.enterprise, sections, consent.data_from, consent.data_to)}
