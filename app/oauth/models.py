"""OAuth 2 clients, tokens, authorization codes and used client assertions. Secrets and
tokens are stored only as SHA-256 hashes. A bank's token (and code) is bound to a consent:
the link is by table (``consent.id``); the consent package, a layer above, checks it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk

if TYPE_CHECKING:
    from consent.models import Consent


def hash_secret(value: str) -> str:
    """Client secrets and tokens are 256-bit random strings: SHA-256 is the right hash."""
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(Base):
    __tablename__ = "oauth_client"
    __table_args__ = (
        sa.CheckConstraint(
            "NOT (provider_id IS NOT NULL AND institution_id IS NOT NULL)", name="one_owner"
        ),
    )

    id: Mapped[intpk]
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(200))
    grant_types: Mapped[list[str]] = mapped_column(JSONType)
    scope: Mapped[str] = mapped_column(sa.String(500))
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(40))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # private_key_jwt clients: their public keys (a JWKS document).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("data_provider.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("institution.id"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[OAuthToken]] = relationship(back_populates="client")

    # --- authlib ClientMixin ------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope  # no scope asked for: everything the client is registered for
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret_hash is None or self.disabled_at is not None:
            return False
        return hmac.compare_digest(self.client_secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Every endpoint (token, revocation, introspection) takes only the registered method.
        return self.disabled_at is None and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuthToken(Base):
    __tablename__ = "oauth_token"

    id: Mapped[intpk]
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_type: Mapped[str] = mapped_column(sa.String(20), default="Bearer")
    scope: Mapped[str] = mapped_column(sa.String(500))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A bank's token is bound to one consent; every use checks that consent.
    consent_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    auth_code_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_authorization_code.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))

    client: Mapped[OAuthClient] = relationship(back_populates="tokens", lazy="joined")
    consent: Mapped[Consent | None] = relationship(lazy="joined")

    # --- authlib TokenMixin -------------------------------------------------------------
    def check_client(self, client: Any) -> bool:
        return bool(client.client_id == self.client.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AuthorizationCode(Base):
    """An authorization code: single use (redeemed by one atomic UPDATE), 60 s, PKCE S256."""

    __tablename__ = "oauth_authorization_code"

    id: Mapped[intpk]
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    consent_pk: Mapped[int] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    scope: Mapped[str] = mapped_column(sa.String(1000))
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # --- authlib AuthorizationCodeMixin ---------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_auth_time(self) -> int:
        return int(self.issued_at.timestamp())

    def get_nonce(self) -> None:
        return None


class UsedAssertion(Base):
    """``jti`` of client assertions already seen (private_key_jwt replay protection)."""

    __tablename__ = "oauth_used_assertion"
    __table_args__ = (sa.UniqueConstraint("client_pk", "jti"),)

    id: Mapped[intpk]
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"))
    jti: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
