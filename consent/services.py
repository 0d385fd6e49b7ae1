"""OAuth client registration and token housekeeping."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from consent.models import OAuthClient, OAuthToken, hash_secret
from consent.server import SCOPES


def register_client(
    session: Session,
    *,
    name: str,
    scope: str,
    grant_types: list[str],
    provider_id: int | None = None,
    institution_id: int | None = None,
    redirect_uris: list[str] | None = None,
    auth_method: str = "client_secret_basic",
) -> tuple[OAuthClient, str]:
    """Create a confidential client; returns it with its secret (shown once, stored hashed)."""
    unknown = set(scope.split()) - set(SCOPES)
    if unknown:
        raise InvalidInput("未知的授权范围", errors={"scope": [f"未知：{' '.join(sorted(unknown))}"]})
    if {"implicit", "password"} & set(grant_types):
        raise InvalidInput("不允许的授权类型", errors={"grant_types": ["不支持 implicit 与 password。"]})
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id="pc_" + secrets.token_hex(12),
        client_secret_hash=hash_secret(secret),
        name=name,
        scope=scope,
        grant_types=grant_types,
        token_endpoint_auth_method=auth_method,
        redirect_uris=redirect_uris or [],
        provider_id=provider_id,
        institution_id=institution_id,
    )
    session.add(client)
    session.flush()
    return client, secret


def rotate_client_secret(session: Session, client_id: str) -> str:
    client = session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise NotFound(f"没有客户端 {client_id}")
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_secret(secret)
    revoke_client_tokens(session, client)
    session.flush()
    return secret


def revoke_client_tokens(session: Session, client: OAuthClient) -> int:
    res = session.execute(
        sa.update(OAuthToken)
        .where(OAuthToken.client_pk == client.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def clients_of_provider(session: Session, provider_id: int) -> list[OAuthClient]:
    return list(
        session.scalars(sa.select(OAuthClient).where(OAuthClient.provider_id == provider_id).order_by(OAuthClient.id))
    )
