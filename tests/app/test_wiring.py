"""What the roof hands the lower layers at start-up (app.wiring): without it they refuse to
work rather than work wrongly (grades without list caps, batches left ungraded)."""

from __future__ import annotations

import pytest

from app.archive import ingestion
from app.core import refusals
from app.oversight import memberships
from app.scoring import services as scoring
from app.wiring import wire
from tests.conftest import contract_row


@pytest.fixture
def unwired():
    saved = (list(scoring._membership_source), list(ingestion._reevaluate), list(refusals._writer))
    scoring._membership_source.clear()
    ingestion._reevaluate.clear()
    refusals._writer.clear()
    try:
        yield
    finally:
        scoring._membership_source[:], ingestion._reevaluate[:], refusals._writer[:] = saved


def test_without_wiring_scoring_refuses_to_grade(db, make_enterprise, unwired):
    ent = make_enterprise()
    with pytest.raises(RuntimeError, match="not wired"):
        scoring.run_evaluations(db, "single", [ent.id])
    wire()
    assert scoring._membership_source == [memberships.list_memberships]
    assert scoring.run_evaluations(db, "single", [ent.id]).firms == 1


def test_without_wiring_a_batch_is_not_left_ungraded(db, make_enterprise, make_provider, unwired):
    ent, provider = make_enterprise(), make_provider(["contract"])
    with pytest.raises(RuntimeError, match="not wired"):
        ingestion.submit_batch(db, provider, [contract_row(ent.uscc, "w-1")], source="api")
    wire()
    result = ingestion.submit_batch(db, provider, [contract_row(ent.uscc, "w-2")], source="api")
    assert result.committed and result.accepted == 1 and result.reevaluated == 1
    unchanged = ingestion.submit_batch(db, provider, [contract_row(ent.uscc, "w-2")], source="api")
    assert unchanged.unchanged == 1 and unchanged.reevaluated == 0  # nothing changed: nobody re-graded
    skipped = ingestion.submit_batch(db, provider, [contract_row(ent.uscc, "w-3")], source="file", reevaluate=False)
    assert skipped.accepted == 1 and skipped.reevaluated == 0


def test_without_wiring_a_refusal_is_not_silently_dropped(db, unwired):
    refusals.refuse_later(db, refusals.Pending(actor="ip:1", action="test.refused", code="x"))
    with pytest.raises(RuntimeError, match="no refusal writer"):
        refusals.write_pending(db)


def test_wiring_maps_every_model():
    """The OAuth token names the consent it is bound to without importing it (a layer up):
    the roof's wiring imports every model, so the mappers configure."""
    import sqlalchemy.orm

    wire()
    sqlalchemy.orm.configure_mappers()
    from app.oauth.models import OAuthToken

    assert OAuthToken.consent.property.mapper.class_.__name__ == "Consent"


def test_the_default_instance_folder_is_the_checkout_s(monkeypatch):
    from pathlib import Path

    from app.core import config

    monkeypatch.delenv("PC_INSTANCE_PATH", raising=False)
    root = Path(__file__).resolve().parents[2]
    assert root == config.PROJECT_ROOT and (root / "pyproject.toml").exists()
    assert config._default_instance_path() == root / "instance"


def test_a_command_run_without_the_roof_says_so(monkeypatch, tmp_path):
    from app.core.cli import Context

    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(Context, "starters", [])
    with pytest.raises(RuntimeError, match="app.cli"):
        Context()


def test_without_wiring_the_oauth_server_checks_no_token():
    from app.oauth import server

    saved = list(server._binding)
    server._binding.clear()
    try:
        with pytest.raises(RuntimeError, match="not wired"):
            server.HashedBearerTokenValidator().authenticate_token("any")
    finally:
        server._binding[:] = saved
    from consent.server import BINDING

    assert server.bound() is BINDING  # what the roof hands in: consent-bound grants and checks
    assert [g.__name__ for g, _ in BINDING.grants()] == ["ClientCredentialsGrant", "AuthorizationCodeGrant",
                                                          "RefreshTokenGrant"]
