"""OAuth endpoints (RFC shapes, not problem+json): token and RFC 8414 metadata."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.extensions import csrf, limiter
from consent.server import SCOPES, authorization

bp = Blueprint("oauth", __name__)


@bp.post("/oauth/token")
@csrf.exempt
@limiter.limit("60/minute")
def token() -> Response:
    """RFC 6749 token endpoint (client_credentials for data providers)."""
    return authorization.create_token_response()  # type: ignore[no-any-return]


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Any:
    issuer = request.host_url.rstrip("/")
    return jsonify(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/oauth/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
            "service_documentation": f"{issuer}/api/docs",
        }
    )
