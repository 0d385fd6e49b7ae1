"""Audit test helpers: the consent and report fixtures (a bank, a firm with an archive, the
consent flow) for the tests that follow an access into the log."""

from __future__ import annotations

from tests.consent.conftest import active_token, bank, firm  # noqa: F401 (fixtures)
from tests.reports.conftest import archive  # noqa: F401 (fixtures)
