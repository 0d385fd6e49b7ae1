"""Answers carrying a screening: the signed file (JSON), its PDF and its CSV, for the API and
the pages alike."""

from __future__ import annotations

from flask import Response, url_for

from app.core.extensions import settings
from app.oauth.server import issuer
from app.procurement import services
from app.procurement.models import Screening
from app.procurement.pdf import render_screening_pdf
from reports.pdf import cached_pdf

JSON = "application/json"


def verify_url(screening: Screening) -> str:
    """The public verification page of the screening, with its digest."""
    return f"{issuer()}{url_for('reports_web.verify', report_no=screening.screening_no)}?digest={screening.digest}"


def attachment(screening: Screening, extension: str) -> str:
    """Every download is saved, never shown in the browser's tab, under the screening's number
    (``PS….json``, ``.pdf``, ``.csv``: the name the verification page and the PDF print)."""
    return f'attachment; filename="{screening.screening_no}.{extension}"'


def json_response(screening: Screening, status: int = 200) -> Response:
    resp = Response(services.envelope_json(screening, verify_url(screening)), status=status, mimetype=JSON)
    resp.headers["X-Screening-No"] = screening.screening_no
    resp.headers["Content-Disposition"] = attachment(screening, "json")
    return resp


def pdf_bytes(screening: Screening) -> bytes:
    cache_dir = settings().instance_path / "screening-pdfs"
    return cached_pdf(cache_dir, screening.screening_no, lambda: render_screening_pdf(
        services.document(screening), digest=screening.digest, verify_url=verify_url(screening), kid=screening.kid))


def pdf_response(screening: Screening) -> Response:
    resp = Response(pdf_bytes(screening), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = attachment(screening, "pdf")
    resp.headers["X-Screening-No"] = screening.screening_no
    return resp


def csv_response(screening: Screening) -> Response:
    resp = Response(services.csv_text(services.document(screening)).encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = attachment(screening, "csv")
    resp.headers["X-Screening-No"] = screening.screening_no
    return resp
