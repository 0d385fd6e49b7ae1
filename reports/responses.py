"""Answers carrying a report file (its JSON envelope or its PDF) and their OpenAPI
description: for the report API and for the marketplace's, which issues reports too."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, url_for

from app.core.extensions import settings
from app.oauth.server import issuer
from reports import services
from reports.models import Report
from reports.pdf import cached_pdf, render_pdf

JSON = "application/json"
PDF = "application/pdf"

# OpenAPI for the views that answer with a report file (built by hand, not by a schema: the
# frozen JSON is embedded byte for byte).  The report itself follows /api/v1/reports/schema.
REPORT_FILE = {"type": "object", "required": ["report", "digest", "digest_alg", "signature", "kid", "verify_url"],
               "properties": {
                   "report": {"type": "object", "description": "报告正文（JSON Schema 见 GET /api/v1/reports/schema）"},
                   "digest": {"type": "string", "description": "报告正文规范化 JSON 的 SHA-256（十六进制）"},
                   "digest_alg": {"type": "string", "enum": ["SHA-256"]},
                   "signature": {"type": "string", "description": "对报告声明的 Ed25519 签名（紧凑 JWS，公钥见 /.well-known/jwks.json）"},
                   "kid": {"type": "string"},
                   "verify_url": {"type": "string", "format": "uri", "description": "公开核验页面"},
                   "allowance": {"type": "object", "description": "企业自行出具：本年度免费次数（仅 GET /api/v1/me/report 与 POST /api/v1/me/reports）"}}}
REPORT_HEADERS = {"X-Report-No": {"schema": {"type": "string"}, "description": "报告编号"},
                  "X-Report-Digest": {"schema": {"type": "string"}, "description": "报告摘要（SHA-256，十六进制）"}}
AS_JSON = {JSON: {"schema": REPORT_FILE}}
AS_PDF = {PDF: {"schema": {"type": "string", "format": "binary"}}}


def report_doc(status: int, description: str, *, pdf: bool = True, json_too: bool = True,
               location: bool = False, refusals: tuple[int, ...] = ()) -> dict[str, Any]:
    """``responses`` for ``blp.doc`` of a view answering with a report file."""
    headers: dict[str, Any] = dict(REPORT_HEADERS)
    if location:
        headers["Location"] = {"schema": {"type": "string"}, "description": "该报告的地址"}
    content = {**(AS_JSON if json_too else {}), **(AS_PDF if pdf else {})}
    out: dict[str, Any] = {str(status): {"description": description, "headers": headers, "content": content}}
    for code in refusals:  # by name: apispec then adds the (lazily registered) problem+json response
        out[str(code)] = HTTPStatus(code).name
    return {"responses": out}


def verify_url(report: Report) -> str:
    return f"{issuer()}{url_for('reports_web.verify', report_no=report.report_no)}?digest={report.digest}"


def json_response(report: Report, status: int = 200, extra: dict[str, Any] | None = None) -> Response:
    body = services.envelope_json(report, verify_url(report))
    if extra:
        body = body[:-1] + "," + json.dumps(extra, ensure_ascii=False)[1:]
    resp = Response(body, status=status, mimetype=JSON)
    resp.headers["X-Report-No"] = report.report_no
    # The report's SHA-256 as printed on it and checked by /verify (of the canonical report,
    # not of this response's body: not an RFC 9530 digest field).
    resp.headers["X-Report-Digest"] = report.digest
    # A signed file to keep: a browser saves it (as the PDF) rather than showing it.
    resp.headers["Content-Disposition"] = f'attachment; filename="{report.report_no}.json"'
    return resp


def pdf_bytes(report: Report) -> bytes:
    cache_dir = settings().instance_path / "report-pdfs"
    return cached_pdf(cache_dir, report.report_no, lambda: render_pdf(
        json.loads(report.body), digest=report.digest, verify_url=verify_url(report), kid=report.kid))


def pdf_response(report: Report, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(pdf_bytes(report), status=status, mimetype=PDF, headers=headers or {})
    resp.headers["Content-Disposition"] = f'attachment; filename="{report.report_no}.pdf"'
    resp.headers["X-Report-No"] = report.report_no
    return resp
