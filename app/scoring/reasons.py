"""What a lender reads beside a grade: the evaluation's main adverse factors, in Chinese.

The caps that apply come first, the worst first (they decide the grade whatever the score),
then the known factors that cost the most points (their weight in the score, renormalised
over the known factors as the score is, × the points short of 100: over every known factor
they add up to 100 − score), up to four in all.  A factor or cap whose records the reader
may not see (a report without the tax section, say) is not named: its reason would disclose
them; a cap withheld so is still said to apply, with its grade.  NR has no adverse factors:
its reason is the lack of evidence.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from app.scoring.errors import ScorecardNotFound
from app.scoring.scorecard import GRADES, scorecard_by_version

MAX_ADVERSE = 4
ADVERSE_BELOW = 80.0  # a factor scoring this or more is not a reason against the firm


def adverse_factors(explanation: dict[str, Any] | None, version: str, segment: str,
                    visible: Collection[str] | None = None, *, lists_visible: bool = True,
                    limit: int = MAX_ADVERSE) -> list[dict[str, Any]]:
    """The top adverse factors of a stored evaluation's explanation.  ``visible``: the record
    categories the reader may see (None: all); ``lists_visible``: whether list membership is.
    None for NR: its reason is the lack of evidence, not a factor."""
    if not explanation or explanation.get("evidence", {}).get("reason"):
        return []
    try:
        card = scorecard_by_version(version).for_segment(segment)
    except ScorecardNotFound:  # a scorecard not bundled (a regional file): no reasons to give
        return []
    allowed = None if visible is None else set(visible)
    caps = {c.key: c for c in card.caps}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    withheld: str | None = None  # the worst cap whose basis the reader may not see
    # The caps that apply, the worst first; two caps on the same fact (three bills in arrears
    # in a row, and the latest in arrears for three months) are one reason.
    for hit in sorted(explanation.get("caps", []), key=lambda h: -GRADES.index(h["max_grade"])):
        cap = caps.get(hit["key"])
        if cap is None:
            continue
        if (cap.on_list and not lists_visible) or (allowed is not None and not set(cap.categories) <= allowed):
            withheld = withheld or hit["max_grade"]
            continue
        same = (hit["max_grade"], cap.categories or (cap.on_list or "",))
        if same in seen:
            continue
        seen.add(same)
        out.append({"kind": "cap", "key": hit["key"], "label": hit["label"], "max_grade": hit["max_grade"],
                    "reason": f"{hit['label']}：等级不高于 {hit['max_grade']}"})
    if withheld and not any(GRADES.index(c["max_grade"]) >= GRADES.index(withheld) for c in out):
        out.insert(0, {"kind": "cap", "key": "withheld", "label": "封顶规则（依据不在授权范围内）", "max_grade": withheld,
                       "reason": f"有封顶规则适用，等级不高于 {withheld}；其依据的信息不在本次授权查询的范围内"})
    factors = {f.key: f for f in card.factors}
    weight = {f.key: card.dimension_weights[f.dimension] * f.weight for f in card.factors}
    results = [r for r in explanation.get("factors", []) if r["key"] in factors and r.get("known", True)]
    known_weight = sum(weight[r["key"]] for r in results) or 1.0  # renormalised, as the score is
    losses = []
    for result in results:
        spec = factors[result["key"]]
        if float(result["points"]) >= ADVERSE_BELOW:
            continue
        if allowed is not None and spec.categories and not set(spec.categories) <= allowed:
            continue
        losses.append((weight[result["key"]] / known_weight * (100 - float(result["points"])), result))
    losses.sort(key=lambda pair: (-pair[0], pair[1]["key"]))
    out += [{"kind": "factor", "key": r["key"], "label": r["label"], "points": float(r["points"]),
             "points_lost": round(lost, 2), "reason": r["reason"]} for lost, r in losses]
    return out[:limit]
