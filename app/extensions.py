"""Extensions created unbound and attached in ``create_app``, and request-scoped access to
the database session, the settings and the field cipher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_smorest import Api
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from app import ratelimit  # noqa: F401 — registers the memory:// rate-limit store
from app.audit import services as audit
from app.config import Settings
from app.crypto import FieldCipher
from app.db import Database
from app.signing import SigningKeys


class PowerCreditApi(Api):  # type: ignore[misc]
    """flask-smorest without its own error handler: app.errors renders every error."""

    def _register_error_handlers(self) -> None:
        return None


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
    """The request's session; committed once after a successful response (see create_app)."""
    if "db_session" not in g:
        g.db_session = database().session()
    return cast(Session, g.db_session)


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
            audit.write_pending(session, g.get("request_id"))  # e.g. an error redirected to the client
            session.commit()
        else:
            session.rollback()
            settle_after_rollback(session, g.get("request_id"))
    return response


def settle_after_rollback(session: Session, request_id: str | None = None) -> None:
    actions: list[Callable[[Session], None]] = session.info.pop(AFTER_ROLLBACK, [])
    if not actions and not audit.has_pending(session):
        return
    try:
        for action in actions:
            action(session)
        audit.write_pending(session, request_id)
        session.commit()
    except Exception:  # never let bookkeeping turn a refusal into a 500
        log.exception("写入拒绝审计失败")
        session.rollback()


def close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
