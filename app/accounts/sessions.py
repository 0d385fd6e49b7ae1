"""Signed-in sessions kept on the server, so that signing out ends them.

The browser's cookie (Flask's signed session) carries only a random token; the session row
holds its SHA-256, the user, when it began, when it was last used and when it must end.  A
request whose token names no open session, an idle one (``session_idle_minutes`` without a
request) or an expired one (``session_max_hours`` after signing in) is anonymous.  Signing
out ends the session; a password change ends the user's other sessions; an operator
disabling a user ends them all.  Every process and machine reads the same rows, so two
servers behind a balancer behave as one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User, UserSession
from app.core import clock
from app.core.db import OWN_TRANSACTION

log = logging.getLogger("powercredit.sessions")

TOKEN_KEY = "_pc_sid"  # the key in Flask's session (the signed cookie)
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen_at is written at most this often


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, *, max_hours: int, ip: str | None = None,
          user_agent: str | None = None) -> str:
    """A new session for ``user``; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(UserSession(token_hash=_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                            expires_at=now + dt.timedelta(hours=max_hours), ip=(ip or "")[:64] or None,
                            user_agent=(user_agent or "")[:200] or None))
    session.flush()
    return token


def find_open(session: Session, token: str | None, user_id: int, idle_minutes: int) -> UserSession | None:
    """The open session the token names, if it belongs to ``user_id`` and has neither been
    idle too long nor outlived its absolute timeout."""
    if not token:
        log.info("会话无效：Cookie 中没有会话令牌（用户 %s）", user_id)
        return None
    row = session.scalar(sa.select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None or row.user_id != user_id or row.ended_at is not None:
        log.info("会话无效：%s（用户 %s）", "找不到该令牌的会话" if row is None else
                 "令牌属于另一用户" if row.user_id != user_id else f"会话已结束（{row.ended_reason}）", user_id)
        return None
    now = clock.now()
    if now >= row.expires_at or now - row.last_seen_at >= dt.timedelta(minutes=idle_minutes):
        log.info("会话无效：%s（用户 %s，现在 %s，最近使用 %s，到期 %s）", lapse_reason(row, idle_minutes), user_id,
                 now.isoformat(), row.last_seen_at.isoformat(), row.expires_at.isoformat())
        return None
    return row


ENDED_WORDS = {
    "password_changed": "密码已修改，此前的登录已结束：请用新密码登录。",
    "revoked": "平台运营人员结束了您的登录，请重新登录。",
    "user_disabled": "该账号已被停用。如有疑问，请联系平台运营人员。",
    "idle": "您有一段时间没有操作，登录已自动结束，请重新登录。",
    "expired": "登录时间已达上限，请重新登录。",
}


def why_not_open(session: Session, token: str | None, user_id: int, idle_minutes: int) -> str | None:
    """Why the browser's session (its token, for ``user_id``) is no longer open, in words for
    the sign-in page: ended by a password change, an operator or a disabled account, idle or
    expired; None when it was signed out (the user knows) or is not this user's."""
    if not token:
        return None
    row = session.scalar(sa.select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None or row.user_id != user_id:
        return None
    if row.ended_at is not None:
        return ENDED_WORDS.get(row.ended_reason or "")
    return ENDED_WORDS[lapse_reason(row, idle_minutes)]


def lapse_reason(row: UserSession, idle_minutes: int) -> str:
    return "expired" if clock.now() >= row.expires_at else "idle"


def touch(write: Callable[[], AbstractContextManager[Session]], row: UserSession) -> None:
    """Note the request on the session (at most once a ``TOUCH_EVERY``), in a short
    transaction of its own (the request's may be read-only)."""
    now = clock.now()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    with write() as session:
        session.execute(sa.update(UserSession).where(UserSession.id == row.id, UserSession.ended_at.is_(None))
                        .values(last_seen_at=now).execution_options(**{OWN_TRANSACTION: True}))


def end(session: Session, token: str | None, reason: str = "logout") -> bool:
    """End the session the token names (signing out)."""
    if not token:
        return False
    result = session.execute(sa.update(UserSession)
                             .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
                             .values(ended_at=clock.now(), ended_reason=reason))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_all(session: Session, user_id: int, reason: str, *, keep: str | None = None) -> int:
    """End every open session of a user (but the one whose token is ``keep``)."""
    stmt = sa.update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep:
        stmt = stmt.where(UserSession.token_hash != _hash(keep))
    result = session.execute(stmt.values(ended_at=clock.now(), ended_reason=reason)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(session: Session, user_id: int) -> list[UserSession]:
    now = clock.now()
    return list(session.scalars(sa.select(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.created_at.desc())))


def find_token_id(session: Session, token: str | None) -> int | None:
    """The id of the session a token names (to mark "this session" in a list)."""
    if not token:
        return None
    return session.scalar(sa.select(UserSession.id).where(UserSession.token_hash == _hash(token)))
