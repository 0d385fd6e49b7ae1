"""The OAuth 2.0 authorization server as consents bind it (Authlib; its consent-blind parts
are ``app.oauth.server``).

Grants: client credentials (data providers; banks for consent requests, or for a token
bound to a consent the firm already granted), authorization code with PKCE **S256 only**
(the consent screen; the token is bound to the consent) and refresh tokens (periodic
consents only; they die with the consent).  Introspection reports a token whose consent is
not active as inactive, and the bearer check refuses it with the consent's own reason.

Authlib pitfalls designed around (see ../shared/CONSENT.md): PKCE ``plain`` and missing
challenges are refused; codes live 60 s and are redeemed with one conditional UPDATE (a
reused code revokes the tokens from its first use); revocation and introspection take only
the client's registered authentication method and only its own tokens; resource errors keep
RFC 6750's ``WWW-Authenticate`` and token errors RFC 6749's shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from flask import g
from flask import request as flask_request

from app.accounts.models import User
from app.audit.services import Pending
from app.core import clock
from app.core.extensions import after_rollback, db_session, settings
from app.oauth.models import AuthorizationCode, OAuthClient, OAuthToken, hash_secret
from app.oauth.scopes import REPORT_SCOPES
from app.oauth.server import (
    CODE_TTL,
    PRIVATE_KEY_JWT,
    Binding,
    S256Only,
    revoke_code_tokens,
    sayable_text,
)
from consent.errors import Refused
from consent.gate import STATUS_REFUSALS
from consent.models import FINAL_STATUSES, Consent, ConsentStatus, FetchType, purpose_fits
from consent.services import access_token

# A consent whose purpose its institution's kind may not hold (a lender's 投标资格审查, made
# before purposes were tied to kinds) backs no code and no token.
PURPOSE_NOT_PERMITTED = "the consent's purpose is not one this client's institution may hold"


def _consent_usable(consent: Consent) -> str | None:
    """Why a consent cannot back a new token, or None."""
    if not purpose_fits(consent.institution.kind, consent.purpose):
        return PURPOSE_NOT_PERMITTED
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
        raise InvalidScopeError(description=sayable_text(f"scope beyond the consent: {' '.join(sorted(beyond))}"))
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
                description=sayable_text(f"scope not granted to this client: {' '.join(sorted(requested - allowed))}")
            )
        self.request.pc_scope = " ".join(sorted(requested)) if requested else " ".join(sorted(allowed))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.pc_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


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
        if not purpose_fits(consent.institution.kind, consent.purpose):
            raise InvalidRequestError(PURPOSE_NOT_PERMITTED, redirect_uri=redirect_uri)
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
        # Used up whatever follows: a redemption that then fails (a wrong PKCE verifier, a
        # redirect_uri that differs) must not leave the code for another try.
        redeemed_pk, redeemed_at = item.id, now
        after_rollback(session, lambda s: _spend_code(s, redeemed_pk, redeemed_at))
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
        expires_in = expires_in_for(consent, settings().access_token_ttl)
        return dict(super().generate_token(user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
                                           include_refresh_token=consent.fetch_type == FetchType.periodic))


def _spend_code(session: Any, code_pk: int, at: dt.datetime) -> None:
    session.execute(sa.update(AuthorizationCode).where(AuthorizationCode.id == code_pk, AuthorizationCode.used_at.is_(None))
                    .values(used_at=at).execution_options(synchronize_session=False))


def expires_in_for(consent: Consent, ttl: int) -> int:
    """Seconds a token bound to ``consent`` may live: the configured lifetime, but never past
    the consent's end (RFC 6749 ``expires_in`` must not promise more than the grant allows)."""
    left = int((consent.valid_until - clock.now()).total_seconds())
    return max(1, min(ttl, left))


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
        if token is not None and token.revoked_at is not None and token.auth_code_pk is not None:
            # A rotated (or revoked) refresh token presented again: stolen, or its holder's
            # copy is — revoke every token of the family (RFC 9700 §4.14.2), after the
            # refusal's rollback.
            family = token.auth_code_pk
            after_rollback(db_session(), lambda s: revoke_code_tokens(s, family))
            g.pc_oauth_refusal = "refresh_token_reused"
            return None
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

    def generate_token(self, user: Any = None, scope: Any = None, grant_type: Any = None, expires_in: Any = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        consent: Consent = self.request.pc_consent
        return dict(super().generate_token(user=user, scope=scope, grant_type=grant_type,
                                           expires_in=expires_in_for(consent, settings().access_token_ttl),
                                           include_refresh_token=include_refresh_token))


# --- the binding the OAuth server is handed (app.wiring) ----------------------------------------

def refuse_ended(token: OAuthToken) -> None:
    """A token whose consent ended is refused with the consent's own reason (its revocation
    came with the consent's)."""
    consent = token.consent
    if consent is not None and (consent.status in FINAL_STATUSES or consent.valid_until <= clock.now()):
        status = consent.status if consent.status in FINAL_STATUSES else ConsentStatus.expired
        code = {ConsentStatus.revoked: "consent_revoked", ConsentStatus.rejected: "consent_rejected"}.get(
            status, "consent_expired")
        raise Refused(STATUS_REFUSALS[status][1], code=code, audit=Pending(
            actor=f"client:{token.client.client_id}", action="oauth.resource", code=code,
            subject_type="consent", subject_id=consent.consent_id, detail={"path": flask_request.path}))


def introspection_claims(token: OAuthToken) -> dict[str, Any] | None:
    """What introspection says of a token's consent; None (inactive) once it is not active."""
    consent = token.consent
    if consent is None:
        return {}
    if consent.status != ConsentStatus.active or consent.valid_until <= clock.now():
        return None
    return {"consent_id": consent.consent_id, "sub": consent.enterprise.uscc, "purpose": str(consent.purpose)}


def consent_grants() -> list[tuple[type, list[Any]]]:
    return [(ClientCredentialsGrant, []), (AuthorizationCodeGrant, [S256Only(required=True)]), (RefreshTokenGrant, [])]


BINDING = Binding(load_token=access_token, refuse_ended=refuse_ended, introspect=introspection_claims,
                  grants=consent_grants)
