"""Sign-in throttling per account, beside the per-address limit on the form.

Failed sign-ins are counted in the rate-limit storage (Redis when ``PC_RATELIMIT_STORAGE_URI``
names it, so every worker and machine shares the counts):

- per account and address: ``PER_ADDRESS`` failures, then that address waits for the window
  to pass (a guesser at one address is slowed to a crawl);
- per account, from anywhere: ``PER_ACCOUNT`` failures, then addresses the account has not
  signed in from (within ``KNOWN_DAYS``) wait too — a guesser spread over many addresses.

Nobody can lock a firm out for good: the counts are failures only and expire with their
window, a correct password from an address the account has used is never held back by the
account-wide count, and a successful sign-in clears its address's count.
"""

from __future__ import annotations

import datetime as dt
import math

import sqlalchemy as sa
from limits import RateLimitItem, parse
from sqlalchemy.orm import Session

from app.accounts.models import User, UserSession
from app.core import clock
from app.core.extensions import limiter

PER_ADDRESS: RateLimitItem = parse("5/15 minutes")
PER_ACCOUNT: RateLimitItem = parse("20/15 minutes")
KNOWN_DAYS = 90
NAMESPACE = "pc-login"


def _key(username: str) -> str:
    return username.strip().lower()[:64]


def known_address(session: Session, username: str, address: str | None) -> bool:
    """Whether the account has signed in from this address lately."""
    if not address:
        return False
    since = clock.now() - dt.timedelta(days=KNOWN_DAYS)
    return session.scalar(
        sa.select(sa.literal(True)).select_from(UserSession).join(User, User.id == UserSession.user_id)
        .where(User.username == username, UserSession.ip == address[:64], UserSession.created_at >= since)
        .limit(1)) is not None


def wait_seconds(session: Session, username: str, address: str | None) -> int:
    """Seconds before this account may be tried again from this address (0: now)."""
    strategy = limiter.limiter
    key, where = _key(username), address or "-"
    waits = []
    if not strategy.test(PER_ADDRESS, NAMESPACE, key, where):
        waits.append(strategy.get_window_stats(PER_ADDRESS, NAMESPACE, key, where).reset_time)
    if not strategy.test(PER_ACCOUNT, NAMESPACE, key) and not known_address(session, username, address):
        waits.append(strategy.get_window_stats(PER_ACCOUNT, NAMESPACE, key).reset_time)
    if not waits:
        return 0
    return max(1, math.ceil(max(waits) - clock.now().timestamp()))


def failed(username: str, address: str | None) -> None:
    key = _key(username)
    limiter.limiter.hit(PER_ADDRESS, NAMESPACE, key, address or "-")
    limiter.limiter.hit(PER_ACCOUNT, NAMESPACE, key)


def succeeded(username: str, address: str | None) -> None:
    limiter.limiter.clear(PER_ADDRESS, NAMESPACE, _key(username), address or "-")
