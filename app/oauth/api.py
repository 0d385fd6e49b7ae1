"""The OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection
(RFC 7662), the server metadata (RFC 8414) and the platform's public keys (JWKS); refusals
are audited, and every endpoint is rate-limited per address and per claimed client."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.core.extensions import csrf, db_session, limiter, signing_keys
from app.core.refusals import Pending, refuse_later
from app.oauth.bearer import ADDRESS_LIMIT, address_key, bank_limit, client_rate_key
from app.oauth.scopes import SCOPES
from app.oauth.server import PRIVATE_KEY_JWT, authorization, issuer

bp = Blueprint("oauth", __name__)


def _audit_oauth_failure(response: Response, action: str) -> None:
    if response.status_code < 400:
        return
    body = response.get_json(silent=True) or {}
    code = g.pop("pc_oauth_refusal", None) or body.get("error") or "error"
    refuse_later(db_session(), Pending(
        actor=f"client:{request.authorization.username}" if request.authorization and request.authorization.username
        else f"ip:{request.remote_addr}",
        action=action, code=code,
        detail={"grant_type": request.form.get("grant_type"), "description": body.get("error_description")},
        request_id=g.get("request_id")))


@bp.post("/oauth/token")
@csrf.exempt
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
@limiter.limit(bank_limit, key_func=client_rate_key)
def token() -> Response:
    """RFC 6749 token endpoint: client_credentials, authorization_code (PKCE S256), refresh_token."""
    response: Response = authorization.create_token_response()
    _audit_oauth_failure(response, "oauth.token")
    return response


@bp.post("/oauth/revoke")
@csrf.exempt
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
@limiter.limit(bank_limit, key_func=client_rate_key)
def revoke() -> Response:
    """RFC 7009 token revocation (own tokens only)."""
    response: Response = authorization.create_endpoint_response("revocation")
    _audit_oauth_failure(response, "oauth.revoke")
    return response


@bp.post("/oauth/introspect")
@csrf.exempt
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
@limiter.limit(bank_limit, key_func=client_rate_key)
def introspect() -> Response:
    """RFC 7662 token introspection (own tokens only)."""
    response: Response = authorization.create_endpoint_response("introspection")
    _audit_oauth_failure(response, "oauth.introspect")
    return response


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Any:
    base = issuer()
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", PRIVATE_KEY_JWT],
            "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "EdDSA", "ES256", "PS256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", PRIVATE_KEY_JWT],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", PRIVATE_KEY_JWT],
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": list(SCOPES),
            "service_documentation": f"{base}/api/docs",
        }
    )


@bp.get("/.well-known/jwks.json")
def jwks() -> Any:
    """The platform's public signing keys (consents, reports, commitments), retired ones too."""
    response = jsonify(signing_keys().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
