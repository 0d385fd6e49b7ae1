"""The OAuth 2.0 server's parts that know nothing of consents (Authlib): the issuer, client
lookup and ``private_key_jwt`` client authentication (RFC 7523; EdDSA/ES256/PS256, audience
checked, ``jti`` single use), PKCE S256 only, RFC 7009 revocation, RFC 9207 ``iss``, and the
resource protector's RFC 6750 refusals. The consent-bound grants, introspection and token
check are ``consent.server``'s."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
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
from app.core import auth, clock
from app.core.errors import DomainError
from app.core.extensions import after_rollback, db_session, settings
from app.oauth.models import AuthorizationCode, OAuthClient, OAuthToken, UsedAssertion, hash_secret
from app.oauth.scopes import SCOPES

# --- what a token is bound to -------------------------------------------------------------------
# A bank's token is bound to a consent, a layer above: the consent package hands the server
# its grants and how to load, check and describe a bound token, at start-up (app.wiring).

@dataclass(frozen=True)
class Binding:
    load_token: Callable[[Session, str], OAuthToken | None]  # a bearer string → its token, and what binds it
    refuse_ended: Callable[[OAuthToken], None]  # raises when what the token is bound to has ended
    introspect: Callable[[OAuthToken], dict[str, Any] | None]  # the claims it adds; None: inactive
    grants: Callable[[], list[tuple[type, list[Any]]]]  # the grants to register, with their extensions


_binding: list[Binding] = []


def bind(binding: Binding) -> None:
    _binding[:] = [binding]


def bound() -> Binding:
    if not _binding:
        raise RuntimeError("the OAuth server's token binding is not wired: call app.wiring.wire() at start-up")
    return _binding[0]


REALM = auth.REALM  # the realm of every challenge


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


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication with the client's registered JWKS."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __call__(self, query_client: Any, request: Any) -> Any:
        """As Authlib authenticates, and a ``client_id`` sent beside the assertion must be the
        assertion's ``sub`` (RFC 7521 §4.2): a request may not name one client and prove another."""
        client = super().__call__(query_client, request)
        named = request.form.get("client_id") if client is not None else None
        if named is not None and named != client.client_id:
            raise InvalidClientError(description="'client_id' differs from the client assertion's 'sub'")
        return client

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
            raise InvalidClientError(description=sayable_text(e.description or "invalid client assertion")) from e
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


def query_any_token(token_string: str, hint: str | None) -> OAuthToken | None:
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
        return query_any_token(token_string, token_type_hint)

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        if token.revoked_at is None:
            token.revoked_at = clock.now()
        db_session().flush()


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


def revoke_code_tokens(session: Session, code_pk: int) -> None:
    """A reused authorization code: revoke what its first redemption issued."""
    session.execute(sa.update(OAuthToken).where(OAuthToken.auth_code_pk == code_pk, OAuthToken.revoked_at.is_(None))
                    .values(revoked_at=clock.now()).execution_options(synchronize_session=False))


class Protector(ResourceProtector):  # type: ignore[misc]
    def raise_error_response(self, error: OAuth2Error) -> None:
        # RFC 6750 §3: no error code when the request had no credentials at all.
        challenge = f'Bearer realm="{REALM}"'
        text = OAUTH_ERROR_TEXT.get(error.error, error.description or error.error)
        if error.error != "missing_authorization":
            challenge += f', error="{error.error}"'
        needed = " ".join(getattr(g, "pc_required_scopes", ()) or ())
        if error.error == "insufficient_scope" and needed:
            challenge += f', scope="{needed}"'
            text += f"：本接口需要范围 {needed}（申请令牌时在 scope 中列出）"
        headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
        problem = OAuthProblem(
            text,
            code=error.error,
            headers=headers,
        )
        problem.status = error.status_code
        problem.audit = Pending(actor=f"ip:{flask_request.remote_addr}", action="oauth.resource", code=error.error,
                                detail={"path": flask_request.path,
                                        "token_in_query": "access_token" in flask_request.args})
        raise problem


def save_token(token: dict[str, Any], request: Any) -> None:
    now = clock.now()
    consent: Any = getattr(request, "pc_consent", None)  # what the grant bound the token to (a consent)
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
    if consent is not None:
        # The token response names the consent it is bound to (authlib answers with this dict):
        # the bank's system files each token under the consent it acts for.
        token["consent_id"] = consent.consent_id


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for banks: only their own tokens; a token whose binding (its consent) has
    ended is reported inactive."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return query_any_token(token_string, token_type_hint)

    def check_permission(self, token: OAuthToken, client: OAuthClient, request: Any) -> bool:
        return token.client_pk == client.id

    def introspect_token(self, token: OAuthToken) -> dict[str, Any]:
        extra = bound().introspect(token)
        if extra is None:
            return {"active": False}
        return {"active": True, "client_id": token.client.client_id, "scope": token.scope, "token_type": "Bearer",
                "iat": int(token.issued_at.timestamp()), "exp": int(token.expires_at.timestamp()), "iss": issuer(),
                **extra}


UNSAYABLE = "Error description contains forbidden characters"  # authlib's ValueError (authlib.oauth2.base)


def sayable_text(text: str) -> str:
    """``text`` as an error description may hold it (RFC 6749 §5.2: printable ASCII less
    ``"`` and ``\\``): any other character becomes ``?``."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)


def unsayable_request() -> InvalidRequestError:
    return InvalidRequestError("a parameter holds characters that OAuth does not allow in it "
                               "(RFC 6749 Appendix A: printable ASCII)")


@contextmanager
def sayable() -> Iterator[None]:
    """Authlib repeats some parameters in its error descriptions (``response_type``,
    ``redirect_uri``) and raises ValueError when they hold characters RFC 6749 §5.2 keeps
    out of a description (a control character, non-ASCII, ``"`` or ``\\``): such a request
    is an ``invalid_request``, not a server error."""
    try:
        yield
    except ValueError as exc:
        if not str(exc).startswith(UNSAYABLE):
            raise
        raise unsayable_request() from exc


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(query_client=query_client, save_token=save_token)

    def get_consent_grant(self, request: Any = None, end_user: Any = None) -> Any:
        with sayable():
            return super().get_consent_grant(request=request, end_user=end_user)

    def create_authorization_response(self, request: Any = None, grant_user: Any = None, grant: Any = None) -> Any:
        return self._answering(lambda: super(Server, self).create_authorization_response(
            request=request, grant_user=grant_user, grant=grant))

    def create_token_response(self, request: Any = None) -> Any:
        return self._answering(lambda: super(Server, self).create_token_response(request=request))

    def create_endpoint_response(self, name: str, request: Any = None) -> Any:
        return self._answering(lambda: super(Server, self).create_endpoint_response(name, request=request))

    def _answering(self, respond: Callable[[], Any]) -> Any:
        """Authlib's response, or an ``invalid_request`` in its shape where it could not
        write its own (see :func:`sayable`)."""
        try:
            return respond()
        except ValueError as exc:
            if not str(exc).startswith(UNSAYABLE):
                raise
            return self.handle_response(*unsayable_request()())

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
        for grant, extensions in bound().grants():
            self.register_grant(grant, extensions)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(Issuer())


class HashedBearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        return bound().load_token(db_session(), token_string)

    def validate_token(self, token: OAuthToken | None, scopes: Any, request: Any) -> None:
        if token is not None and token.client.disabled_at is not None:
            token = None  # a disabled client's tokens are dead
        if token is not None:
            bound().refuse_ended(token)  # a token whose consent ended says why
        super().validate_token(token, scopes, request)


authorization = Server()


require_oauth = Protector()
require_oauth.register_token_validator(HashedBearerTokenValidator())
