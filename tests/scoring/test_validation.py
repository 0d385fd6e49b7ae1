"""Back-testing a scorecard (``app.scoring.validation``): on a hand-built set of firms the
default rate per grade, AUC, KS and PSI equal the values worked out by hand below; the edge of
the horizon; NR; one class; the command, the API (operators only) and the operator's page."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.archive.ingestion import ingest_records
from app.archive.models import CreditRecord, Enterprise, RecordStatus
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.cli import main
from app.core import clock
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.core.errors import InvalidInput
from app.scoring.errors import ScorecardNotFound
from app.scoring.models import Evaluation
from app.scoring.schemas import ValidationReportSchema
from app.scoring.scorecard import FIVE_GRADES, DefaultDefinition
from app.scoring.validation import (
    Observation,
    grade_order,
    grade_table,
    loan_default_date,
    monotonicity,
    population_stability,
    psi_band,
    scorecard_by_version,
    validate_scorecard,
)

V1 = scorecard_by_version("1.0")
D = dt.date(2025, 6, 30)  # the day observed
D0 = dt.date(2024, 6, 30)  # the day compared with (PSI): D less 12 months, the default
END = dt.date(2026, 6, 30)  # D + 12 months: before the suite's today (18 November 2026)
NR = None  # a not rated evaluation: grade NR, no score


# --- building the data ----------------------------------------------------------------------------

def rate(session: Session, ent: Enterprise, as_of: dt.date, grade: str, score: float | None, *,
         version: str = V1.version, evaluated_at: dt.datetime | None = None) -> None:
    """Store an evaluation as the engine would (only what a back-test reads matters here)."""
    points = None if score is None else Decimal(f"{score:.2f}")
    session.add(Evaluation(
        enterprise_id=ent.id, scorecard_id=V1.id, scorecard_version=version, as_of=as_of, score=points,
        grade=grade, uncapped_grade=None if score is None else grade,
        supervision_class=None if score is None else V1.supervision[grade],
        willingness=points, capability=points, performance=points, explanation={}, inputs_digest="0" * 64,
        record_count=0, current=False, evaluated_at=evaluated_at or clock.now(),
    ))
    session.flush()


def loan(uscc: str, ref: str, status: str, **fields: Any) -> dict[str, Any]:
    body = {"lender": "测试银行", "amount": "1000000.00", "start_on": "2024-01-15", "end_on": "2026-01-15",
            "status": status, **fields}
    return {"provider_ref": ref, "uscc": uscc, "category": "loan", "payload": body}


class Firms:
    """Firms registered through the archive, loans sent by a bank provider through ingestion."""

    def __init__(self, session: Session, cipher: FieldCipher) -> None:
        self.session, self.cipher = session, cipher
        self.bank = create_provider(session, code=f"bank-{uuid.uuid4().hex[:8]}", name="测试银行信贷",
                                    kind="financial_institution", categories=["loan"])
        self.made = 0

    def firm(self, name: str) -> Enterprise:
        self.made += 1
        ent, _ = register_enterprise(self.session, self.cipher, load_enterprise(
            {"uscc": make_uscc("9", "1", "330106", f"2{self.made:07d}"), "name": f"回测企业{name}",
             "segment": "supplier"}))
        return ent

    def loans(self, *rows: dict[str, Any]) -> None:
        result = ingest_records(self.session, self.bank, list(rows))
        assert result.accepted == len(rows), result

    def set_status(self, ent: Enterprise, status: RecordStatus) -> None:
        self.session.execute(sa.update(CreditRecord).where(CreditRecord.enterprise_id == ent.id).values(status=status))


def build_hand_set(session: Session, cipher: FieldCipher) -> dict[str, Enterprise]:
    """Thirteen firms evaluated by D, and two that must not count.

    firm  on D0 (2024-06-30)  on D (2025-06-30)          loans                                    default day
    f1    AAA 93              AAA 95                     normal                                   —
    f2    AA 88               AA 86, then AAA 92 (later) —                                        —
    f3    AA 84               AA 85                      overdue 30 days (under 90)               —
    f4    A 78                AA 82                      overdue 120 days as of 2025-12-31        2025-12-01 (in)
    f5    BBB 63              A 75 (1)                   settled                                  —
    f6    A 71                A 72                       written off 2025-10-01, but revoked      —
    f7    BBB 66              BBB 65                     written off 2026-03-15                   2026-03-15 (in)
    f8    BB 58               BBB 61                     overdue 100 days as of 2026-10-31        2026-10-21 (after)
    f9    BB 52               BB 55                      written off, no date, data 2026-01-10    2026-01-10 (in)
    f10   B 44                B 45                       overdue 95 days, no data date, ends 06-05 2026-05-31 (in)
    f11   NR                  NR                         overdue 200 days as of 2026-04-30        2026-01-10 (in)
    f12   B 41                NR                         —                                        —
    f13   CCC 35              C 10                       written off 2025-03-01, record expired   2025-03-01 (≤ D: left out)
    f14   —                   — (A 70 on 2025-09-30)     written off 2026-01-01                   not in the sample
    f15   —                   — (AAA 99 under 0.9)       written off 2026-01-01                   not in the sample
    (1) also BBB 66 on 2025-03-31, and B 45 on 2025-12-31 (after D, not read)
    """
    f = Firms(session, cipher)
    firms = {f"f{i}": f.firm(f"f{i}") for i in range(1, 16)}
    u = {k: v.uscc for k, v in firms.items()}
    base = {"f1": ("AAA", 93), "f2": ("AA", 88), "f3": ("AA", 84), "f4": ("A", 78), "f5": ("BBB", 63),
            "f6": ("A", 71), "f7": ("BBB", 66), "f8": ("BB", 58), "f9": ("BB", 52), "f10": ("B", 44),
            "f11": ("NR", NR), "f12": ("B", 41), "f13": ("CCC", 35)}
    for key, (grade, score) in base.items():
        rate(session, firms[key], D0, grade, score)
    rate(session, firms["f5"], dt.date(2025, 3, 31), "BBB", 66)
    rate(session, firms["f2"], D, "AA", 86, evaluated_at=clock.now() - dt.timedelta(hours=1))
    at_d = {"f1": ("AAA", 95), "f2": ("AAA", 92), "f3": ("AA", 85), "f4": ("AA", 82), "f5": ("A", 75),
            "f6": ("A", 72), "f7": ("BBB", 65), "f8": ("BBB", 61), "f9": ("BB", 55), "f10": ("B", 45),
            "f11": ("NR", NR), "f12": ("NR", NR), "f13": ("C", 10)}
    for key, (grade, score) in at_d.items():
        rate(session, firms[key], D, grade, score)
    rate(session, firms["f5"], dt.date(2025, 12, 31), "B", 45)
    rate(session, firms["f14"], dt.date(2025, 9, 30), "A", 70)
    rate(session, firms["f15"], D, "AAA", 99, version="0.9")
    f.loans(
        loan(u["f1"], "l1", "normal", reported_on="2026-01-31"),
        loan(u["f3"], "l3", "overdue", overdue_days=30, reported_on="2026-01-31"),
        loan(u["f4"], "l4", "overdue", overdue_days=120, reported_on="2025-12-31"),
        loan(u["f5"], "l5", "settled", settled_on="2025-11-30"),
        loan(u["f6"], "l6", "written_off", written_off_on="2025-10-01"),
        loan(u["f7"], "l7", "written_off", written_off_on="2026-03-15"),
        loan(u["f8"], "l8", "overdue", overdue_days=100, reported_on="2026-10-31", end_on="2026-12-31"),
        loan(u["f9"], "l9", "written_off", reported_on="2026-01-10"),
        loan(u["f10"], "l10", "overdue", overdue_days=95, end_on="2026-06-05"),
        loan(u["f11"], "l11", "overdue", overdue_days=200, reported_on="2026-04-30"),
        loan(u["f13"], "l13", "written_off", written_off_on="2025-03-01"),
        loan(u["f14"], "l14", "written_off", written_off_on="2026-01-01"),
        loan(u["f15"], "l15", "written_off", written_off_on="2026-01-01"),
    )
    f.set_status(firms["f6"], RecordStatus.revoked)
    f.set_status(firms["f13"], RecordStatus.expired)  # history: still a default
    return firms


# --- outcomes -------------------------------------------------------------------------------------

def test_the_default_day_of_a_loan_record():
    d90 = DefaultDefinition()
    day = dt.date.fromisoformat
    assert loan_default_date({"status": "written_off", "written_off_on": "2026-03-15", "reported_on": "2026-04-30",
                              "end_on": "2026-01-15"}, d90) == day("2026-03-15")
    assert loan_default_date({"status": "written_off", "reported_on": "2026-04-30", "end_on": "2026-01-15"},
                             d90) == day("2026-04-30")
    assert loan_default_date({"status": "written_off", "end_on": "2026-01-15"}, d90) == day("2026-01-15")
    # 120 days past due on 2025-12-31: it crossed 90 days 30 days earlier
    assert loan_default_date({"status": "overdue", "overdue_days": 120, "reported_on": "2025-12-31",
                              "end_on": "2026-01-15"}, d90) == day("2025-12-01")
    assert loan_default_date({"status": "overdue", "overdue_days": 90, "end_on": "2026-01-15"}, d90) == day("2026-01-15")
    assert loan_default_date({"status": "overdue", "overdue_days": 89, "reported_on": "2025-12-31"}, d90) is None
    assert loan_default_date({"status": "normal", "end_on": "2026-01-15"}, d90) is None
    assert loan_default_date({"status": "settled", "settled_on": "2025-01-15", "end_on": "2026-01-15"}, d90) is None
    no_write_offs = DefaultDefinition(written_off=False)
    assert loan_default_date({"status": "written_off", "written_off_on": "2026-03-15"}, no_write_offs) is None


# --- the figures against the hand computation -------------------------------------------------------

def test_the_figures_equal_the_hand_computation(db, cipher):
    build_hand_set(db, cipher)
    report = validate_scorecard(db, "1.0", D, 12)

    assert (report["as_of"], report["horizon_end"], report["horizon_complete"]) == ("2025-06-30", "2026-06-30", True)
    assert report["notes"] == []
    # 13 firms evaluated by D (f14 only after, f15 under another version); f13 was in default
    # on 2025-03-01, so 12 observed: 10 rated, 2 NR; defaults f4, f7, f9, f10, f11.
    assert report["population"] == {"evaluated": 13, "in_default": 1, "observed": 12, "rated": 10, "not_rated": 2,
                                     "defaults": 5, "default_rate": pytest.approx(5 / 12)}
    table = {r["grade"]: (r["count"], r["defaults"], r["default_rate"]) for r in report["grades"]}
    assert [r["grade"] for r in report["grades"]] == ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]
    assert table == {"AAA": (2, 0, 0.0), "AA": (2, 1, 0.5), "A": (2, 0, 0.0), "BBB": (2, 1, 0.5), "BB": (1, 1, 1.0),
                     "B": (1, 1, 1.0), "CCC": (0, 0, None), "CC": (0, 0, None), "C": (0, 0, None)}
    assert report["not_rated"] == {"grade": "NR", "count": 2, "defaults": 1, "default_rate": 0.5}
    # AA defaults more (50 %) than A below it (0 %): the one violation
    assert report["monotonic"] == {"holds": False, "reason": None, "violations": [
        {"better": "AA", "worse": "A", "better_rate": 0.5, "worse_rate": 0.0}]}

    # Rated scores, defaulters *: 95 92 85 82* 75 72 65* 61 55* 45*
    # AUC = P(a non-defaulter scores above a defaulter) over 4 × 6 = 24 pairs:
    #   82*: 95 92 85 above → 3;  65*: 95 92 85 75 72 → 5;  55*: 6;  45*: 6   → 20 / 24
    # Gini = 2 · 20/24 − 1 = 2/3
    # KS: flag scores ≤ t as risky; TPR − FPR at t = 45 .25, 55 .50, 61 .50 − 1/6, 65 .75 − 1/6 = 7/12,
    #   72 .75 − 2/6, 75 .75 − 3/6, 82 1 − 3/6 = .5, above that it falls → KS = 7/12 at score 65
    disc = report["discrimination"]
    assert disc["auc"] == pytest.approx(20 / 24)
    assert disc["gini"] == pytest.approx(2 / 3)
    assert disc["ks"] == pytest.approx(7 / 12) and disc["ks_score"] == pytest.approx(65)
    assert disc["reason"] is None
    # By grade, ties counting half: defaulter AA — AAA, AAA above, AA tied → 2.5; BBB — AAA AAA
    # AA A A above, BBB tied → 5.5; BB → 6; B → 6: 20 / 24 again.
    assert disc["auc_grade"] == pytest.approx(20 / 24)
    assert disc["roc"][0] == {"fpr": 0.0, "tpr": 0.0} and disc["roc"][-1] == {"fpr": 1.0, "tpr": 1.0}

    # PSI over AAA … C and NR, 13 firms on each day:
    #   on D0: AAA 1, AA 2, A 2, BBB 2, BB 2, B 2, CCC 1, CC 0, C 0, NR 1
    #   on D:  AAA 2, AA 2, A 2, BBB 2, BB 1, B 1, CCC 0, CC 0, C 1, NR 2
    #   AAA (2−1)/13·ln 2; BB and B (1−2)/13·ln(1/2) = 1/13·ln 2 each; NR 1/13·ln 2;
    #   CCC and C: one side empty, floored at ε = 0.0001: (1/13 − ε)·ln((1/13)/ε) each; CC: ε vs ε → 0
    eps = 0.0001
    psi = 4 / 13 * math.log(2) + 2 * (1 / 13 - eps) * math.log((1 / 13) / eps)  # ≈ 1.2343
    st = report["stability"]
    assert (st["base_as_of"], st["as_of"], st["epsilon"]) == ("2024-06-30", "2025-06-30", eps)
    assert st["psi"] == pytest.approx(psi) and st["psi"] == pytest.approx(1.2343, abs=1e-4)
    assert (st["band"], st["band_label"]) == ("significant_shift", "显著变化")
    assert {r["grade"]: (r["base_count"], r["current_count"]) for r in st["rows"]} == {
        "AAA": (1, 2), "AA": (2, 2), "A": (2, 2), "BBB": (2, 2), "BB": (2, 1), "B": (2, 1), "CCC": (1, 0),
        "CC": (0, 0), "C": (0, 1), "NR": (1, 2)}
    assert (st["base_firms"], st["current_firms"]) == (13, 13)

    # Calibration: the logistic regression's PD falls with the score, so the implied PD rises
    # from AAA to B; a logistic fit with an intercept predicts as many defaults as it saw (4);
    # the Brier score is the mean squared gap between each firm's PD and its outcome.
    cal = report["calibration"]
    assert cal["reason"] is None and cal["slope"] < 0
    implied = [r["implied_pd"] for r in cal["rows"] if r["count"]]
    assert implied == sorted(implied) and all(0 < p < 1 for p in implied)
    assert sum(r["count"] * r["implied_pd"] for r in cal["rows"] if r["count"]) == pytest.approx(4, abs=1e-3)
    assert [r["observed_rate"] for r in cal["rows"][:6]] == [0.0, 0.5, 0.0, 0.5, 1.0, 1.0]
    outcomes = [(95, 0), (92, 0), (85, 0), (82, 1), (75, 0), (72, 0), (65, 1), (61, 0), (55, 1), (45, 1)]
    pds = [1 / (1 + math.exp(-(cal["intercept"] + cal["slope"] * s))) for s, _ in outcomes]
    assert cal["brier"] == pytest.approx(sum((p - y) ** 2 for p, (_, y) in zip(pds, outcomes, strict=True)) / 10)
    assert ValidationReportSchema().dump(report) == json.loads(json.dumps(report))  # JSON-able, every field pinned


def test_the_edge_of_the_horizon(db, cipher):
    # D = 2025-06-30, 12 months: a default counts when D < day ≤ 2026-06-30
    f = Firms(db, cipher)
    on_d, at_end, day_after, crossing_at_end = (f.firm(n) for n in ("on D", "at D+h", "D+h+1", "crossing"))
    for ent, grade, score in ((on_d, "AAA", 95), (at_end, "AA", 85), (day_after, "A", 75),
                              (crossing_at_end, "BBB", 65)):
        rate(db, ent, D, grade, score)
    f.loans(
        loan(on_d.uscc, "e1", "written_off", written_off_on="2025-06-30"),
        loan(at_end.uscc, "e2", "written_off", written_off_on="2026-06-30"),
        loan(day_after.uscc, "e3", "written_off", written_off_on="2026-07-01"),
        # 100 days past due on 2026-07-10: it crossed 90 days on 2026-06-30
        loan(crossing_at_end.uscc, "e4", "overdue", overdue_days=100, reported_on="2026-07-10"),
    )
    report = validate_scorecard(db, "1.0", D, 12)
    table = {r["grade"]: (r["count"], r["defaults"]) for r in report["grades"] if r["count"]}
    assert table == {"AA": (1, 1), "A": (1, 0), "BBB": (1, 1)}  # the firm in default on D is left out
    assert report["population"]["in_default"] == 1 and report["population"]["defaults"] == 2
    # One day shorter (11 months, to 2026-05-30): none of them defaults within it
    shorter = validate_scorecard(db, "1.0", D, 11)
    assert shorter["horizon_end"] == "2026-05-30" and shorter["population"]["defaults"] == 0


def test_a_horizon_not_yet_over_is_said_so_and_bad_days_are_refused(db, cipher):
    today = clock.today()
    f = Firms(db, cipher)
    rate(db, f.firm("recent"), clock.add_months(today, -3), "A", 75)
    recent = clock.add_months(today, -3)
    report = validate_scorecard(db, "1.0", recent)
    assert report["horizon_months"] == V1.default_definition.horizon_months == 12
    assert report["horizon_complete"] is False
    assert report["horizon_end"] == clock.add_months(recent, 12).isoformat()
    assert "观察期尚未结束" in report["notes"][0] and today.isoformat() in report["notes"][0]
    with pytest.raises(InvalidInput) as future:
        validate_scorecard(db, "1.0", today + dt.timedelta(days=1))
    assert set(future.value.errors) == {"as_of"}
    with pytest.raises(InvalidInput) as bad:
        validate_scorecard(db, "1.0", D, 0, compare_as_of=D)
    assert set(bad.value.errors) == {"horizon_months", "compare_as_of"}
    with pytest.raises(ScorecardNotFound):
        validate_scorecard(db, "9.9", D)


def test_one_class_and_no_sample_give_null_figures_with_reasons(db, cipher):
    empty = validate_scorecard(db, "1.0", D)
    assert empty["population"]["evaluated"] == 0 and empty["population"]["default_rate"] is None
    assert "无可验证的样本" in empty["notes"][0]
    assert empty["discrimination"]["auc"] is None and "没有已评级" in empty["discrimination"]["reason"]
    assert empty["stability"]["psi"] is None and "没有该版本评分卡的评价" in empty["stability"]["reason"]
    assert all(r["contribution"] is None for r in empty["stability"]["rows"])
    assert empty["monotonic"]["holds"] is None

    f = Firms(db, cipher)
    firms = [f.firm(str(i)) for i in range(4)]
    for ent, (grade, score) in zip(firms, [("AAA", 95), ("A", 75), ("BB", 55), ("NR", NR)], strict=True):
        rate(db, ent, D, grade, score)
    f.loans(loan(firms[3].uscc, "nr", "written_off", written_off_on="2026-01-01"))  # only NR defaults
    none_rated = validate_scorecard(db, "1.0", D)
    assert none_rated["not_rated"] == {"grade": "NR", "count": 1, "defaults": 1, "default_rate": 1.0}
    assert none_rated["population"]["defaults"] == 1
    disc, cal = none_rated["discrimination"], none_rated["calibration"]
    assert (disc["auc"], disc["gini"], disc["ks"], disc["roc"]) == (None, None, None, [])
    assert "只有一类结果" in disc["reason"] and "没有违约" in disc["reason"]
    assert (cal["brier"], cal["slope"]) == (None, None) and "只有一类结果" in cal["reason"]
    assert [r["implied_pd"] for r in cal["rows"]] == [None] * 9
    assert none_rated["monotonic"]["holds"] is True  # 0 % everywhere
    assert none_rated["stability"]["psi"] is None and "比较基准日" in none_rated["stability"]["reason"]

    f.loans(*(loan(ent.uscc, f"all-{i}", "written_off", written_off_on="2026-01-01") for i, ent in enumerate(firms[:3])))
    all_defaulted = validate_scorecard(db, "1.0", D)
    assert all_defaulted["discrimination"]["auc"] is None and "全部违约" in all_defaulted["discrimination"]["reason"]


def test_psi_bands_and_the_floor_for_empty_bins():
    assert [psi_band(v)[0] for v in (0, 0.0999, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "some_shift", "some_shift", "significant_shift"]
    # 50/50 → 60/40: 0.1·ln(0.6/0.5) + (−0.1)·ln(0.4/0.5) = 0.0405
    same = population_stability({"A": 50, "B": 50}, {"A": 60, "B": 40}, ["A", "B"])
    assert same["psi"] == pytest.approx(0.1 * math.log(1.2) - 0.1 * math.log(0.8)) and same["band"] == "stable"
    # 50/50 → 100/0: B floored at 0.0001 → 0.5·ln 2 + (0.0001 − 0.5)·ln(0.0001/0.5)
    floored = population_stability({"A": 50, "B": 50}, {"A": 100}, ["A", "B"])
    assert floored["psi"] == pytest.approx(0.5 * math.log(2) + (0.0001 - 0.5) * math.log(0.0001 / 0.5))
    assert floored["rows"][1]["current_share"] == 0.0 and floored["band"] == "significant_shift"


def test_a_five_grade_scale_orders_its_own_grades():
    sample = [Observation(1, "AAA", 95, False), Observation(2, "A", 75, True), Observation(3, "B", 50, False),
              Observation(4, "C", 20, True), Observation(5, "NR", None, False)]
    order = grade_order(FIVE_GRADES, (o.grade for o in sample))
    assert order == ["AAA", "AA", "A", "B", "C"]
    rows, nr = grade_table(sample, order)
    assert [(r["grade"], r["count"], r["defaults"]) for r in rows] == [
        ("AAA", 1, 0), ("AA", 0, 0), ("A", 1, 1), ("B", 1, 0), ("C", 1, 1)]
    assert nr["count"] == 1
    # AA has no firms and is skipped; A (100 %) defaults more than B (0 %) below it
    assert monotonicity(rows)["violations"] == [{"better": "A", "worse": "B", "better_rate": 1.0, "worse_rate": 0.0}]


# --- the command ------------------------------------------------------------------------------------

def test_the_command_prints_the_tables_and_the_json(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    database = Database(url)
    try:
        with database.transaction() as session:
            build_hand_set(session, FieldCipher(KeyRing.generate()))
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
        runner = CliRunner()
        args = ["scorecard", "validate", "--version", "1.0", "--as-of", "2025-06-30", "--horizon-months", "12"]
        shown = runner.invoke(main, args)
        assert shown.exit_code == 0, shown.output
        text = shown.output
        assert "基准日 2025-06-30，观察期 12 个月（至 2026-06-30）" in text
        assert "纳入 12 家（已评级 10，不予评级 2），观察期内违约 5 家（41.7%）" in text
        assert "各等级违约率与校准" in text and "50.0%" in text and "NR" in text
        assert "不单调" in text and "AA（50.0%）高于较差的 A（0.0%）" in text
        assert "AUC 0.8333，Gini 0.6667，KS 0.5833（分数 65.00 处）" in text
        assert "人群稳定性（PSI，2024-06-30 → 2025-06-30）：1.2343，显著变化" in text
        assert "观察期尚未结束" not in text

        as_json = runner.invoke(main, [*args, "--json"])
        assert as_json.exit_code == 0, as_json.output
        body = json.loads(as_json.output)
        assert body["discrimination"]["auc"] == pytest.approx(20 / 24)
        assert body["stability"]["psi"] == pytest.approx(1.2343, abs=1e-4)
        with database.reading() as session:
            assert body == json.loads(json.dumps(validate_scorecard(session, "1.0", D, 12)))

        recent = clock.add_months(clock.today(), -2).isoformat()
        open_horizon = runner.invoke(main, ["scorecard", "validate", "--version", "1.0", "--as-of", recent])
        assert open_horizon.exit_code == 0 and "观察期尚未结束" in open_horizon.output

        bad_day = runner.invoke(main, [*args[:4], "--as-of", "2025-13-01"])
        assert bad_day.exit_code == 1 and "--as-of" in bad_day.output
        bad_horizon = runner.invoke(main, [*args[:6], "--horizon-months", "0"])
        assert bad_horizon.exit_code == 1 and "--horizon-months" in bad_horizon.output
        late_compare = runner.invoke(main, [*args, "--compare-as-of", "2025-07-01"])
        assert late_compare.exit_code == 1 and "--compare-as-of" in late_compare.output
        unknown = runner.invoke(main, ["scorecard", "validate", "--version", "9.9", "--as-of", "2025-06-30"])
        assert unknown.exit_code == 1 and "没有版本为 9.9 的评分卡" in unknown.output
    finally:
        database.dispose()


# --- the API and the page ---------------------------------------------------------------------------

URL = "/api/v1/scorecards/1.0/validation?as_of=2025-06-30&horizon_months=12"
PAGE = "/console/scorecards/validation"


def test_operators_get_the_report_and_bad_parameters_are_named(client, db, cipher, make_user, login):
    build_hand_set(db, cipher)
    login(make_user("operator"))
    resp = client.get(URL)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["discrimination"]["ks"] == pytest.approx(7 / 12)
    assert body["grades"][1] == {"grade": "AA", "count": 2, "defaults": 1, "default_rate": 0.5}
    assert body["stability"]["band"] == "significant_shift"
    for query, field in (("as_of=2025-13-01", "query.as_of"), ("", "query.as_of"),
                         ("as_of=2025-06-30&horizon_months=0", "query.horizon_months"),
                         ("as_of=2025-06-30&horizon_months=x", "query.horizon_months"),
                         ("as_of=2025-06-30&compare_as_of=2025-06-30", "query.compare_as_of"),
                         (f"as_of={(clock.today() + dt.timedelta(days=1)).isoformat()}", "query.as_of")):
        bad = client.get(f"/api/v1/scorecards/1.0/validation?{query}")
        assert bad.status_code == 422 and bad.mimetype == "application/problem+json", query
        assert field in bad.get_json()["errors"], (query, bad.get_json())
    unknown = client.get("/api/v1/scorecards/9.9/validation?as_of=2025-06-30")
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "scorecard_not_found"


def test_nobody_but_operators_gets_the_report_or_the_page(client, app, db, make_enterprise, make_user, login):
    anon = app.test_client()
    assert anon.get(URL).status_code == 401
    assert anon.get(PAGE, headers={"Accept": "text/html"}).status_code == 302  # to sign-in
    login(make_user("firm", make_enterprise()))
    assert client.get(URL).status_code == 403 and client.get(PAGE).status_code == 403
    client.get("/logout")
    login(make_user("bank"))
    assert client.get(URL).status_code == 403 and client.get(PAGE).status_code == 403


def test_the_page_shows_the_tables_and_charts(client, db, cipher, make_user, login):
    build_hand_set(db, cipher)
    login(make_user("operator"))
    page = client.get(f"{PAGE}?version=1.0&as_of=2025-06-30&horizon_months=12")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") == 5  # default rates, calibration, ROC, PSI shares and terms
    assert "0.833" in html and "0.583" in html and "1.234" in html and "显著变化" in html
    assert "违约率不单调" in html and "AA（50.0%）高于较差的 A（0.0%）" in html
    assert '<th scope="row">NR 不予评级</th><td>2</td><td>1</td><td>50.0%</td>' in html
    assert 'value="2024-06-30"' in html  # the comparison day shown, defaulted
    assert "评分卡验证" in html  # in the operator's navigation
    # an empty form: the scorecard in use, D a horizon before today (no evaluations there: null figures)
    default = client.get(PAGE)
    assert default.status_code == 200
    assert f'value="{clock.add_months(clock.today(), -12).isoformat()}"' in default.get_data(as_text=True)
    bad = client.get(f"{PAGE}?as_of=2025-06-30&compare_as_of=2025-07-01")
    assert bad.status_code == 422 and "比较基准日应早于验证基准日" in bad.get_data(as_text=True)
    unknown = client.get(f"{PAGE}?version=9.9")
    assert unknown.status_code == 422 and "没有版本为 9.9 的评分卡" in unknown.get_data(as_text=True)
