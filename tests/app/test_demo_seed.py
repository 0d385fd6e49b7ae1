"""``powercredit seed --firms N --seed S --as-of D`` is a function of its three inputs: the
same inputs give the same demo, and on any date (month ends, 29 February, the turn of the
year) the demo covers every state it claims (``app.demo.CLAIMED_STATES``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.archive.models import Category, CreditRecord, DataProvider
from app.cli import main
from app.core import clock
from app.core.db import Database
from app.demo import CLAIMED_STATES
from app.oversight.models import EntryStatus, ListName, ObjectionOutcome, RepairStatus
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES, NOT_RATED
from app.scoring.services import current_scorecard
from app.scoring.validation import loan_default_date, monotonicity, validate_scorecard
from consent.models import ConsentStatus
from marketplace.models import ApplicationStatus, OfferStatus

FIRMS = "300"  # the size run.sh seeds: the claims hold for what a new user gets
DATES = ["2025-02-28", "2024-02-29", "2025-12-31", "2026-01-01", "2020-01-01"]  # the last: the earliest allowed

# Columns whose values are random by design (identifiers that must not be guessable, secrets,
# ciphertexts with random nonces, signatures under the instance's own key) or carry them.
RANDOM_COLUMNS = {
    "enterprise": {"legal_rep_name_enc", "legal_rep_id_enc", "contact_phone_enc"},
    "consent": {"consent_id", "artefact"},
    "loan_product": {"product_no"},
    "loan_application": {"application_no"},
    "credit_offer": {"offer_no"},
    "objection": {"objection_no"},
    "repair_request": {"request_no"},
    "signed_commitment": {"commitment_no", "kid", "statement"},
    "app_user": {"password_hash"},
    "certificate": {"certificate_no", "body", "digest", "signature", "kid"},
    "certificate_objection": {"objection_no"},
    "screening": {"screening_no", "body", "digest", "signature", "kid"},
}
# Random identifiers inside other values (a signed commitment's record is referenced by the
# commitment's number, a notice or an event names a consent, an application or a report).
RANDOM_IDS = re.compile(r"(?<![0-9A-Za-z_])(?:(?:rep|obj|cmt|ofr|app|prd)_[0-9a-f]{12}|cst_[a-z2-7]{24}|alt_[0-9a-f]{20}"
                        r"|pc_[0-9a-f]{24}|PC\d{8}[A-Z2-7]{12}|PCC\d{4}[A-Z2-7]{12}|cob_[0-9a-f]{12}|PS\d{8}[A-Z2-7]{12})"
                        r"(?![0-9A-Za-z])")
DEMO_TABLES = ["enterprise", "credit_record", "credit_record_version", "ingestion_run", "evaluation", "evaluation_run",
               "consent", "consent_event", "query_log", "loan_product", "marketplace_profile", "loan_application",
               "loan_application_event", "credit_offer", "list_entry", "list_event", "objection", "repair_request",
               "signed_commitment", "app_user", "notice", "certificate", "certificate_event", "certificate_objection",
               "screening", "screening_bidder"]


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every demo table's rows (in id order) without the columns that are random by design."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine, only=DEMO_TABLES)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for name in DEMO_TABLES:
                table = meta.tables[name]
                cols = [c for c in table.columns if c.name not in RANDOM_COLUMNS.get(name, set())]
                rows = conn.execute(sa.select(*cols).order_by(table.c.id)).all()
                out[name] = [tuple(_scrub(v) for v in row) for row in rows]
    finally:
        engine.dispose()
    return out


def _scrub(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, default=str)
    return RANDOM_IDS.sub("<id>", value) if isinstance(value, str) else value


def seed_cli(url: str, instance: Path, *args: str) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setenv("PC_INSTANCE_PATH", str(instance))
    try:
        return CliRunner().invoke(main, ["seed", "--seed", "2026", "--password", "demo-pass-1", *args])
    finally:
        mp.undo()


instances: dict[str, Path] = {}
_made: dict[str, dict[str, str]] = {}  # backend → day → URL (kept when the backend parameter switches)


@pytest.fixture(scope="module")
def demo_at(fresh_databases, tmp_path_factory) -> Callable[[str], str]:
    """The demo seeded on a date (once per backend and date): its database URL (its instance
    folder, with the keys, is ``instances[url]``)."""
    made = _made.setdefault(fresh_databases.backend, {})

    def get(day: str) -> str:
        if day not in made:
            url = fresh_databases.new()
            instance = tmp_path_factory.mktemp("demo")
            result = seed_cli(url, instance, "--firms", FIRMS, "--as-of", day)
            assert result.exit_code == 0, result.output
            assert f"演示数据基准日期：{day}" in result.output
            made[day] = url
            instances[url] = instance
        return made[day]

    return get


@pytest.mark.parametrize("day", DATES[:1])
def test_the_same_inputs_give_the_same_demo(demo_at, fresh_databases, tmp_path, day):
    first = snapshot(demo_at(day))
    url = fresh_databases.new()
    result = seed_cli(url, tmp_path / "instance", "--firms", FIRMS, "--as-of", day)
    assert result.exit_code == 0, result.output
    second = snapshot(url)
    for table in DEMO_TABLES:
        assert first[table], f"the demo has no {table}"
        assert first[table] == second[table], f"{table} differs between two runs with the same inputs"


@pytest.mark.parametrize("day", DATES[:1])
def test_a_rerun_changes_nothing(demo_at, day):
    url = demo_at(day)
    before = snapshot(url)
    again = seed_cli(url, instances[url], "--firms", FIRMS, "--as-of", day)
    assert again.exit_code == 0, again.output
    assert f"数据库中已有演示数据（基准日期 {day}，企业 300 家，种子 2026），未作改动，只重置了演示账号的密码" in again.output
    assert "本次新增 0" in again.output and "client_secret=" not in again.output
    # the summary is counted in the database, today: the demo's consents have all ended since
    assert "授权：" in again.output and "已过期" in again.output and "待企业确认" not in again.output
    assert "本次给出的参数与之不同" not in again.output
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setenv("PC_INSTANCE_PATH", str(instances[url]))
    try:  # other inputs, and no password: the demo and its passwords stay as they are
        other = CliRunner().invoke(main, ["seed", "--firms", "20", "--seed", "7", "--as-of", "2024-02-29"])
    finally:
        mp.undo()
    assert other.exit_code == 0, other.output
    assert "本次给出的参数与之不同" in other.output and "企业 300 家（本次新增 0）" in other.output
    assert "演示账号的密码不变" in other.output and "演示账号（用户名 / 密码）" not in other.output
    assert snapshot(url) == before  # nothing written but the demo accounts' passwords (not compared)


def test_a_database_with_other_data_is_refused(fresh_databases, tmp_path):
    url = fresh_databases.new()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setenv("PC_INSTANCE_PATH", str(tmp_path))
    try:
        added = CliRunner().invoke(main, ["enterprises", "add", "--uscc", "91350200776049653A", "--name",
                                          "厦门某电力设备有限公司", "--segment", "supplier"])
    finally:
        mp.undo()
    assert added.exit_code == 0, added.output
    result = seed_cli(url, tmp_path, "--firms", "5")
    assert result.exit_code == 1
    assert "不是演示数据库" in result.output and "Traceback" not in result.output


def test_without_as_of_the_demo_is_today(demo):
    assert "演示数据基准日期：2026-11-18" in demo.output  # the suite's today (tests/conftest.py)


def states(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            def values(sql: str) -> set[str]:
                return {str(v) for v in conn.scalars(sa.text(sql))}

            as_of = values("SELECT max(as_of) FROM evaluation")
            day = dt.date.fromisoformat(str(next(iter(as_of)))[:10])
            open_objections = conn.execute(sa.text("SELECT due_on FROM objection WHERE status = 'open'")).all()
            due = [dt.date.fromisoformat(str(r[0])[:10]) for r in open_objections]
            return {
                "application": values("SELECT status FROM loan_application"),
                "offer": values("SELECT status FROM credit_offer"),
                "consent": values("SELECT status FROM consent"),
                "objection": ({"open"} if any(d >= day for d in due) else set())
                | ({"overdue"} if any(d < day for d in due) else set())
                | values("SELECT outcome FROM objection WHERE outcome IS NOT NULL"),
                "repair": values("SELECT status FROM repair_request"),
                "list": values(f"SELECT list_name FROM list_entry WHERE status = '{EntryStatus.active}'"),
                "list_entry": values("SELECT status FROM list_entry"),
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("day", DATES)
def test_every_claimed_state_on_any_date(demo_at, day):
    found = states(demo_at(day))
    for lifecycle, claimed in CLAIMED_STATES.items():
        assert claimed <= found[lifecycle], f"{day}: the demo has no {sorted(claimed - found[lifecycle])} {lifecycle}"
    assert {str(o) for o in ObjectionOutcome} <= found["objection"]


def test_the_demo_claims_every_state_of_its_lifecycles():
    assert CLAIMED_STATES["application"] == {str(s) for s in ApplicationStatus}
    assert CLAIMED_STATES["offer"] == {str(s) for s in OfferStatus}
    assert CLAIMED_STATES["consent"] == {str(s) for s in ConsentStatus}
    assert CLAIMED_STATES["repair"] == {str(s) for s in RepairStatus}
    assert CLAIMED_STATES["list"] == {str(s) for s in ListName}
    assert CLAIMED_STATES["list_entry"] == {str(s) for s in EntryStatus}
    # open objections on time and overdue, and every outcome of a resolved one
    assert CLAIMED_STATES["objection"] == {"open", "overdue"} | {str(o) for o in ObjectionOutcome}


@pytest.mark.parametrize("day", DATES[1:2])
def test_the_demo_is_dated_by_as_of(demo_at, day):
    engine = sa.create_engine(demo_at(day))
    try:
        with engine.connect() as conn:
            assert str(conn.scalar(sa.text("SELECT max(as_of) FROM evaluation")))[:10] == "2024-02-29"
            latest = conn.scalar(sa.text("SELECT max(occurred_on) FROM credit_record"))
            assert str(latest)[:10] <= "2024-02-29"  # nothing happened after the demo's day
            created = str(conn.scalar(sa.text("SELECT min(created_at) FROM consent WHERE status != 'EXPIRED'")))
            assert created.startswith("2024-02-29 01:00")  # 09:00 Beijing time on the day
            expired = str(conn.scalar(sa.text("SELECT min(created_at) FROM consent WHERE status = 'EXPIRED'")))
            assert expired.startswith("2023-12-30 01:00")  # granted 61 days before, for 30 days
    finally:
        engine.dispose()


def test_a_bad_as_of_is_refused_naming_the_option(fresh_databases, tmp_path):
    result = seed_cli(fresh_databases.new(), tmp_path, "--firms", "5", "--as-of", "2025-02-30")
    assert result.exit_code == 1
    assert "--as-of：应为 YYYY-MM-DD 格式的有效日期，收到 '2025-02-30'" in result.output


@pytest.mark.parametrize(("args", "option", "message"), [
    (["--as-of", "2026-11-19"], "--as-of", "晚于今天"),  # the suite's tomorrow
    (["--as-of", "2019-12-31"], "--as-of", "不能早于 2020-01-01"),
    (["--password", "short"], "--password", "至少 10 个字符"),
    (["--firms", "0"], "--firms", "1 到 100000"),
    (["--firms", "100001"], "--firms", "1 到 100000"),
    (["--firms", "abc"], "--firms", "1 到 100000 之间的整数"),
    (["--as-of", "2025-13-01"], "--as-of", "有效日期"),
])
def test_bad_inputs_are_refused_before_anything_is_written(fresh_databases, tmp_path, args, option, message):
    url = fresh_databases.new()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setenv("PC_INSTANCE_PATH", str(tmp_path))
    try:
        result = CliRunner().invoke(main, ["seed", "--firms", "5", *args])
    finally:
        mp.undo()
    assert result.exit_code == 1, result.output
    assert option in result.output and message in result.output and "Traceback" not in result.output
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM enterprise")) == 0
    finally:
        engine.dispose()


# Coarse groups of grades for a back-test on every date (300 firms: a grade may hold a handful).
COARSE = [("AAA", "AA"), ("A",), ("BBB",), ("BB", "B", "CCC", "CC", "C")]


@pytest.mark.parametrize("day", DATES)
def test_on_any_date_most_firms_are_rated_and_a_back_test_a_year_back_holds(demo_at, day):
    """On its day the demo rates most firms over six letter grades or more and leaves the thin
    files not rated; its month-end history reaches back a year; the banks report each loan as
    of a day after what the report says happened, so the evaluation a year back saw no loan
    reported later; and as of a year back the default rate falls from the worst grades to the
    best (coarse groups: AAA–AA, A, BBB, BB and below)."""
    as_of = dt.date.fromisoformat(day)
    year_back = clock.add_months(as_of, -12)
    db = Database(demo_at(day))
    try:
        with db.session() as s:
            grades = Counter(s.scalars(sa.select(Evaluation.grade).where(Evaluation.current.is_(True))))
            assert 0 < grades[NOT_RATED] <= int(FIRMS) * 0.15 and sum(1 for g in GRADES if grades[g]) >= 6, grades

            base = s.scalar(sa.select(sa.func.max(Evaluation.as_of)).where(Evaluation.as_of <= year_back))
            assert base is not None, "the month-end history does not reach back a year"

            definition = current_scorecard().default_definition
            loans = s.execute(sa.select(CreditRecord.id, CreditRecord.payload)
                              .join(DataProvider, DataProvider.id == CreditRecord.provider_id)
                              .where(CreditRecord.category == Category.loan, DataProvider.code.startswith("bank-"))).all()
            reported = {rid: dt.date.fromisoformat(p["reported_on"]) for rid, p in loans}
            assert loans and max(reported.values()) <= as_of
            defaults = [(rid, when) for rid, p in loans if (when := loan_default_date(p, definition)) is not None]
            assert defaults and all(when <= reported[rid] for rid, when in defaults)
            seen = {rid for x in s.scalars(sa.select(Evaluation.explanation).where(Evaluation.as_of == base))
                    for item in [*x["factors"], *x["caps"]] for rid in item["record_ids"] if rid in reported}
            assert seen and all(reported[rid] <= base for rid in seen)

            report = validate_scorecard(s, current_scorecard().version, year_back, 12)
    finally:
        db.dispose()
    rows = {r["grade"]: r for r in report["grades"]}
    coarse = []
    for group in COARSE:
        count, defaulted = sum(rows[g]["count"] for g in group), sum(rows[g]["defaults"] for g in group)
        coarse.append({"grade": group[0], "count": count, "defaults": defaulted,
                       "default_rate": defaulted / count if count else None})
    table = "  ".join(f"{r['grade']} {r['defaults']}/{r['count']}" for r in report["grades"] if r["count"])
    assert report["population"]["defaults"] >= 15, table
    assert monotonicity(coarse)["holds"], f"{year_back}: {table}"


@pytest.mark.parametrize("day", DATES)
def test_the_sample_screening_shows_each_rule_failing_and_the_demo_firm_sees_it(demo_at, day):
    """The tenderer's sample screening: the demo firm among the bidders (its query log shows
    the screening), a bidder failing on each of the tender's rules, the serious-penalty rule
    included, and the 失信 cases at the courts where the firms are registered, not one court."""
    engine = sa.create_engine(demo_at(day))
    try:
        with engine.connect() as conn:
            no, body = conn.execute(sa.text("SELECT screening_no, body FROM screening")).one()
            bidders = json.loads(body)["bidders"]
            firm = conn.scalar(sa.text("SELECT e.uscc FROM app_user u JOIN enterprise e ON e.id = u.enterprise_id "
                                       "WHERE u.username = 'firm'"))
            assert firm in {b["uscc"] for b in bidders}
            logged = conn.scalars(sa.text("SELECT q.resource FROM query_log q JOIN enterprise e "
                                          "ON e.id = q.enterprise_id WHERE e.uscc = :uscc"), {"uscc": firm}).all()
            assert f"screening:{no}" in logged
            reasons = [r for b in bidders for r in b["reasons"]]
            assert any(r.startswith("近 3 年内严重行政处罚") for r in reasons), reasons
            assert any("低于本次招标要求的最低等级" in r for r in reasons)
            assert any(r.startswith("列入黑名单") for r in reasons)
            payloads = conn.scalars(sa.text("SELECT payload FROM credit_record WHERE category = 'judicial'")).all()
            names = {(json.loads(p) if isinstance(p, str) else p)["court"] for p in payloads}
            assert len(names) > 3, names
    finally:
        engine.dispose()
