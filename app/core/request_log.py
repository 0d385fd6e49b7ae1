"""Request ids: taken from ``X-Request-ID`` (when sane) or generated, echoed in the response
and attached to every log record written while the request runs."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
log = logging.getLogger("powercredit.request")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level)  # the latest caller's level (the command line's, then the app's)
    if any(getattr(h, "_powercredit", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    handler.addFilter(RequestIdFilter())
    handler._powercredit = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
            elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            log.info("%s %s -> %s (%.1f ms)", request.method, request.path, response.status_code, elapsed)
        return response
