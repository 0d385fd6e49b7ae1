"""Registering OAuth clients (data providers' and banks'), their secrets and their tokens'
revocation; the platform's scopes are in ``app.oauth.scopes``."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from app.accounts.models import Institution, InstitutionKind
from app.audit import services as audit
from app.core import clock
from app.core.errors import InvalidInput, NotFound
from app.oauth.models import OAuthClient, OAuthToken, hash_secret
from app.oauth.scopes import BANK_CLIENT_SCOPE, PROCUREMENT_CLIENT_SCOPE, SCOPES


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
    jwks: dict[str, Any] | None = None,
) -> tuple[OAuthClient, str | None]:
    """Create a confidential client; returns it with its secret (shown once, stored hashed;
    none for ``private_key_jwt`` clients, which authenticate with their registered keys)."""
    unknown = set(scope.split()) - set(SCOPES)
    if unknown:
        raise InvalidInput("未知的授权范围", errors={"scope": [f"未知：{' '.join(sorted(unknown))}"]})
    if {"implicit", "password"} & set(grant_types):
        raise InvalidInput("不允许的授权类型", errors={"grant_types": ["不支持 implicit 与 password。"]})
    secret = None if auth_method == "private_key_jwt" else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id="pc_" + secrets.token_hex(12),
        client_secret_hash=hash_secret(secret) if secret else None,
        jwks=jwks,
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


BANK_AUTH_METHODS = ("client_secret_basic", "private_key_jwt")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


def check_redirect_uri(uri: str) -> str | None:
    """Why a redirect URI cannot be registered, or None: absolute https (http only for
    localhost, for development), no fragment, no user info, no wildcard."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "应为绝对的 https 地址"
    if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in _LOCAL_HOSTS:
        return "除本机调试外必须使用 https"
    if parts.fragment or "@" in parts.netloc or "*" in uri:
        return "不能包含片段（#）、用户信息（@）或通配符"
    return None


def check_client_jwks(jwks: Any) -> dict[str, Any]:
    try:
        key_set = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("JWKS 格式错误", errors={"jwks": [f"无法解析：{exc}"]}) from exc
    if not key_set.keys:
        raise InvalidInput("JWKS 为空", errors={"jwks": ["至少需要一把公钥。"]})
    for key in key_set.keys:
        if key.is_private:
            raise InvalidInput("JWKS 含私钥", errors={"jwks": ["只能登记公钥，切勿上传私钥。"]})
        if key.key_type not in ("OKP", "EC", "RSA"):
            raise InvalidInput("JWKS 密钥类型不支持", errors={"jwks": ["仅支持 OKP（Ed25519）、EC（P-256）、RSA。"]})
    return {"keys": [k.as_dict(private=False) for k in key_set.keys]}


def register_bank_client(session: Session, institution: Institution, *, name: str, redirect_uris: list[str],
                         auth_method: str = "client_secret_basic",
                         jwks: dict[str, Any] | None = None) -> tuple[OAuthClient, str | None]:
    """An institution's OAuth client.  A financial institution's: client credentials
    (consent requests), authorization code with PKCE and refresh tokens; redirect URIs
    matched exactly.  A procurement institution's (招标采购单位, a power group's procurement
    platform): client credentials only, scope ``screening:write`` — it screens bidders and
    never sends anyone to the consent screen, so redirect URIs are optional."""
    procurement = institution.kind == InstitutionKind.procurement
    errors: dict[str, list[str]] = {}
    if auth_method not in BANK_AUTH_METHODS:
        errors["auth_method"] = [f"应为 {' 或 '.join(BANK_AUTH_METHODS)}。"]
    if not redirect_uris and not procurement:
        errors["redirect_uris"] = ["至少登记一个回调地址。"]
    for i, uri in enumerate(redirect_uris):
        why = check_redirect_uri(uri)
        if why:
            errors[f"redirect_uris[{i}]"] = [f"{uri}：{why}。"]
    if auth_method == "private_key_jwt" and not jwks:
        errors["jwks"] = ["private_key_jwt 需要登记客户端公钥（JWKS）。"]
    if errors:
        raise InvalidInput("客户端登记信息有误", errors=errors)
    keys = check_client_jwks(jwks) if jwks else None
    client, secret = register_client(
        session, name=name, scope=PROCUREMENT_CLIENT_SCOPE if procurement else BANK_CLIENT_SCOPE,
        grant_types=["client_credentials"] if procurement else ["client_credentials", "authorization_code",
                                                                  "refresh_token"],
        institution_id=institution.id, redirect_uris=list(dict.fromkeys(redirect_uris)), auth_method=auth_method,
        jwks=keys,
    )
    audit.record(session, "system", "client.register", subject_type="oauth_client", subject_id=client.client_id,
                 detail={"institution": institution.licence_no, "auth_method": auth_method,
                         "redirect_uris": client.redirect_uris})
    return client, secret


def clients_of_institution(session: Session, institution_id: int) -> list[OAuthClient]:
    return list(session.scalars(
        sa.select(OAuthClient).where(OAuthClient.institution_id == institution_id).order_by(OAuthClient.id)))


def rotate_client_secret(session: Session, client_id: str) -> str:
    client = session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise NotFound(f"没有客户端 {client_id}")
    if client.token_endpoint_auth_method == "private_key_jwt":
        raise InvalidInput("该客户端使用 private_key_jwt，没有密钥可轮换", errors={"client_id": ["不使用密钥。"]})
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_secret(secret)
    revoke_client_tokens(session, client)
    session.flush()
    return secret


def revoke_client_tokens(session: Session, client: OAuthClient) -> int:
    res = session.execute(
        sa.update(OAuthToken)
        .where(OAuthToken.client_pk == client.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def clients_of_provider(session: Session, provider_id: int) -> list[OAuthClient]:
    return list(
        session.scalars(sa.select(OAuthClient).where(OAuthClient.provider_id == provider_id).order_by(OAuthClient.id))
    )
