"""The demo gives every marketplace page and statistic data: live products at several
minimum grades, discoverable firms, applications in every state, offers in several."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.db import Database
from marketplace.models import (
    Application,
    ApplicationStatus,
    MarketplaceProfile,
    Offer,
    Product,
    ProductStatus,
)


def test_the_demo_marketplace(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["seed", "--firms", "300", "--seed", "2026", "--password", "demo-pass-1"])
    assert result.exit_code == 0, result.output
    assert "信易贷演示：上架产品" in result.output
    db = Database(url)
    try:
        with db.session() as s:
            live = s.scalars(sa.select(Product.min_grade).where(Product.status == ProductStatus.live)).all()
            assert len(live) >= 6 and len(set(live)) >= 3
            states = set(s.scalars(sa.select(Application.status)))
            assert states == set(ApplicationStatus)
            assert len(set(s.scalars(sa.select(Offer.status)))) >= 3
            assert s.scalar(sa.select(sa.func.count()).select_from(MarketplaceProfile)) > 10
            # The demo firm has something to look at.
            from app.accounts.models import User

            firm = s.scalar(sa.select(User).where(User.username == "firm"))
            assert s.scalar(sa.select(sa.func.count()).select_from(Application)
                            .where(Application.enterprise_id == firm.enterprise_id)) >= 1
    finally:
        db.dispose()
    again = CliRunner().invoke(main, ["seed", "--firms", "300", "--seed", "2026", "--password", "demo-pass-1"])
    assert again.exit_code == 0 and "信易贷演示" not in again.output  # seeded once: a rerun changes nothing
