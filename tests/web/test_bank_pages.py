"""The bank's pulled-report pages show its own institution's reports and nobody else's."""

from __future__ import annotations

import sqlalchemy as sa

from app.accounts.models import User
from reports.models import Report
from tests.web.conftest import DemoSite


def test_a_bank_sees_only_the_reports_its_institution_pulled(demo_site: DemoSite) -> None:
    with demo_site.app.extensions["pc_db"].session() as s:
        officer = s.scalar(sa.select(User).where(User.username == "bank"))
        assert officer is not None
        own = s.scalars(sa.select(Report.report_no).where(Report.institution_id == officer.institution_id)).all()
        other = s.scalars(sa.select(Report.report_no).where(Report.institution_id.is_not(None),
                                                             Report.institution_id != officer.institution_id)).all()
        other_firm = s.scalar(sa.select(Report).where(Report.report_no == other[0])).enterprise.name if other else ""
    assert own and other  # the demo's reviews pulled reports at several banks
    bank = demo_site.client("bank")
    listing = bank.get("/bank/reports").get_data(as_text=True)
    assert all(no in listing for no in own[:20])
    assert not any(no in listing for no in other)
    shown = bank.get(f"/bank/reports/{own[0]}")
    assert shown.status_code == 200 and own[0] in shown.get_data(as_text=True)
    refused = bank.get(f"/bank/reports/{other[0]}")
    assert refused.status_code == 404 and other_firm not in refused.get_data(as_text=True)  # nothing of it shown
    assert bank.get("/bank/reports/PC20261202AAAAAAAAAAAA").status_code in (404, 422)  # never issued
    assert bank.get(f"/api/v1/reports/{other[0]}.pdf").status_code == 404
    assert demo_site.client("firm").get("/bank/reports").status_code == 403
    assert demo_site.client("operator").get(f"/bank/reports/{own[0]}").status_code == 403
