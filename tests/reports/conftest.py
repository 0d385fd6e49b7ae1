"""Report test helpers: the consent fixtures (a bank, a firm, the whole consent flow) and
a firm with records in several categories."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from tests.consent.conftest import (  # noqa: F401 (fixtures)
    Bank,
    Firm,
    active_token,
    bank,
    bearer,
    firm,
    login,
    other_bank,
)


def tax_row(uscc: str, ref: str, year: int, grade: str = "B") -> dict[str, Any]:
    return {"provider_ref": ref, "uscc": uscc, "category": "tax", "payload": {"year": year, "grade": grade}}


@pytest.fixture
def archive(db: Session, firm: Firm, make_provider: Any, rows: Any) -> Firm:  # noqa: F811
    """The firm with a contract, a utility bill and two tax grades on file, from a provider
    that covers every category for every firm (so power-v2 rates the firm: no bad record
    from it is a clean record)."""
    provider = make_provider(list(CATEGORIES), coverage="region")
    result = ingest_records(db, provider, [
        rows.contract(firm.enterprise.uscc, "c-1"), rows.utility(firm.enterprise.uscc, "u-1"),
        tax_row(firm.enterprise.uscc, "t-1", 2023, "A"), tax_row(firm.enterprise.uscc, "t-2", 2024, "B"),
    ])
    assert result.accepted == 4
    return firm


def pull(bank: Bank, token: str,  # noqa: F811
         uscc: str, purpose: str = "loan_application", **extra: Any) -> Any:
    return bank.http.post("/api/v1/reports", json={"uscc": uscc, "purpose": purpose, **extra},
                          headers=bearer(token))
