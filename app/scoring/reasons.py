"""What a lender reads beside a grade: the evaluation's main adverse factors, in Chinese.

The caps that apply come first (they decide the grade whatever the score), then the known
factors that cost the most points (their weight in the score × the points short of 100), up
to four in all.  A factor or cap whose records the reader may not see (a report without the
tax section, say) is left out rather than shown: its reason would disclose them.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import Any

from app.scoring.scorecard import Scorecard, bundled_scorecards

MAX_ADVERSE = 4
ADVERSE_BELOW = 80.0  # a factor scoring this or more is not a reason against the firm


@cache
def _cards() -> dict[str, Scorecard]:
    return {c.version: c for c in bundled_scorecards()}


def adverse_factors(explanation: dict[str, Any] | None, version: str, segment: str,
                    visible: Collection[str] | None = None, *, lists_visible: bool = True,
                    limit: int = MAX_ADVERSE) -> list[dict[str, Any]]:
    """The top adverse factors of a stored evaluation's explanation.  ``visible``: the record
    categories the reader may see (None: all); ``lists_visible``: whether list membership is."""
    card = _cards().get(version)
    if card is None or not explanation:
        return []
    card = card.for_segment(segment)
    allowed = None if visible is None else set(visible)
    caps = {c.key: c for c in card.caps}
    out: list[dict[str, Any]] = []
    for hit in explanation.get("caps", []):
        cap = caps.get(hit["key"])
        if cap is None or (cap.on_list and not lists_visible):
            continue
        if allowed is not None and not set(cap.categories) <= allowed:
            continue
        out.append({"kind": "cap", "key": hit["key"], "label": hit["label"], "max_grade": hit["max_grade"],
                    "reason": f"{hit['label']}：等级不高于 {hit['max_grade']}"})
    factors = {f.key: f for f in card.factors}
    losses = []
    for result in explanation.get("factors", []):
        spec = factors.get(result["key"])
        if spec is None or not result.get("known", True) or float(result["points"]) >= ADVERSE_BELOW:
            continue
        if allowed is not None and spec.categories and not set(spec.categories) <= allowed:
            continue
        lost = card.dimension_weights[spec.dimension] * spec.weight * (100 - float(result["points"]))
        losses.append((lost, result))
    losses.sort(key=lambda pair: (-pair[0], pair[1]["key"]))
    out += [{"kind": "factor", "key": r["key"], "label": r["label"], "points": float(r["points"]),
             "points_lost": round(lost, 2), "reason": r["reason"]} for lost, r in losses]
    return out[:limit]
