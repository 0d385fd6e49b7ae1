"""PowerCredit (电力征信): the application factory.

``create_app`` only wires: settings, database, extensions, blueprints and error handlers.
It creates no tables and seeds nothing (``powercredit db upgrade`` / ``seed`` do).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.accounts import passwords
from app.core.config import load_settings, private_folder
from app.core.crypto import FieldCipher, load_keyring
from app.core.db import Database
from app.core.schemas_base import INT64_MAX
from app.core.signing import load_signing_keys


class BigIntConverter(IntegerConverter):
    """``<int:…>`` within a BIGINT: a larger id in a path is simply not found (404), where the
    database driver would raise OverflowError."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(url_map, *args, **kwargs)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = load_settings(overrides)
    passwords.configure(settings.password_hash)
    private_folder(settings.instance_path)  # secrets, keys and the SQLite database: owner only
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.url_map.converters["int"] = BigIntConverter  # before any route is added
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_batch_bytes,
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,  # PC_SECURE_COOKIES=1 behind TLS
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_CHECK_DEFAULT=True,
        API_TITLE="PowerCredit 电力征信 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        API_SPEC_OPTIONS={"info": {"description": (
            "PowerCredit 电力征信的 REST API（OpenAPI 3）。\n\n"
            "金融机构接入请先读 **[金融机构接入指南](/docs/integration)**：客户端凭证令牌（`consents:write`）→ "
            "`POST /api/v1/consents` → 企业经授权码 + PKCE S256 同意 → 换取绑定授权的令牌（应答含 `consent_id`）→ "
            "`POST /api/v1/reports` → 按收到的字节保存 → 离线核验。报告的规范化 JSON、SHA-256 摘要与 Ed25519 JWS"
            "（`typ: pc-report+jws`）的逐字节规则和可复现的示例都在指南中。\n\n"
            "签名公钥：[/.well-known/jwks.json](/.well-known/jwks.json)；授权服务器元数据（RFC 8414）："
            "[/.well-known/oauth-authorization-server](/.well-known/oauth-authorization-server)。"
            "未带会话或令牌的调用一律先得到 401 及其质询（系统调用的接口 Bearer 在前）。"
            "错误为 RFC 7807 `application/problem+json`；OAuth 端点保持 RFC 6749 的 `{error, error_description}`。")}},
        OAUTH2_TOKEN_EXPIRES_IN={"client_credentials": settings.access_token_ttl,
                                 "authorization_code": settings.access_token_ttl,
                                 "refresh_token": settings.access_token_ttl},
        OAUTH2_REFRESH_TOKEN_GENERATOR=True,  # issued only for periodic consents (see consent.server)
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_ENABLED=True,
        PC_RATELIMIT=not settings.testing,  # tests switch limits on where they test them
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:  # behind a TLS proxy: its X-Forwarded-Proto says https
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["pc_settings"] = settings
    app.extensions["pc_db"] = Database(settings.database_url)
    app.extensions["pc_cipher"] = FieldCipher(load_keyring(settings))
    app.extensions["pc_signing_keys"] = load_signing_keys(settings)

    from app import wiring
    from app.core import jobs, ratelimit, request_log
    from app.core.errors import register_error_handlers
    from app.core.extensions import (
        api,
        api_caller_first,
        close_session,
        csrf,
        finish_session,
        limiter,
        login_manager,
    )
    from app.core.headers import security_headers
    from app.core.typography import typeset_html

    request_log.configure_logging(settings.log_level)
    wiring.wire()  # what lower layers are handed by higher ones
    jobs.configure(settings)  # events a request commits are queued for the consumer
    request_log.init_app(app)
    register_error_handlers(app)
    app.after_request(typeset_html)  # codes, numbers and dates in table cells never break (runs last)
    app.after_request(finish_session)
    app.after_request(security_headers)
    app.after_request(ratelimit.retry_after_only_on_refusals)  # runs after the limiter's (reverse order)
    app.teardown_request(close_session)

    app.before_request(api_caller_first)  # before Flask-WTF's CSRF hook: who is asking comes first
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录。"
    from app.accounts.auth import password_change_first

    app.before_request(password_change_first)  # a one-time password is changed before anything else

    from app.oauth.server import authorization

    authorization.init_app(app)

    api.init_app(app)
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": _scopes()},
                "authorizationCode": {"authorizationUrl": "/oauth/authorize", "tokenUrl": "/oauth/token",
                                      "refreshUrl": "/oauth/token", "scopes": _scopes()},
            },
        },
    )
    from consent import schemas as consent_schemas

    # Bodies parsed by hand (one of two schemas, by caller), referenced from their views' docs.
    api.spec.components.schema("ConsentRequest", schema=consent_schemas.ConsentRequestSchema)
    api.spec.components.schema("FirmGrant", schema=consent_schemas.FirmGrantSchema)
    from app.monitoring import schemas as monitoring_schemas

    api.spec.components.schema("SubscriptionRequest", schema=monitoring_schemas.SubscriptionRequestSchema)
    api.spec.components.schema("MarkRead", schema=monitoring_schemas.MarkReadSchema)
    from app.archive.api import blp as archive_api
    from app.audit.api import blp as audit_api
    from app.certificates.api import blp as certificates_api
    from app.groups.api import blp as groups_api
    from app.health import blp as health_api
    from app.monitoring.api import blp as monitoring_api
    from app.monitoring.webhook_api import blp as webhooks_api
    from app.oversight.api import blp as oversight_api
    from app.procurement.api import blp as screenings_api
    from app.scoring.api import blp as scoring_api
    from consent.api import blp as consent_api
    from marketplace.api import blp as marketplace_api
    from reports.api import blp as reports_api

    api.register_blueprint(health_api)
    api.register_blueprint(archive_api)
    api.register_blueprint(scoring_api)
    api.register_blueprint(consent_api)
    api.register_blueprint(reports_api)
    api.register_blueprint(marketplace_api)
    api.register_blueprint(oversight_api)
    api.register_blueprint(audit_api)
    api.register_blueprint(monitoring_api)
    api.register_blueprint(webhooks_api)
    api.register_blueprint(groups_api)
    api.register_blueprint(certificates_api)
    api.register_blueprint(screenings_api)

    from app.accounts import web as accounts_web
    from app.audit.web import bp as audit_web
    from app.certificates.web import bp as certificates_web
    from app.docs_web import bp as docs_web
    from app.groups.web import bp as groups_web
    from app.monitoring.web import bp as monitoring_web
    from app.monitoring.webhook_web import bp as webhooks_web
    from app.oauth.api import bp as oauth_bp
    from app.oversight.web import bp as oversight_web
    from app.procurement.web import bp as procurement_web
    from app.scoring.web import bp as scoring_web
    from app.web import bp as web_bp
    from consent.web import bp as consent_web
    from marketplace.web import bp as marketplace_web
    from reports.web import bp as reports_web

    app.register_blueprint(oauth_bp)
    app.register_blueprint(consent_web)
    app.register_blueprint(reports_web)
    app.register_blueprint(marketplace_web)
    app.register_blueprint(oversight_web)
    app.register_blueprint(audit_web)
    app.register_blueprint(scoring_web)
    app.register_blueprint(groups_web)
    app.register_blueprint(certificates_web)
    app.register_blueprint(procurement_web)
    app.register_blueprint(webhooks_web)
    app.register_blueprint(monitoring_web)
    app.register_blueprint(accounts_web.bp)
    app.register_blueprint(docs_web)
    app.register_blueprint(web_bp)
    _document_routes(app)
    return app


def _document_routes(app: Flask) -> None:
    """Routes that are not flask-smorest views (OAuth's RFC shapes, a page that also answers
    JSON, the signed-in user's API) in the OpenAPI document, as they answer."""
    from app.accounts.web import OPENAPI_ROUTES as accounts_routes
    from app.core.extensions import api
    from app.oauth.api import OPENAPI_ROUTES as oauth_routes
    from reports.web import OPENAPI_ROUTES as verify_routes

    api.spec.components.security_scheme("clientBasic", {
        "type": "http", "scheme": "basic",
        "description": "OAuth 客户端认证 client_secret_basic（client_id:client_secret）"})
    api.spec.tag({"name": "oauth", "description": "OAuth 2.0：令牌、撤销、自省、授权页、元数据与签名公钥（RFC 形式的应答）"})
    api.spec.tag({"name": "accounts", "description": "当前登录用户：本人信息、密码、会话；停用与启用用户"})
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for routes in (oauth_routes, verify_routes, accounts_routes):
        for endpoint, operations in routes.items():
            api.spec.path(rule=rules[endpoint], operations=operations)


def _scopes() -> dict[str, str]:
    from app.oauth.scopes import SCOPES

    return dict(SCOPES)
