"""The demo gives every marketplace page and statistic data: live products at several
minimum grades, discoverable firms, applications in every state, offers in several."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.db import Database
from app.scoring.models import Evaluation
from marketplace.models import (
    Application,
    ApplicationStatus,
    MarketplaceProfile,
    Offer,
    Product,
    ProductStatus,
)


def test_the_demo_marketplace(demo):
    assert "信易贷演示：上架产品" in demo.output
    db = Database(demo.url)
    try:
        with db.session() as s:
            live = s.scalars(sa.select(Product.min_grade).where(Product.status == ProductStatus.live)).all()
            assert len(live) >= 6 and len(set(live)) >= 3
            states = set(s.scalars(sa.select(Application.status)))
            assert states == set(ApplicationStatus)
            assert len(set(s.scalars(sa.select(Offer.status)))) >= 3
            assert s.scalar(sa.select(sa.func.count()).select_from(MarketplaceProfile)) > 10
            # firms made discoverable had a grade of A or better (none is not rated); the demo firm AA or better
            grades = dict(s.execute(sa.select(MarketplaceProfile.enterprise_id, Evaluation.grade)
                                    .join(Evaluation, sa.and_(Evaluation.enterprise_id == MarketplaceProfile.enterprise_id,
                                                              Evaluation.current.is_(True)))).all())
            assert "NR" not in grades.values() and sum(g in ("AAA", "AA", "A") for g in grades.values()) > 10, grades
            # The demo firm has something to look at.
            from app.accounts.models import User

            firm = s.scalar(sa.select(User).where(User.username == "firm"))
            assert grades[firm.enterprise_id] in ("AAA", "AA")
            assert s.scalar(sa.select(sa.func.count()).select_from(Application)
                            .where(Application.enterprise_id == firm.enterprise_id)) >= 1
    finally:
        db.dispose()
