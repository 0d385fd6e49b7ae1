"""The firm's home: its grade, what moved it since the last evaluation, and the grade
history — read without loading every evaluation's explanation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from app.scoring.models import Evaluation
from tests.markup import unwrapped


def _factor(points: str, reason: str) -> dict[str, Any]:
    return {"key": "tax_grade", "label": "纳税信用等级", "dimension": "willingness", "points": points,
            "reason": reason}


def test_the_firm_home_compares_with_the_previous_day_and_reads_only_two_explanations(
        client, db, make_enterprise, make_user, login, statements) -> None:  # noqa: ANN001
    ent = make_enterprise()
    start = dt.date(2026, 1, 1)
    for n in range(40):  # forty evaluation days; only the last two explanations are needed
        day = start + dt.timedelta(days=7 * n)
        db.add(Evaluation(
            enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="1.0", as_of=day,
            score=Decimal(50 + n), grade="A", uncapped_grade="A", supervision_class="B",
            willingness=Decimal(50 + n), capability=Decimal(60), performance=Decimal(70),
            explanation={"factors": [_factor(f"{40 + n}.0", f"第 {n} 次评价的说明")], "caps": []},
            inputs_digest="0" * 64, record_count=0, current=n == 39,
            evaluated_at=dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC)))
    db.flush()
    user = make_user("firm", ent)
    login(user)

    statements.clear()
    page = unwrapped(client.get("/").get_data(as_text=True))
    assert "第 39 次评价的说明" in page  # the current evaluation's factors
    assert "+1.0" in page  # 79.0 now against 78.0 the previous day
    assert "89.00" in page and "88.00" in page  # the score and the previous one
    assert page.count('<th scope="row">2026-') >= 24  # the history table: the last 24 days
    history = [s for s in statements if "FROM evaluation" in s and "ORDER BY evaluation.as_of" in s]
    assert len(history) == 1 and "explanation" not in history[0], history
    explanations = [s for s in statements if "evaluation.explanation" in s]
    assert len(explanations) == 2, explanations  # the current and the previous evaluation
