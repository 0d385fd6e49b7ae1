"""The OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection
(RFC 7662), the server metadata (RFC 8414) and the platform's public keys (JWKS); refusals
are audited, and every endpoint is rate-limited per address and per claimed client."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.core.extensions import ProblemSchema, csrf, db_session, limiter, signing_keys
from app.core.refusals import Pending, refuse_later
from app.oauth import schemas
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


# --- the OpenAPI document ------------------------------------------------------------------------
# These endpoints keep the RFC shapes Authlib writes (not flask-smorest views): described here,
# added to the document by create_app. The platform's own refusals on them (U+0000, plain HTTP,
# a body over the limit, too many requests, the database down) are problem+json.

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}
_CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]  # client_secret_basic, or private_key_jwt in the form


def _oauth_error(description: str, *, problem: bool = False, challenge: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schemas.OAuthErrorSchema}}
    if problem:
        content["application/problem+json"] = {"schema": ProblemSchema}
    headers = dict(_NO_STORE)
    if challenge:
        headers["WWW-Authenticate"] = {"description": "Basic error=…（客户端认证失败）", "schema": {"type": "string"}}
    return {"description": description, "headers": headers, "content": content}


def _client_endpoint(summary: str, body: type, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": ["oauth"], "summary": summary, "security": _CLIENT_AUTH,
        "requestBody": {"required": True, "content": {_FORM: {"schema": body}}},
        "responses": {
            "200": ok,
            "400": _oauth_error("请求有误（RFC 6749 §5.2 的 error；平台的拒绝，如空字符或非 HTTPS，为 problem+json）",
                                problem=True),
            "401": _oauth_error("客户端认证失败（invalid_client）", challenge=True),
            "default": "DEFAULT_ERROR",
        },
    }


# By endpoint (create_app adds each to the document at its rule).
OPENAPI_ROUTES: dict[str, dict[str, Any]] = {
    "oauth.token": {"post": _client_endpoint(
        "令牌（RFC 6749）：client_credentials（数据源 records:write；金融机构 consents:write，或带 consent_id 得到绑定授权的令牌）、"
        "authorization_code（PKCE S256）、refresh_token（周期性授权，轮换）",
        schemas.TokenRequestSchema,
        {"description": "访问令牌", "headers": _NO_STORE, "content": {"application/json": {"schema": schemas.TokenSchema}}})},
    "oauth.revoke": {"post": _client_endpoint(
        "撤销令牌（RFC 7009）：只能撤销本客户端的令牌；未知的令牌也答 200",
        schemas.TokenQuerySchema,
        {"description": "已撤销（或本无此令牌）", "headers": _NO_STORE,
         "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}}})},
    "oauth.introspect": {"post": _client_endpoint(
        "令牌自省（RFC 7662）：只能查询本客户端的令牌；授权不在生效中的令牌为 inactive",
        schemas.TokenQuerySchema,
        {"description": "令牌状态", "headers": _NO_STORE,
         "content": {"application/json": {"schema": schemas.IntrospectionSchema}}})},
    "oauth.metadata": {"get": {
        "tags": ["oauth"], "summary": "授权服务器元数据（RFC 8414）",
        "responses": {"200": {"description": "元数据", "content": {"application/json": {"schema": schemas.MetadataSchema}}},
                      "default": "DEFAULT_ERROR"}}},
    "oauth.jwks": {"get": {
        "tags": ["oauth"], "summary": "平台的 Ed25519 签名公钥（JWKS，含已停用的）：核验授权文书、报告、信用承诺与审计日志的签名树头",
        "responses": {"200": {"description": "公钥集", "headers": {"Cache-Control": {"schema": {"type": "string"}}},
                              "content": {"application/json": {"schema": schemas.JwksSchema}}},
                      "default": "DEFAULT_ERROR"}}},
    "consent_web.authorize": {  # the consent screen, served by consent.web
        "get": {
            "tags": ["oauth"], "parameters": [{"in": "query", "schema": schemas.AuthorizeArgs}],
            "summary": "授权页（RFC 6749 §4.1，PKCE S256）：企业管理员登录后阅读金融机构请求的授权并决定；未登录转到登录页",
            "responses": {
                "200": {"description": "授权页（HTML）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "302": {"description": "未登录：转到登录页；请求有误而回调地址可信：带 error 回到回调地址",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                "400": {"description": "请求无效（HTML 页；平台的拒绝为 problem+json）",
                        "content": {"text/html": {"schema": {"type": "string"}},
                                    "application/problem+json": {"schema": ProblemSchema}}},
                "404": {"description": "不是本企业的授权请求（HTML 页）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "409": {"description": "授权请求已处理（HTML 页）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "default": "DEFAULT_ERROR",
            },
        },
        "post": {
            "tags": ["oauth"], "parameters": [{"in": "query", "schema": schemas.AuthorizeArgs}],
            "summary": "企业在授权页上的决定：同意 → 302 回调地址?code&state&iss；拒绝 → error=access_denied",
            "requestBody": {"content": {_FORM: {"schema": schemas.AuthorizeDecisionSchema}}},
            "responses": {
                "302": {"description": "回到金融机构的回调地址（或未登录时转到登录页）",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                "400": {"description": "请求无效（HTML 页）；CSRF 校验未通过等为 problem+json",
                        "content": {"text/html": {"schema": {"type": "string"}},
                                    "application/problem+json": {"schema": ProblemSchema}}},
                "404": {"description": "不是本企业的授权请求（HTML 页）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "409": {"description": "授权请求已处理（HTML 页）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "422": {"description": "未选择同意或拒绝（HTML 页）", "content": {"text/html": {"schema": {"type": "string"}}}},
                "default": "DEFAULT_ERROR",
            },
        },
    },
}
