"""The whole demo, as ``powercredit seed`` builds it: firms and their records, a year of
month-end evaluations, the marketplace, oversight and the demo firm's first self-report.

The demo is a function of its inputs (number of firms, seed, as-of date): it runs on a
simulated clock (``app.core.clock.simulated``) that starts on the as-of date, so what it
writes does not depend on the day or the hour it is run, and two runs with the same inputs
write the same data (identifiers and secrets, which are random by design, aside).
Whatever the date, it covers every state it claims in ``CLAIMED_STATES``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.config import Settings
from app.core import clock
from app.crypto import FieldCipher
from app.oversight.seed import OversightDemo, seed_oversight
from app.scoring.models import Evaluation
from app.scoring.services import grade_distribution, run_evaluations
from app.seed import BANKS, SeedReport, seed_demo
from app.signing import load_signing_keys
from marketplace.seed import MarketplaceSeed, seed_marketplace
from marketplace.services import rate_cap
from reports.services import issue_self_report

# Month-end evaluations before the as-of date, so grade histories and the index have months.
HISTORY_MONTHS = 11
# The demo's "now" on its as-of date: 09:00 Beijing time.
START_HOUR = 9

# What the demo covers on any as-of date (checked by tests/app/test_demo_seed.py).
CLAIMED_STATES: dict[str, set[str]] = {
    "application": {"submitted", "under_review", "approved", "rejected", "accepted", "declined", "disbursed",
                    "withdrawn"},
    "offer": {"sent", "accepted", "declined", "withdrawn", "expired"},
    "consent": {"PENDING", "ACTIVE", "REJECTED", "PAUSED", "REVOKED", "EXPIRED"},
    "objection": {"open", "overdue", "upheld", "corrected", "removed"},
    "repair": {"submitted", "approved", "rejected"},
    "list": {"red", "black", "watch"},
    "list_entry": {"pending", "active", "exited", "cancelled"},
}


@dataclass
class DemoSummary:
    base: SeedReport
    evaluated: int = 0
    distribution: dict[str, int] = field(default_factory=dict)
    market: MarketplaceSeed = field(default_factory=MarketplaceSeed)
    oversight: OversightDemo = field(default_factory=OversightDemo)
    demo_firm: tuple[str, str] | None = None  # name, USCC


def demo_start(as_of: dt.date) -> dt.datetime:
    """The instant the demo's clock starts at for ``as_of``."""
    return clock.at_cn(as_of, START_HOUR)


def build_demo(session: Session, settings: Settings, cipher: FieldCipher, *, firms: int, seed: int,
               as_of: dt.date, start: dt.datetime | None = None, passwords: dict[str, str] | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> DemoSummary:
    """Seed the demo (or, on a database that has it, leave it as it is and reset the demo
    passwords). Runs on the simulated clock from ``start`` (by default ``demo_start(as_of)``);
    ``progress(stage, done, total)`` is told as the firms and the history months go by."""
    passwords = passwords or {u: secrets.token_urlsafe(9) for u in ("operator", "firm", "bank")}
    signer = load_signing_keys(settings)
    tell = progress or (lambda stage, done, total: None)
    with clock.simulated(start or demo_start(as_of)):
        done = 0

        def firm_made(n: int) -> None:
            nonlocal done
            done += n
            tell("firms", done, firms)

        base = seed_demo(session, cipher, firms=firms, seed=seed, today=as_of, passwords=passwords,
                         signer=signer, progress=firm_made)
        summary = DemoSummary(base=base)
        first_time = not session.scalar(sa.select(sa.func.count()).select_from(Evaluation))
        if first_time:
            for i, back in enumerate(range(HISTORY_MONTHS, 0, -1), start=1):
                month_end = clock.add_months(clock.month_start(as_of), 1 - back) - dt.timedelta(days=1)
                run_evaluations(session, "all", as_of=month_end)
                tell("history", i, HISTORY_MONTHS)
        summary.evaluated = run_evaluations(session, "all" if first_time else "changed", as_of=as_of).evaluated

        demo_user = session.scalar(sa.select(User).where(User.username == "firm"))
        demo_ent = demo_user.enterprise if demo_user is not None else None
        if demo_ent is not None:
            summary.demo_firm = (demo_ent.name, demo_ent.uscc)
        summary.market = seed_marketplace(session, signer, [b[1] for b in BANKS], seed,
                                          demo_ent.id if demo_ent else None,
                                          rate_cap(settings.lpr_1y, settings.rate_cap_multiple))
        summary.oversight = seed_oversight(session, signer, seed, demo_ent.id if demo_ent else None)
        summary.distribution = grade_distribution(session)  # after the lists: a black-list entry caps at C
        if demo_user is not None and demo_ent is not None and summary.market.products:
            # the demo firm has downloaded one self-report (first seed only: reruns leave it)
            issue_self_report(session, signer, demo_ent, demo_user, settings.free_self_reports, actor="user:firm")
    return summary
