"""The OAuth 2.0 authorization server (Authlib) and the resource protector.

Issue-2 scope: client-credentials for data providers (scope ``records:write``).  Tokens
and secrets are stored as SHA-256 hashes only; resource errors keep RFC 6750's
``WWW-Authenticate`` header and render as problem+json.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask

from app.errors import DomainError
from app.extensions import db_session
from consent.models import OAuthClient, OAuthToken, hash_secret

SCOPES = {
    "records:write": "向信用档案报送记录（数据源）",
}

REALM = "powercredit"

OAUTH_ERROR_TEXT = {
    "missing_authorization": "缺少 Authorization: Bearer 访问令牌",
    "invalid_token": "访问令牌无效、已过期或已撤销",
    "insufficient_scope": "访问令牌的授权范围不足",
    "unsupported_token_type": "不支持的令牌类型",
}


class OAuthProblem(DomainError):
    """An RFC 6750 resource error rendered as problem+json, keeping WWW-Authenticate."""


def query_client(client_id: str) -> OAuthClient | None:
    return db_session().scalar(
        sa.select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None))
    )


def save_token(token: dict[str, Any], request: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    session = db_session()
    session.add(
        OAuthToken(
            client_pk=request.client.id,
            access_token_hash=hash_secret(token["access_token"]),
            refresh_token_hash=hash_secret(token["refresh_token"]) if token.get("refresh_token") else None,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
        )
    )
    session.flush()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set((self.request.payload.scope or "").split())
        allowed = set(self.request.client.scope.split())
        if requested - allowed:
            raise InvalidScopeError(
                description=f"scope not granted to this client: {' '.join(sorted(requested - allowed))}"
            )


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(query_client=query_client, save_token=save_token)

    def init_app(self, app: Flask, query_client: Any = None, save_token: Any = None) -> None:
        app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
        super().init_app(app)
        self.register_grant(ClientCredentialsGrant)


class HashedBearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        return db_session().scalar(
            sa.select(OAuthToken).where(OAuthToken.access_token_hash == hash_secret(token_string))
        )


class Protector(ResourceProtector):  # type: ignore[misc]
    def raise_error_response(self, error: OAuth2Error) -> None:
        # RFC 6750 §3: no error code when the request had no credentials at all.
        challenge = f'Bearer realm="{REALM}"'
        if error.error != "missing_authorization":
            challenge += f', error="{error.error}"'
        headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
        problem = OAuthProblem(
            OAUTH_ERROR_TEXT.get(error.error, error.description or error.error),
            code=error.error,
            headers=headers,
        )
        problem.status = error.status_code
        raise problem


authorization = Server()
require_oauth = Protector()
require_oauth.register_token_validator(HashedBearerTokenValidator())
