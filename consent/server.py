"""The OAuth 2.0 authorization server (Authlib) and the resource protector.

Grants: client credentials (data providers; banks for consent requests, or for a token
bound to a consent the firm already granted), authorization code with PKCE **S256 only**
(the consent screen; the token is bound to the consent) and refresh tokens (periodic
consents only; they die with the consent).  Client authentication: ``client_secret_basic``
(``_post`` for data providers) or ``private_key_jwt`` (RFC 7523; EdDSA/ES256/PS256, audience
checked, ``jti`` single use).  Secrets, tokens and codes are stored only as SHA-256 hashes.

Authlib pitfalls designed around (see ../shared/CONSENT.md): PKCE ``plain`` and missing
challenges are refused; codes live 60 s and are redeemed with one conditional UPDATE (a
reused code revokes the tokens from its first use); revocation and introspection take only
the client's registered authentication method and only its own tokens; resource errors keep
RFC 6750's ``WWW-Authenticate`` and token errors RFC 6749's shape.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, g
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.audit.services import Pending
from app.core import clock
from app.core.errors import DomainError
from app.core.extensions import after_rollback, db_session, settings
from app.oauth.models import AuthorizationCode, OAuthClient, OAuthToken, UsedAssertion, hash_secret
from app.oauth.scopes import REPORT_SCOPES, SCOPES
from consent.errors import Refused
from consent.gate import STATUS_REFUSALS
from consent.models import FINAL_STATUSES, Consent, ConsentStatus, FetchType

REALM = "powercredit"
CODE_TTL = dt.timedelta(seconds=60)
ASSERTION_MAX_LIFETIME = dt.timedelta(minutes=10)
ASSERTION_ALGS = ["Ed25519", "EdDSA", "ES256", "PS256"]
PRIVATE_KEY_JWT = "private_key_jwt"

OAUTH_ERROR_TEXT = {
    "missing_authorization": "缺少 Authorization: Bearer 访问令牌",
    "invalid_token": "访问令牌无效、已过期或已撤销",
    "insufficient_scope": "访问令牌的授权范围不足",
    "unsupported_token_type": "不支持的令牌类型",
}


class OAuthProblem(DomainError):
    """An RFC 6750 resource error rendered as problem+json, keeping WWW-Authenticate."""

    audit: Pending | None = None


def issuer() -> str:
    """The issuer: ``PC_ISSUER`` (set it in production: audiences and RFC 9207 ``iss`` must
    not follow the Host header); without it, this request's host (development)."""
    configured = settings().issuer
    return configured.rstrip("/") if configured else flask_request.host_url.rstrip("/")


def query_client(client_id: str) -> OAuthClient | None:
    if not isinstance(client_id, str) or "\x00" in client_id or len(client_id) > 64:
        return None  # e.g. an assertion's "sub", read before its signature is checked
    return db_session().scalar(
        sa.select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None))
    )


def save_token(token: dict[str, Any], request: Any) -> None:
    now = clock.now()
    consent: Consent | None = getattr(request, "pc_consent", None)
    code: AuthorizationCode | None = getattr(request, "authorization_code", None)
    parent: OAuthToken | None = getattr(request, "refresh_token", None)
    code_pk = code.id if isinstance(code, AuthorizationCode) else (
        parent.auth_code_pk if isinstance(parent, OAuthToken) else None)  # a refreshed token descends from the code
    user = getattr(request, "user", None)
    refresh_expires = consent.valid_until if consent is not None and token.get("refresh_token") else None
    session = db_session()
    session.add(
        OAuthToken(
            client_pk=request.client.id,
            access_token_hash=hash_secret(token["access_token"]),
            refresh_token_hash=hash_secret(token["refresh_token"]) if token.get("refresh_token") else None,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=min(now + dt.timedelta(seconds=int(token["expires_in"])),
                           consent.valid_until if consent is not None else dt.datetime.max.replace(tzinfo=dt.UTC)),
            refresh_expires_at=refresh_expires,
            consent_pk=consent.id if consent is not None else None,
            auth_code_pk=code_pk,
            user_id=user.id if isinstance(user, User) else None,
        )
    )
    session.flush()


def _consent_usable(consent: Consent) -> str | None:
    """Why a consent cannot back a new token, or None."""
    if consent.status != ConsentStatus.active:
        return f"consent is {consent.status}"
    if consent.valid_until <= clock.now():
        return "consent expired"
    return None


def _narrow_scope(requested: str | None, consent: Consent) -> str:
    """The token scope: the consent's sections, narrowed to those requested."""
    allowed = consent.oauth_scope.split()
    if not requested:
        return " ".join(allowed)
    asked = requested.split()
    beyond = set(asked) - set(allowed)
    if beyond:
        raise InvalidScopeError(description=f"scope beyond the consent: {' '.join(sorted(beyond))}")
    return " ".join(s for s in allowed if s in asked)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Providers (``records:write``) and banks (``consents:write``).  A bank may add
    ``consent_id`` to get a token bound to a consent its firm already granted (on the firm's
    page or through the marketplace); report scopes are only ever granted that way."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: OAuthClient = self.request.client
        consent_id = self.request.form.get("consent_id")
        if consent_id:
            consent = db_session().scalar(sa.select(Consent).where(Consent.consent_id == consent_id))
            if consent is None or client.institution_id is None or consent.institution_id != client.institution_id:
                raise InvalidGrantError(description="unknown consent_id")
            why = _consent_usable(consent)
            if why:
                raise InvalidGrantError(description=why)
            self.request.pc_consent = consent
            self.request.pc_scope = _narrow_scope(self.request.payload.scope, consent)
            return
        requested = set((self.request.payload.scope or "").split())
        if requested & REPORT_SCOPES:
            raise InvalidScopeError(description="report scopes need a consent (consent_id)")
        allowed = set(client.scope.split()) - REPORT_SCOPES
        if requested - allowed:
            raise InvalidScopeError(
                description=f"scope not granted to this client: {' '.join(sorted(requested - allowed))}"
            )
        self.request.pc_scope = " ".join(sorted(requested)) if requested else " ".join(sorted(allowed))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.pc_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 required: a missing challenge or ``plain`` is refused (Authlib
    accepts both by default)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE: 'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        consent_id = self.request.payload.data.get("consent_id")
        if not consent_id:
            raise InvalidRequestError("Missing 'consent_id': create the consent first (POST /api/v1/consents)",
                                      redirect_uri=redirect_uri)
        consent = db_session().scalar(sa.select(Consent).where(Consent.consent_id == consent_id))
        client: OAuthClient = self.request.client
        if consent is None or consent.institution_id != client.institution_id:
            raise InvalidRequestError("unknown 'consent_id'", redirect_uri=redirect_uri)
        if self.request.payload.scope:
            _narrow_scope_or_redirect(self.request.payload.scope, consent, redirect_uri)
        self.request.pc_consent = consent
        return str(redirect_uri)

    def save_authorization_code(self, code: str, request: Any) -> None:
        consent: Consent = request.pc_consent
        now = clock.now()
        db_session().add(AuthorizationCode(
            code_hash=hash_secret(code), client_pk=request.client.id, user_id=request.user.id,
            consent_pk=consent.id, redirect_uri=request.payload.redirect_uri or "",
            scope=_narrow_scope(request.payload.scope, consent),
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method=request.payload.data.get("code_challenge_method", "S256"),
            issued_at=now, expires_at=now + CODE_TTL,
        ))
        db_session().flush()

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        """Redeem atomically: exactly one of any number of concurrent redemptions wins.  A
        code presented again revokes the tokens issued from its first use (RFC 6749 §4.1.2)."""
        session = db_session()
        now = clock.now()
        digest = hash_secret(code)
        won = session.execute(
            sa.update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == digest, AuthorizationCode.client_pk == client.id,
                   AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at > now)
            .values(used_at=now).execution_options(synchronize_session=False)
        )
        item = session.scalar(sa.select(AuthorizationCode).where(AuthorizationCode.code_hash == digest,
                                                                 AuthorizationCode.client_pk == client.id))
        if won.rowcount != 1:  # type: ignore[attr-defined]
            if item is not None and item.used_at is not None and item.used_at != now:
                code_pk = item.id
                after_rollback(session, lambda s: revoke_code_tokens(s, code_pk))
                g.pc_oauth_refusal = "code_reused"
            return None
        assert item is not None
        consent = session.get(Consent, item.consent_pk)
        if consent is None or _consent_usable(consent):
            return None
        self.request.pc_consent = consent
        return item

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        return None  # redeemed (used_at set), kept for reuse detection

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return db_session().get(User, authorization_code.user_id)

    def generate_token(self, user: Any = None, scope: Any = None, grant_type: Any = None, expires_in: Any = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        consent: Consent = self.request.pc_consent
        return dict(super().generate_token(user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
                                           include_refresh_token=consent.fetch_type == FetchType.periodic))


def _narrow_scope_or_redirect(scope: str, consent: Consent, redirect_uri: str) -> None:
    try:
        _narrow_scope(scope, consent)
    except InvalidScopeError as exc:
        exc.redirect_uri = redirect_uri
        raise


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: the old refresh token is revoked

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        token = db_session().scalar(
            sa.select(OAuthToken).where(OAuthToken.refresh_token_hash == hash_secret(refresh_token))
        )
        if token is None or token.revoked_at is not None or token.consent is None:
            return None
        if token.refresh_expires_at is None or token.refresh_expires_at <= clock.now():
            return None
        if _consent_usable(token.consent) or token.client_pk != getattr(self.request.client, "id", None):
            return None
        # Redeem atomically (rotation): of concurrent refreshes with one token, one wins.
        spent = db_session().execute(
            sa.update(OAuthToken).where(OAuthToken.id == token.id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=clock.now()).execution_options(synchronize_session=False))
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            return None
        self.request.pc_consent = token.consent
        return token

    def authenticate_user(self, refresh_token: OAuthToken) -> User | None:
        return db_session().get(User, refresh_token.user_id) if refresh_token.user_id else None

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        return None  # already spent by the conditional UPDATE in authenticate_refresh_token


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication with the client's registered JWKS."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def get_audiences(self) -> list[str]:
        base = issuer()
        return [base, f"{base}/oauth/token", f"{base}/oauth/revoke", f"{base}/oauth/introspect"]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        if not client.jwks:
            raise InvalidClientError(description="no JWKS registered for this client")
        return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            with warnings.catch_warnings():  # joserfc flags "EdDSA" (RFC 9864 prefers "Ed25519")
                warnings.simplefilter("ignore")
                token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except JoseError as e:
            raise InvalidClientError(description=e.description or "invalid client assertion") from e
        except ValueError as e:
            raise InvalidClientError(description="invalid client assertion") from e
        exp = token.claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or not 0 < exp < 2**33:
            raise InvalidClientError(description="invalid claim: 'exp'")
        if dt.datetime.fromtimestamp(exp, dt.UTC) - clock.now() > ASSERTION_MAX_LIFETIME:
            raise InvalidClientError(description="client assertion lives too long (at most 10 minutes)")
        self.verify_claims(token.claims)
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        session = db_session()
        client = query_client(str(claims["sub"]))
        if client is None:
            return False
        client_pk, jti_text = client.id, str(jti)[:200]
        expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        try:
            with session.begin_nested():
                session.add(UsedAssertion(client_pk=client_pk, jti=jti_text, expires_at=expires))
        except IntegrityError:
            return False

        def keep_spent(s: Session) -> None:  # a refused request still spends its assertion
            s.add(UsedAssertion(client_pk=client_pk, jti=jti_text, expires_at=expires))
            s.flush()

        after_rollback(session, keep_spent)
        return True


def _query_any_token(token_string: str, hint: str | None) -> OAuthToken | None:
    digest = hash_secret(token_string)
    column = OAuthToken.refresh_token_hash if hint == "refresh_token" else OAuthToken.access_token_hash
    session = db_session()
    token = session.scalar(sa.select(OAuthToken).where(column == digest))
    if token is None:
        other = OAuthToken.access_token_hash if hint == "refresh_token" else OAuthToken.refresh_token_hash
        token = session.scalar(sa.select(OAuthToken).where(other == digest))
    return token


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009; a client revokes only its own tokens, with its registered auth method."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return _query_any_token(token_string, token_type_hint)

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        if token.revoked_at is None:
            token.revoked_at = clock.now()
        db_session().flush()


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for banks: only their own tokens; a token whose consent is not active is
    reported inactive."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return _query_any_token(token_string, token_type_hint)

    def check_permission(self, token: OAuthToken, client: OAuthClient, request: Any) -> bool:
        return token.client_pk == client.id

    def introspect_token(self, token: OAuthToken) -> dict[str, Any]:
        consent = token.consent
        if consent is not None and (consent.status != ConsentStatus.active or consent.valid_until <= clock.now()):
            return {"active": False}
        body: dict[str, Any] = {
            "active": True, "client_id": token.client.client_id, "scope": token.scope, "token_type": "Bearer",
            "iat": int(token.issued_at.timestamp()), "exp": int(token.expires_at.timestamp()), "iss": issuer(),
        }
        if consent is not None:
            body.update(consent_id=consent.consent_id, sub=consent.enterprise.uscc, purpose=str(consent.purpose))
        return body


class Issuer(IssuerParameter):  # type: ignore[misc]
    def get_issuer(self) -> str:
        return issuer()

    def add_issuer_parameter(self, authorization_server: Any, response: Any) -> None:
        if response.location:  # once: an error inside the response already has it (handle_error_response)
            response.location = with_issuer(response.location)


def with_issuer(location: str) -> str:
    """The redirect with RFC 9207's ``iss`` added (once)."""
    if "iss" in parse_qs(urlsplit(location).query):
        return location
    return add_params_to_uri(location, {"iss": issuer()})


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(query_client=query_client, save_token=save_token)

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Any:
        """Error responses redirected to the client carry ``iss`` too (RFC 9207 §2: "in
        authorization responses to the client, including error responses"); authlib adds it
        to successful ones only."""
        response = super().handle_error_response(request, error)
        if getattr(error, "redirect_uri", None) and response.status_code in (302, 303) and response.location:
            response.location = with_issuer(response.location)
        return response

    def init_app(self, app: Flask, query_client: Any = None, save_token: Any = None) -> None:
        app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
        super().init_app(app)
        if getattr(self, "_pc_registered", False):  # one server object, several apps (tests, CLI)
            return
        self._pc_registered = True
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT())
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(Issuer())


class HashedBearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        from consent.services import access_token

        return access_token(db_session(), token_string)

    def validate_token(self, token: OAuthToken | None, scopes: Any, request: Any) -> None:
        # A token whose consent ended says why (its revocation came with the consent's).
        if token is not None and token.client.disabled_at is not None:
            token = None  # a disabled client's tokens are dead
        consent = token.consent if token is not None else None
        if consent is not None and (consent.status in FINAL_STATUSES or consent.valid_until <= clock.now()):
            status = consent.status if consent.status in FINAL_STATUSES else ConsentStatus.expired
            code = {ConsentStatus.revoked: "consent_revoked", ConsentStatus.rejected: "consent_rejected"}.get(
                status, "consent_expired")
            assert token is not None
            raise Refused(STATUS_REFUSALS[status][1], code=code, audit=Pending(
                actor=f"client:{token.client.client_id}", action="oauth.resource", code=code,
                subject_type="consent", subject_id=consent.consent_id, detail={"path": flask_request.path}))
        super().validate_token(token, scopes, request)


def revoke_code_tokens(session: Session, code_pk: int) -> None:
    """A reused authorization code: revoke what its first redemption issued."""
    session.execute(sa.update(OAuthToken).where(OAuthToken.auth_code_pk == code_pk, OAuthToken.revoked_at.is_(None))
                    .values(revoked_at=clock.now()).execution_options(synchronize_session=False))


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
        problem.audit = Pending(actor=f"ip:{flask_request.remote_addr}", action="oauth.resource", code=error.error,
                                detail={"path": flask_request.path,
                                        "token_in_query": "access_token" in flask_request.args})
        raise problem


authorization = Server()
require_oauth = Protector()
require_oauth.register_token_validator(HashedBearerTokenValidator())
