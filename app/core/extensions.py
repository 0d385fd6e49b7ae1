"""Extensions created unbound and attached in ``create_app``, and request-scoped access to
the database session, the settings and the field cipher."""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from flask import current_app, g, has_request_context, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from flask_wtf import CSRFProtect
from marshmallow import Schema, fields
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core import ratelimit  # noqa: F401 — registers the memory:// rate-limit store
from app.core import refusals as audit
from app.core.auth import refuse_anonymous
from app.core.config import Settings
from app.core.crypto import FieldCipher
from app.core.db import READ_ONLY, Database, is_sqlite_busy
from app.core.errors import HTTP_TITLES, PROBLEM_JSON, busy_response
from app.core.signing import SigningKeys


class ProblemSchema(Schema):
    """RFC 7807 ``application/problem+json``, as ``app.core.errors.problem_response`` writes it."""

    type = fields.String(metadata={"description": "问题类型（/problems/<code>）"})
    title = fields.String(metadata={"description": "HTTP 状态的中文名称"})
    status = fields.Integer(metadata={"description": "HTTP 状态码"})
    detail = fields.String(metadata={"description": "说明（中文）"})
    code = fields.String(metadata={"description": "机器可读的错误代码，如 validation_failed、invalid_token"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "按字段路径（payload.amount、rows[3].payload.due_on）列出的错误"})
    instance = fields.String(metadata={"description": "请求路径"})
    request_id = fields.String(metadata={"description": "请求编号（亦见 X-Request-ID 头）"})


def _numeric_bounds(self: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Bounds as JSON numbers: apispec writes a Decimal field's as strings ("0.001")."""
    return {key: float(value) for key, value in ret.items()
            if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
            and isinstance(value, Decimal | str)}


def _decimal_strings(self: Any, field: Any, **_: Any) -> dict[str, Any]:
    """A ``Decimal`` served as a string (``as_string=True``: amounts, scores, rates) is
    documented as one — apispec would call it a number."""
    if isinstance(field, fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal"}
    return {}


class PowerCreditApi(Api):  # type: ignore[misc]
    """flask-smorest without its own error handler (app.core.errors renders every error), and
    with the errors documented as what they are: problem+json (``ProblemSchema``)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def init_app(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        # Decimals as they are served, one way everywhere: a string with format decimal
        # (amounts also accept JSON numbers); and decimal bounds as JSON Schema has them,
        # numeric minimum/maximum (a Decimal bound would be written as a string, which no
        # JSON Schema validator accepts).
        from app.core.schemas_base import Amount

        self.register_field(Amount, "string", "decimal")
        self.ma_plugin.converter.add_attribute_function(_numeric_bounds)
        self.ma_plugin.converter.add_attribute_function(_decimal_strings)

    def _register_responses(self) -> None:
        """flask-smorest's own (a response per status, lazily: only those referenced are
        written), as problem+json with the Chinese titles the errors carry."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": HTTP_TITLES.get(status, status.phrase)}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "错误（application/problem+json）", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


log = logging.getLogger(__name__)

api = PowerCreditApi()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _limits_off() -> bool:
    return not current_app.config.get("PC_RATELIMIT", True)


def settings() -> Settings:
    return cast(Settings, current_app.extensions["pc_settings"])


def signing_keys() -> SigningKeys:
    return cast(SigningKeys, current_app.extensions["pc_signing_keys"])


def database() -> Database:
    return cast(Database, current_app.extensions["pc_db"])


def cipher() -> FieldCipher:
    return cast(FieldCipher, current_app.extensions["pc_cipher"])


def db_session() -> Session:
    """The request's session; committed once after a successful response (see create_app).
    GET, HEAD and OPTIONS requests read only, unless their view is marked :func:`writes`."""
    if "db_session" not in g:
        g.db_session = database().session(read_only=_reads_only())
    return cast(Session, g.db_session)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_F = TypeVar("_F", bound=Callable[..., Any])


def created(obj: Any, endpoint: str, **values: Any) -> tuple[Any, int, dict[str, str]]:
    """A ``201 Created`` answer of a flask-smorest view: the object (dumped by the view's
    response schema) and a ``Location`` naming where it can be read (RFC 9110 §15.3.2)."""
    return obj, 201, {"Location": url_for(endpoint, **values)}


def writes(view: _F) -> _F:
    """Marks a GET view that writes to the database (an audited read, a report issued on
    GET, a notice marked as read): its session may then write (on SQLite it takes the write
    lock up front).  Views of the other methods always may write."""
    view.pc_writes = True  # type: ignore[attr-defined]
    return view


def _reads_only() -> bool:
    if not has_request_context() or request.method not in SAFE_METHODS:  # (an app context: a CLI task)
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return True
    view_class = getattr(view, "view_class", None)
    if view_class is not None:  # a MethodView: the handler of this method (HEAD is served by get)
        view = getattr(view_class, request.method.lower(), None) or getattr(view_class, "get", None)
    return not getattr(view, "pc_writes", False)


AFTER_ROLLBACK = "pc_after_rollback"


def after_rollback(session: Session, action: Callable[[Session], None]) -> None:
    """Work that must persist although the request fails (e.g. revoking the tokens of a
    reused code): run in a fresh transaction after the failed request's rollback."""
    session.info.setdefault(AFTER_ROLLBACK, []).append(action)


def finish_session(response: Any) -> Any:
    """After the view: commit the unit of work on success, roll it back on an error status.
    Refusals are audited either way (after the rollback, in their own transaction, with any
    ``after_rollback`` work)."""
    session: Session | None = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            session.info.pop(AFTER_ROLLBACK, None)
            if audit.has_pending(session) and session.info.get(READ_ONLY):
                session.commit()  # what was read ends here; the refusal is written as a writer
                database().for_writing(session)
                # Its lock is taken only now, outside the view (whose errors become problems).
                pending = audit.pending_events(session)
                try:
                    audit.write_pending(session, g.get("request_id"))
                    session.commit()
                except OperationalError as exc:
                    if not is_sqlite_busy(exc):
                        raise
                    session.rollback()
                    log.error("数据库忙，拒绝事件未能写入审计日志：%s", pending)
                    return busy_response(exc)
                return response
            audit.write_pending(session, g.get("request_id"))  # e.g. an error redirected to the client
            session.commit()
        else:
            session.rollback()
            database().for_writing(session)
            settle_after_rollback(session, g.get("request_id"))
    return response


def settle_after_rollback(session: Session, request_id: str | None = None) -> None:
    actions: list[Callable[[Session], None]] = session.info.pop(AFTER_ROLLBACK, [])
    if not actions and not audit.has_pending(session):
        return
    pending = audit.pending_events(session)
    try:
        for action in actions:
            action(session)
        audit.write_pending(session, request_id)
        session.commit()
    except Exception:  # never let bookkeeping turn a refusal into a 500
        log.exception("写入拒绝审计失败，未写入的事件：%s", pending)
        session.rollback()


def close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


def api_caller_first() -> None:
    """Before the CSRF check of an API write (registered ahead of Flask-WTF's own hook): a
    caller with neither session nor token is told who must ask (401 with the challenge), not
    that a CSRF token is missing.  Views exempt from the global check (those bank systems
    call with tokens) ask for the caller themselves, with both challenges."""
    if request.path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH", "DELETE") \
            and not csrf._is_exempt():  # Flask-WTF's own test of @csrf.exempt
        refuse_anonymous()


def cookie_csrf() -> None:
    """Writes by a signed-in user (session cookie) need the CSRF token (``X-CSRFToken``
    header), as the pages' forms do; bank systems authenticate with bearer tokens.  An
    ``Authorization`` header beside a signed-in session does not waive it: the view acts
    as the session's user.  Nobody at all (no session, no token) is told to sign in first
    (401), not asked for a token they could not have."""
    refuse_anonymous()
    if current_user.is_authenticated or "Authorization" not in request.headers:
        csrf.protect()
