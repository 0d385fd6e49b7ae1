"""Extensions created unbound and attached in ``create_app``, and request-scoped access to
the database session, the settings and the field cipher."""

from __future__ import annotations

from typing import Any, cast

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_smorest import Api
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from app.config import Settings
from app.crypto import FieldCipher
from app.db import Database


class PowerCreditApi(Api):  # type: ignore[misc]
    """flask-smorest without its own error handler: app.errors renders every error."""

    def _register_error_handlers(self) -> None:
        return None


api = PowerCreditApi()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def settings() -> Settings:
    return cast(Settings, current_app.extensions["pc_settings"])


def database() -> Database:
    return cast(Database, current_app.extensions["pc_db"])


def cipher() -> FieldCipher:
    return cast(FieldCipher, current_app.extensions["pc_cipher"])


def db_session() -> Session:
    """The request's session; committed once after a successful response (see create_app)."""
    if "db_session" not in g:
        g.db_session = database().session()
    return cast(Session, g.db_session)


def finish_session(response: Any) -> Any:
    """After the view: commit the unit of work on success, roll it back on an error status."""
    session: Session | None = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    return response


def close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
