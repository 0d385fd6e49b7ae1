"""The one error contract: everything becomes RFC 7807 ``application/problem+json``.

A problem carries ``type``, ``title``, ``status``, ``detail``, a machine ``code`` and, for
validation failures, ``errors``: a mapping from the dotted field path to its messages.
Domain code raises :class:`DomainError` subclasses; it never builds HTTP responses.
Browsers asking for a page get the same information as an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Flask, Response, g, json, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.core.db import is_sqlite_busy

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Chinese titles for the HTTP statuses the service returns.
HTTP_TITLES = {
    400: "请求格式错误",
    401: "未认证",
    403: "无权访问",
    404: "资源不存在",
    405: "不支持该请求方法",
    409: "状态冲突",
    410: "资源已失效",
    413: "请求体过大",
    415: "不支持的内容类型",
    422: "数据校验未通过",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
}


class DomainError(Exception):
    """Base of the errors services raise; maps to one problem response."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        audit: Any = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.audit = audit  # an audit.Pending to record after the rollback (a refusal)
        if code:
            self.code = code
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else {}


class InvalidInput(DomainError):
    status = 422
    code = "validation_failed"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages → ``{"payload.amount": ["…"], "sections[0]": ["…"],
    "_schema": […]}`` (list items by ``[index]``, as the batch API names its rows; a nested
    object's own errors by the object's path: ``data_range``, not ``data_range._schema``)."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema" and prefix:  # a nested object's own errors are named by the object
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                out.update(flatten_messages(value, path))
            elif isinstance(value, list | tuple) and value and isinstance(value[0], Mapping):
                for item in value:
                    out.update(flatten_messages(item, path))
            else:
                out.setdefault(path, []).extend(
                    [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
                )
    elif isinstance(messages, list | tuple):
        out.setdefault(prefix or "_schema", []).extend(str(m) for m in messages)
    else:
        out.setdefault(prefix or "_schema", []).append(str(messages))
    return out


def wants_html() -> bool:
    path = request.path
    if path.startswith(("/api/", "/oauth/", "/.well-known/", "/healthz")) or request.args.get("format") == "json":
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best == "text/html"


def problem_response(
    status: int,
    *,
    detail: str | None = None,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Response:
    title = title or HTTP_TITLES.get(status, "错误")
    body: dict[str, Any] = {
        "type": f"/problems/{code}" if code else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if code:
        body["code"] = code
    if errors:
        body["errors"] = dict(errors)
    body["instance"] = request.path
    rid = g.get("request_id")
    if rid:
        body["request_id"] = rid
    if wants_html():
        html = render_template("error.html", problem=body)
        resp = Response(html, status=status, mimetype="text/html")
    else:
        resp = Response(
            json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON
        )
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    if "Retry-After" in resp.headers:  # the refusal's own: kept over the rate limiter's (app.core.ratelimit)
        g.pc_retry_after = resp.headers["Retry-After"]
    return resp


_JSON_REASONS = (
    ("Expecting value", "此处应为一个值"),
    ("Expecting property name enclosed in double quotes", "属性名应放在双引号中"),
    ("Expecting ',' delimiter", "缺少逗号"),
    ("Expecting ':' delimiter", "缺少冒号"),
    ("Unterminated string", "字符串没有结束的引号"),
    ("Invalid control character", "字符串中有未转义的控制字符"),
    ("Invalid \\escape", "无效的转义序列"),
    ("Invalid \\u", "无效的 \\u 转义（应为 4 位十六进制）"),  # Python's "Invalid \\u…… escape"
    ("Extra data", "值之后还有多余内容"),
)


def json_error_text(exc: BaseException) -> str:
    """Why a text is not JSON, in Chinese, with the place (line and column) when known."""
    if isinstance(exc, RecursionError):
        return "嵌套过深"
    if isinstance(exc, UnicodeDecodeError):
        return f"不是合法的 UTF-8 文本（第 {exc.start + 1} 个字节）"
    message = getattr(exc, "msg", None) or str(exc)
    reason = next((cn for en, cn in _JSON_REASONS if message.startswith(en)), "格式错误")
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    return f"第 {line} 行第 {column} 列：{reason}" if line is not None and column is not None else reason


class MalformedJson(InvalidInput):
    status = 400
    code = "malformed_json"


def json_object_body(detail: str = "请求体应为 JSON 对象") -> dict[str, Any]:
    """The request's JSON object body (``Content-Type: application/json``), refused as the
    parsed endpoints refuse it: 400 for text that is not JSON (where it breaks), 422 for
    JSON that is not an object and for a body of another type (``detail`` says what is
    expected)."""
    if not request.is_json:
        raise InvalidInput(detail, errors={"_schema": ["应为 JSON 对象（Content-Type: application/json）。"]})
    text = request.get_data(cache=True)
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise MalformedJson("请求体不是合法的 JSON",
                            errors={"_schema": [f"请求体不是合法的 JSON：{json_error_text(exc)}。"]}) from exc
    if not isinstance(body, dict):
        raise InvalidInput(detail, errors={"_schema": ["应为 JSON 对象。"]})
    return body


_CSRF_REASONS = {
    "The CSRF token is missing.": "缺少 CSRF 令牌",
    "The CSRF session token is missing.": "会话中没有 CSRF 令牌（请允许 Cookie）",
    "The CSRF token has expired.": "CSRF 令牌已过期",
    "The CSRF token is invalid.": "CSRF 令牌无效",
    "The CSRF tokens do not match.": "CSRF 令牌与会话不匹配",
    "The referrer header is missing.": "HTTPS 请求缺少 Referer 头",
    "The referrer does not match the host.": "Referer 与本站地址不一致",
}


def _http_code_slug(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors: dict[str, list[str]] | None = None
    if "messages" in data or "errors" in data:
        raw = data.get("errors", data.get("messages"))
        # webargs groups messages by location ({"json": {...}, "query": {...}})
        errors = {}
        if isinstance(raw, Mapping):
            for location, msgs in raw.items():
                if location in ("json", "form", "files", "view_args"):
                    errors.update(flatten_messages(msgs))
                elif location in ("query", "headers", "cookies"):
                    errors.update(flatten_messages(msgs, location))
                else:
                    errors.update(flatten_messages({location: msgs}))
        else:
            errors = flatten_messages(raw)
    invalid_json = getattr(exc, "exc", None)  # webargs: a body that is not JSON
    if isinstance(invalid_json, ValueError):
        errors = {"_schema": [f"请求体不是合法的 JSON：{json_error_text(invalid_json)}。"]}
        data = {**data, "message": "请求体不是合法的 JSON"}
    if isinstance(exc, InternalServerError):
        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("unhandled error", exc_info=original)
        detail = "服务器处理请求时出错，请稍后重试；如问题持续，请提供 request_id 联系我们"
    elif errors:
        fields = ", ".join(sorted(errors))
        detail = data.get("message") or f"以下字段未通过校验：{fields}"
    else:
        detail = data.get("message") or _http_detail(status, exc)
    headers = dict(exc.get_headers())
    headers.pop("Content-Type", None)
    headers.update(data.get("headers", {}) or {})
    if isinstance(invalid_json, ValueError):
        code = MalformedJson.code
    elif isinstance(exc, CSRFError):
        code = "csrf_failed"
    else:
        code = "validation_failed" if errors else _http_code_slug(exc)
    return problem_response(status, detail=detail, code=code, errors=errors, headers=headers)


def _http_detail(status: int, exc: HTTPException) -> str:
    if status == 404:
        return f"找不到 {request.path}"
    if status == 405:
        return f"{request.path} 不支持 {request.method} 方法"
    if status == 413:
        limit = request.max_content_length
        return f"请求体超过上限（{limit} 字节）" if limit else "请求体过大"
    if status == 415:
        return f"不支持的内容类型：{request.mimetype or '未指定'}"
    if isinstance(exc, CSRFError):
        if wants_html():  # a person at a form: what to do, not how the check works
            return "页面已过期，或表单不是从本站页面提交的：请返回上一页，刷新后重新提交。"
        reason = _CSRF_REASONS.get(exc.description or "", "CSRF 校验未通过")
        return f"{reason}：请刷新页面后重新提交（接口写入须在 X-CSRFToken 头中带上页面的 CSRF 令牌）"
    return exc.description or HTTP_TITLES.get(status, "错误")


def _sign_in_first(exc: DomainError) -> Response | None:
    """A page that needs a signed-in user, asked for by a browser that is not signed in:
    send it to the sign-in page, which comes back here afterwards."""
    if exc.status != 401 or request.method not in ("GET", "HEAD") or not wants_html():
        return None
    if current_user.is_authenticated:
        return None
    target = request.full_path if request.query_string else request.path
    resp = Response(status=302)
    resp.headers["Location"] = url_for("accounts.login", next=target)
    return resp


def handle_domain_error(exc: DomainError) -> Response:
    to_login = _sign_in_first(exc)
    if to_login is not None:
        return to_login
    pending = getattr(exc, "audit", None)
    if pending is not None:  # a refusal to audit: written after the request's rollback
        from app.core.extensions import db_session
        from app.core.refusals import refuse_later

        refuse_later(db_session(), pending)
    return problem_response(
        exc.status, detail=exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers
    )


def handle_validation_error(exc: ValidationError) -> Response:
    errors = flatten_messages(exc.messages)
    return problem_response(
        422,
        detail=f"以下字段未通过校验：{', '.join(sorted(errors))}",
        code="validation_failed",
        errors=errors,
    )


def _nul_location() -> str | None:
    """Where a request carries U+0000 outside a JSON body (PostgreSQL cannot take it, and no
    identifier contains it): the path, the query, a form field or the credentials."""
    if "\x00" in request.path:
        return "path"
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            return f"query.{key.replace(chr(0), '')}"
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):  # a part whose name cannot be read: key None
            if "\x00" in (key or "") or "\x00" in (value or ""):
                return f"form.{(key or '').replace(chr(0), '')}"
    auth = request.authorization
    if auth is not None and any("\x00" in (v or "") for v in (auth.username, auth.password, auth.token)):
        return "headers.Authorization"
    return None


def refuse_unnamed_form_fields() -> Response | None:
    """A multipart part whose name cannot be read (a line break in it: Werkzeug names it
    None) is a malformed body, refused before anything reads the form (CSRF, the view)."""
    if request.mimetype == "multipart/form-data" and None in request.form:
        return problem_response(400, detail="表单中有无法读取名称的字段", code="malformed_form",
                                errors={"form": ["字段名称无法读取（名称中不能有换行）。"]})
    return None


def refuse_nul() -> Response | None:
    where = _nul_location()
    if where is None:
        return None
    return problem_response(400, detail="请求含有空字符（U+0000）", code="invalid_characters",
                            errors={where: ["不能包含空字符（U+0000）。"]})


def handle_recursion_error(exc: RecursionError) -> Response:
    """A JSON body nested deeper than the parser can follow (``[[[[…``): bad input, not a
    server error.  Anything else that recursed too deep is the 500 it is."""
    if request.content_length and request.mimetype in JSON_BODY_TYPES:
        return problem_response(400, detail="请求体不是合法的 JSON", code=MalformedJson.code,
                                errors={"_schema": ["请求体不是合法的 JSON：嵌套过深。"]})
    return handle_http_exception(InternalServerError(original_exception=exc))


JSON_BODY_TYPES = frozenset({"application/json", "application/x-ndjson", "application/merge-patch+json"})


def busy_response(exc: OperationalError) -> Response:
    """SQLite (the embedded default) busy past its lock timeout — a long import holding the
    write lock, say: the request was rolled back whole, so the client may simply retry."""
    log.warning("数据库忙，请求已回滚：%s", exc.orig)
    return problem_response(503, code="database_busy", headers={"Retry-After": "2"},
                            detail="数据库正忙（另一项写入，如批量导入，正在进行），本次请求未作任何更改，请稍后重试。")


_UNREACHABLE = ("unable to open database file", "could not connect", "connection refused", "connection to server",
                "server closed the connection", "terminating connection", "the database system is",
                "no route to host", "timeout expired", "connection timed out", "could not translate host name",
                "consuming input failed", "disk i/o error")


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (down, restarting, the network, the file's folder
    gone), as opposed to a statement that failed."""
    if isinstance(exc, SATimeoutError):  # no connection free in the pool in time
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(marker in text for marker in _UNREACHABLE)


def unavailable_response(exc: BaseException) -> Response:
    log.error("数据库不可用：%s", getattr(exc, "orig", None) or exc)
    return problem_response(503, code="database_unavailable", headers={"Retry-After": "5"},
                            detail="数据库暂时无法连接，本次请求未作任何更改，请稍后重试。")


def handle_operational_error(exc: OperationalError) -> Response:
    if is_sqlite_busy(exc):
        return busy_response(exc)
    if is_database_unavailable(exc):
        return unavailable_response(exc)
    return handle_http_exception(InternalServerError(original_exception=exc))


def handle_pool_timeout(exc: SATimeoutError) -> Response:
    return unavailable_response(exc)


def refuse_insecure_oauth() -> Response | None:
    """Every ``/oauth/`` endpoint over HTTPS (or on this machine), before anything else: the
    authorization page too, which would otherwise first send the browser to sign in."""
    if request.path.startswith("/oauth/") and not is_secure_transport(request.url):
        return handle_insecure_transport(InsecureTransportError())
    return None


def handle_insecure_transport(exc: Exception) -> Response:
    """OAuth over plain HTTP to a host that is not this machine (RFC 6749 §1.6, §3.1):
    refused, and said how to reach it."""
    return problem_response(400, code="insecure_transport",
                            detail="OAuth 接口只接受 HTTPS：请用 https:// 访问。服务部署在 TLS 反向代理之后时，代理须传 "
                                   "X-Forwarded-Proto，服务须设 PC_TRUSTED_PROXIES（见 README 的部署一节）。")


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_unnamed_form_fields)
    app.before_request(refuse_nul)
    app.register_error_handler(OperationalError, handle_operational_error)
    app.register_error_handler(SATimeoutError, handle_pool_timeout)
    app.register_error_handler(InsecureTransportError, handle_insecure_transport)
    app.before_request(refuse_insecure_oauth)
    app.register_error_handler(RecursionError, handle_recursion_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(ValidationError, handle_validation_error)
