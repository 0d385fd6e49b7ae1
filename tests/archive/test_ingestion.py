"""Ingestion service: per-row results, idempotent resend, corrections with history,
provider categories, all-or-nothing batches and retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.ingestion import ingest_records
from app.archive.ingestion_results import RowError
from app.archive.models import (
    CreditRecord,
    CreditRecordVersion,
    IngestionRefusal,
    IngestionRun,
    RecordStatus,
)
from app.archive.services import expire_records, record_history
from app.core import clock


def _count(db: Session, model: Any) -> int:
    return int(db.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_good_rows_land_and_bad_rows_are_reported_by_index_and_field(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    batch = [
        rows.contract(ent.uscc, "c-1"),
        rows.contract(ent.uscc, "c-2", amount="-5"),
        rows.utility(ent.uscc, "u-1"),
        {"provider_ref": "x", "uscc": ent.uscc, "category": "contract", "payload": {}, "extra": 1},
        RowError("第 5 行不是合法的 JSON"),
    ]
    result = ingest_records(db, provider, batch)
    assert result.committed
    assert (result.accepted, result.refused) == (2, 3)
    by_index = {r.index: r for r in result.rows}
    assert by_index[0].status == "accepted" and by_index[0].record_id
    assert by_index[1].status == "refused" and "payload.amount" in by_index[1].errors
    assert "extra" in by_index[3].errors and "payload.contract_no" in by_index[3].errors
    assert by_index[4].errors == {"_row": ["第 5 行不是合法的 JSON"]}
    assert _count(db, CreditRecord) == 2
    refusals = db.scalars(sa.select(IngestionRefusal).where(IngestionRefusal.run_id == result.run_id)).all()
    assert sorted(r.row_index for r in refusals) == [1, 3, 4]
    run = db.get(IngestionRun, result.run_id)
    assert (run.total, run.accepted, run.refused, run.committed) == (5, 2, 3, True)


def test_resending_a_batch_changes_nothing(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    batch = [rows.contract(ent.uscc, "c-1"), rows.utility(ent.uscc, "u-1")]
    first = ingest_records(db, provider, batch)
    before = db.execute(sa.select(CreditRecord.id, CreditRecord.version, CreditRecord.updated_at)).all()
    again = ingest_records(db, provider, batch)
    assert (again.accepted, again.unchanged, again.corrected) == (0, 2, 0)
    assert [r.record_id for r in again.rows] == [r.record_id for r in first.rows]
    assert db.execute(sa.select(CreditRecord.id, CreditRecord.version, CreditRecord.updated_at)).all() == before
    assert _count(db, CreditRecordVersion) == 0


def test_correction_supersedes_and_keeps_history(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    ingest_records(db, provider, [rows.contract(ent.uscc, "c-1")])
    due = clock.today() - dt.timedelta(days=100)
    corrected = rows.contract(ent.uscc, "c-1", status="late",
                              fulfilled_on=(due + dt.timedelta(days=9)).isoformat())
    result = ingest_records(db, provider, [corrected])
    assert result.corrected == 1 and result.rows[0].version == 2
    record = db.get(CreditRecord, result.rows[0].record_id)
    db.refresh(record)
    assert record.version == 2
    assert record.status == RecordStatus.corrected
    assert record.polarity == "bad" and record.severity == 1
    history = record_history(db, record)
    assert [h.version for h in history] == [1]
    assert history[0].payload["status"] == "on_time"
    assert history[0].superseded_by_run_id == result.run_id


def test_same_ref_twice_in_one_batch_is_a_correction_of_the_first(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    result = ingest_records(db, provider, [rows.contract(ent.uscc, "c-9"),
                                           rows.contract(ent.uscc, "c-9", amount="999.00")])
    assert [r.status for r in result.rows] == ["accepted", "corrected"]
    assert _count(db, CreditRecordVersion) == 1


def test_provider_may_only_submit_its_own_categories(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider(categories=["utility"])
    result = ingest_records(db, provider, [rows.contract(ent.uscc), rows.utility(ent.uscc)])
    assert [r.status for r in result.rows] == ["refused", "accepted"]
    assert "category" in result.rows[0].errors
    assert provider.code in result.rows[0].errors["category"][0]


def test_records_for_unregistered_firms_are_refused(db, make_provider, rows):
    provider = make_provider()
    result = ingest_records(db, provider, [rows.contract("91440101MA5CJQ4N59")])
    assert result.refused == 1 and "uscc" in result.rows[0].errors


def test_all_or_nothing_writes_nothing_when_a_row_is_refused(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    result = ingest_records(db, provider, [rows.contract(ent.uscc, "ok"), rows.contract(ent.uscc, "bad", amount="x")],
                            mode="all_or_nothing")
    assert not result.committed
    assert [r.status for r in result.rows] == ["rolled_back", "refused"]
    assert _count(db, CreditRecord) == 0
    run = db.get(IngestionRun, result.run_id)
    assert run.committed is False and run.refused == 1


def test_negative_records_expire_five_years_after_the_behaviour_ended(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    due = clock.today() - dt.timedelta(days=400)
    late = rows.contract(ent.uscc, "late-1", status="late", signed_on=(due - dt.timedelta(days=30)).isoformat(),
                         due_on=due.isoformat(), fulfilled_on=(due + dt.timedelta(days=10)).isoformat())
    good = rows.contract(ent.uscc, "good-1")
    result = ingest_records(db, provider, [late, good])
    late_rec = db.get(CreditRecord, result.rows[0].record_id)
    good_rec = db.get(CreditRecord, result.rows[1].record_id)
    ended = due + dt.timedelta(days=10)
    assert late_rec.expires_on == clock.add_years(ended, 5)
    assert good_rec.expires_on is None
    assert expire_records(db, as_of=late_rec.expires_on - dt.timedelta(days=1)) == 0
    assert expire_records(db, as_of=late_rec.expires_on) == 1
    assert expire_records(db, as_of=late_rec.expires_on) == 0  # idempotent
    db.refresh(late_rec)
    db.refresh(good_rec)
    assert late_rec.status == RecordStatus.expired
    assert good_rec.status == RecordStatus.active


def test_a_utility_bill_paid_within_its_own_month_is_accepted(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    month = (clock.today().replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    paid = month + dt.timedelta(days=24)  # before the month ends
    result = ingest_records(db, provider, [rows.utility(ent.uscc, "early", month=month.strftime("%Y-%m"),
                                                         paid_on=paid.isoformat())])
    assert result.accepted == 1, result.refusals
    rec = db.get(CreditRecord, result.rows[0].record_id)
    assert (rec.occurred_on, rec.ended_on) == (paid, paid)


def test_a_record_already_past_retention_is_archived_as_expired(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    due = clock.today() - dt.timedelta(days=6 * 366)
    old = rows.contract(ent.uscc, "old", status="breached", signed_on=(due - dt.timedelta(days=30)).isoformat(),
                        due_on=due.isoformat(), fulfilled_on=None)
    old["payload"].pop("fulfilled_on")
    result = ingest_records(db, provider, [old])
    assert result.accepted == 1
    assert db.get(CreditRecord, result.rows[0].record_id).status == RecordStatus.expired


AWKWARD = ["反斜杠 \\ 与 \\N 与 \\t", 'quote " and \\"escaped\\"', "tab\there", "new\nline", "cr\rhere",
           "line\u2028separator", "emoji 🔌 电力", "trailing space "]


def test_awkward_text_survives_the_bulk_writer_byte_for_byte(db, make_enterprise, make_provider, rows):
    """The bulk path (COPY text format on PostgreSQL, executemany on SQLite) stores exactly
    what was sent: backslashes, quotes, control characters, Unicode line separators."""
    ent = make_enterprise()
    provider = make_provider()
    batch = [rows.contract(ent.uscc, f"t-{i}", subject=text, counterparty_name=text)
             for i, text in enumerate(AWKWARD)]
    result = ingest_records(db, provider, batch)
    assert result.accepted == len(AWKWARD), result.refusals
    stored = {r.provider_ref: r.payload for r in db.scalars(sa.select(CreditRecord))}
    for i, text in enumerate(AWKWARD):
        assert stored[f"t-{i}"]["subject"] == text
        assert stored[f"t-{i}"]["counterparty_name"] == text
    # and a resend is recognised as unchanged: the digest is over what was stored
    again = ingest_records(db, provider, batch)
    assert again.unchanged == len(AWKWARD)


def test_record_ids_reported_are_the_stored_ones(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    result = ingest_records(db, provider, [rows.contract(ent.uscc, f"id-{i}") for i in range(25)], chunk_size=7)
    stored = dict(db.execute(sa.select(CreditRecord.provider_ref, CreditRecord.id)).all())
    assert {r.provider_ref: r.record_id for r in result.rows} == stored
    assert len(set(stored.values())) == 25
    # a second batch continues the id sequence without collisions
    more = ingest_records(db, provider, [rows.contract(ent.uscc, f"id-b{i}") for i in range(5)])
    assert min(r.record_id for r in more.rows) > max(stored.values())


def test_a_nul_character_is_refused_with_the_field_named(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    result = ingest_records(db, make_provider(), [rows.contract(ent.uscc, "nul", subject="a\u0000b")])
    assert result.refused == 1
    assert "payload.subject" in result.refusals[0].errors


def test_validation_workers_give_the_same_report_as_in_process(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    provider = make_provider()
    batch: list[Any] = []
    for i in range(60):
        row = rows.contract(ent.uscc, f"w-{i}") if i % 2 else rows.utility(ent.uscc, f"w-{i}")
        if i % 7 == 0:
            row["payload"]["status"] = "nonsense"
        batch.append(row)
    batch.append(RowError("第 61 行不是合法的 JSON"))
    with_workers = ingest_records(db, provider, batch, chunk_size=8, workers=2)
    in_process = ingest_records(db, make_provider(), batch, chunk_size=8, workers=0)

    def report(result: Any) -> list[tuple[int, str, str | None, Any]]:
        return [(r.index, r.status, r.provider_ref, r.errors) for r in result.rows]

    assert report(with_workers) == report(in_process)
    assert with_workers.refused == in_process.refused == 10
    assert with_workers.accepted == in_process.accepted == 51


def test_firms_seen_before_the_enterprise_cache_is_cleared_are_still_found(db, make_enterprise, make_provider,
                                                                          rows, monkeypatch):
    from app.archive import ingestion

    monkeypatch.setattr(ingestion._Ingestor, "ENTERPRISE_CACHE", 1)
    a, b = make_enterprise(), make_enterprise()
    batch = [rows.contract(a.uscc, "a-1"), rows.contract(b.uscc, "b-1"), rows.contract(a.uscc, "a-2")]
    result = ingest_records(db, make_provider(), batch, chunk_size=1)
    assert (result.accepted, result.refused) == (3, 0), result.refusals


def test_a_lone_surrogate_is_refused_with_the_field_named(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    result = ingest_records(db, make_provider(), [rows.contract(ent.uscc, "s-1", subject="bad \ud800 text"),
                                                  rows.contract(ent.uscc, "s-2")])
    assert (result.accepted, result.refused) == (1, 1)
    assert "payload.subject" in result.refusals[0].errors


def test_absurdly_nested_json_is_one_refused_row(db, make_enterprise, make_provider, rows):
    import json

    from app.archive.ingestion_results import JsonLine

    ent = make_enterprise()
    batch = [JsonLine(1, "[" * 100_000), JsonLine(2, json.dumps(rows.contract(ent.uscc, "n-1")))]
    result = ingest_records(db, make_provider(), batch)
    assert (result.accepted, result.refused) == (1, 1)
    assert result.refusals[0].errors == {"_row": ["第 1 行的 JSON 嵌套过深。"]}


def test_postgresql_connections_speak_utf8_whatever_the_environment_says(db, monkeypatch):
    from app.core.db import make_engine

    if db.get_bind().dialect.name != "postgresql":
        return  # SQLite has no client encoding
    monkeypatch.setenv("PGCLIENTENCODING", "GBK")
    engine = make_engine(db.get_bind().engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW client_encoding").scalar() == "UTF8"
    finally:
        engine.dispose()


def test_a_ref_corrected_within_one_chunk_without_row_results(db, make_enterprise, make_provider, rows):
    """keep_rows=False (imports) writes without asking for ids; a correction later in the same
    chunk still finds the record it supersedes."""
    ent = make_enterprise()
    first = rows.contract(ent.uscc, "dup-1")
    second = rows.contract(ent.uscc, "dup-1", amount="99.00")
    result = ingest_records(db, make_provider(), [first, second], keep_rows=False)
    assert (result.accepted, result.corrected, result.refused) == (1, 1, 0)
    record = db.scalars(sa.select(CreditRecord).where(CreditRecord.provider_ref == "dup-1")).one()
    assert record.version == 2 and record.payload["amount"] == "99.00"
    assert [v.version for v in record_history(db, record)] == [1]


def test_records_name_a_firm_registered_with_a_legacy_pilot_code(db, cipher, make_provider, rows):
    from app.archive.services import load_enterprise, register_enterprise

    legacy, _ = register_enterprise(db, cipher, load_enterprise({"uscc": "91350100M0001TGQXM", "name": "福州某电力工程有限公司",
                                                                 "segment": "construction"}), allow_legacy=True)
    provider = make_provider()
    result = ingest_records(db, provider, [rows.contract(legacy.uscc, "legacy-1"),
                                           rows.contract(legacy.uscc.lower(), "legacy-2")])  # fast path and schema
    assert result.accepted == 2, result.refusals
    # A legacy code is not for new firms, nor inside a payload.
    stranger = ingest_records(db, provider, [rows.contract("91350211M0000XUF46", "legacy-3")])
    assert stranger.refused == 1 and "uscc" in stranger.rows[0].errors
    inside = ingest_records(db, provider, [rows.contract(legacy.uscc, "legacy-4", counterparty_uscc=legacy.uscc)])
    assert inside.refused == 1 and "payload.counterparty_uscc" in inside.rows[0].errors


def test_behaviour_still_going_on_does_not_expire_until_it_ends(db, make_enterprise, make_provider):
    """Art. 16: five years from the end of the behaviour — an unperformed judgment, a loan
    still overdue and a bill still unpaid have no end yet, however long ago they began."""
    ent = make_enterprise()
    provider = make_provider(["judicial", "loan", "utility"])
    long_ago = clock.add_years(clock.today(), -7)
    judgment = {"case_no": f"({long_ago.year})皖1122执1194号", "court": "安徽省某县人民法院",
                "filed_on": long_ago.isoformat(), "obligation": "支付货款 120 万元", "performance": "none",
                "dishonest_conduct": "evade_enforcement", "published_on": (long_ago + dt.timedelta(days=30)).isoformat()}
    loan = {"lender": "某银行", "amount": "5000000", "start_on": long_ago.isoformat(),
            "end_on": (long_ago + dt.timedelta(days=365)).isoformat(), "status": "overdue", "overdue_days": 2000}
    bill = {"month": long_ago.strftime("%Y-%m"), "consumption_kwh": "15000", "amount_due": "9300.00",
            "status": "arrears", "arrears_amount": "9300.00", "arrears_months": 80}
    result = ingest_records(db, provider, [
        {"provider_ref": "j-1", "uscc": ent.uscc, "category": "judicial", "payload": judgment},
        {"provider_ref": "l-1", "uscc": ent.uscc, "category": "loan", "payload": loan},
        {"provider_ref": "u-1", "uscc": ent.uscc, "category": "utility", "payload": bill},
    ])
    assert result.refused == 0, [r.errors for r in result.rows]
    records = [db.get(CreditRecord, r.record_id) for r in result.rows]
    assert [(r.expires_on, r.status) for r in records] == [(None, RecordStatus.active)] * 3
    assert expire_records(db, as_of=clock.today()) == 0
    # The judgment is performed two years ago: five years from then.
    performed = clock.add_years(clock.today(), -2)
    done = {**judgment, "performance": "full", "performed_on": performed.isoformat()}
    done.pop("dishonest_conduct"), done.pop("published_on")
    again = ingest_records(db, provider, [{"provider_ref": "j-1", "uscc": ent.uscc, "category": "judicial",
                                           "payload": done}])
    assert again.rows[0].status == "corrected", again.rows[0]
    corrected = db.get(CreditRecord, again.rows[0].record_id)
    assert corrected.expires_on == clock.add_years(performed, 5)
