"""Who is calling a bank endpoint: the bearer token (checked once per request, before the
body is parsed), and the rate-limit key and limit of bank systems. For the consent and
report APIs alike."""

from __future__ import annotations

import functools
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import g, request

from app.core.errors import Forbidden
from app.core.extensions import db_session, settings
from app.oauth.models import OAuthToken
from app.oauth.server import bound, require_oauth


def bank_limit() -> str:
    """The per-client limit of bank endpoints (``PC_BANK_RATE_LIMIT``, default 120/minute)."""
    return settings().bank_rate_limit


def client_rate_key() -> str:
    """Rate-limit key of bank endpoints: the OAuth client behind a valid bearer token; for
    credentials not yet checked (token, revocation, introspection), the address together
    with the claimed client — a caller cannot spend another bank's allowance from elsewhere
    (the address limit below caps what one address sends however many ids it claims)."""
    ip = request.remote_addr or "-"
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        found = bound().load_token(db_session(), auth[7:].strip())  # read once per request, as the check reads it
        if found is not None:
            return f"client-pk:{found.client_pk}"
    claimed = (request.authorization.username if request.authorization is not None else None) \
        or request.form.get("client_id") or ("assertion" if request.form.get("client_assertion") else "")
    return f"ip:{ip}|client:{claimed[:64]}"


def address_key() -> str:
    return f"ip:{request.remote_addr}"


ADDRESS_LIMIT = "600/minute"


def acquire_token(*scopes: str) -> OAuthToken:
    """A valid access token holding ``scopes`` (Authorization: Bearer only), or the RFC 6750
    refusal (audited); registered as ``app.core.auth``'s bearer check."""
    g.pc_required_scopes = scopes  # named in an insufficient_scope refusal (RFC 6750 §3 "scope")
    try:
        return require_oauth.acquire_token(list(scopes) if scopes else None)  # type: ignore[no-any-return]
    except OAuth2Error as error:
        require_oauth.raise_error_response(error)
        raise  # raise_error_response always raises


def bank_token(*scopes: str) -> OAuthToken:
    """The bank's OAuth token (Authorization: Bearer only — never the query string); checked
    once per request (``bearer_first`` may have done it before the body was parsed)."""
    if not scopes and "pc_bank_token" in g:
        return g.pc_bank_token  # type: ignore[no-any-return]
    tok = acquire_token(*scopes)
    if tok.client.institution_id is None:
        raise Forbidden("只有金融机构的客户端可以访问", code="not_an_institution")
    if not scopes:
        g.pc_bank_token = tok
    return tok  # type: ignore[no-any-return]


def bearer_first(view: Any) -> Any:
    """For a view only bank systems call: the bearer token is checked before the body is
    parsed, so a caller without a valid token learns that (401), not the body's schema."""
    @functools.wraps(view)
    def inner(*args: Any, **kwargs: Any) -> Any:
        bank_token()
        return view(*args, **kwargs)

    return inner
