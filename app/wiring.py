"""What the roof connects at start-up: where a lower layer needs something of a higher one,
the higher one hands it in here (the application factory, the CLI and the benchmarks call
:func:`wire`; it may be called again)."""

from __future__ import annotations


def wire() -> None:
    import app.models  # noqa: F401 — every model mapped (the OAuth token's consent is named, not imported)
    from app.archive import ingestion
    from app.audit import services as audit
    from app.core import auth
    from app.oauth import bearer
    from app.oauth import server as oauth_server
    from app.oversight import memberships
    from app.scoring import services as scoring
    from consent import server as consent_server

    audit.init_app()  # refusals the unit of work remembers are written to the audit log
    scoring.set_membership_source(memberships.list_memberships)  # list caps in every grade
    ingestion.set_reevaluation(scoring.reevaluated_firms)  # a provider's batch re-grades the firms it changed
    auth.set_bearer_check(bearer.acquire_token)  # the OAuth server checks every bearer token
    oauth_server.bind(consent_server.BINDING)  # consent-bound grants; tokens checked against their consent
