"""``powercredit import``: CSV / JSON / NDJSON files, per-row report, and a kill half-way
leaves the database unchanged."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.archive.models import CreditRecord, IngestionRun
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.cli import main
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from tests.conftest import contract_row, frozen_python, utility_row

FIRM = make_uscc("9", "1", "330106", "70000001")


@pytest.fixture
def cli_db(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    database = Database(url)
    with database.transaction() as session:
        create_provider(session, code="grid", name="电网营销系统", kind="grid_company", categories=["utility", "contract"])
        register_enterprise(session, FieldCipher(KeyRing.generate()),
                            load_enterprise({"uscc": FIRM, "name": "杭州某电气设备有限公司", "segment": "supplier"}))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    yield database
    database.dispose()


def _count(database: Database, model) -> int:
    with database.transaction() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_import_csv_with_a_refused_row_and_a_report(cli_db, tmp_path):
    csv_file = tmp_path / "utility.csv"
    good = utility_row(FIRM, "u-1")["payload"]
    header = "provider_ref,uscc,category,month,consumption_kwh,amount_due,status,paid_on\n"
    lines = [f"u-1,{FIRM},utility,{good['month']},15000,9300.00,on_time,{good['paid_on']}",
             f"u-2,{FIRM},utility,{good['month']},-3,9300.00,on_time,{good['paid_on']}"]
    csv_file.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "refused.ndjson"
    result = CliRunner().invoke(main, ["import", str(csv_file), "--provider", "grid", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "接受 1" in result.output and "拒绝 1" in result.output
    assert "payload.consumption_kwh" in result.output
    refused = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert refused == [{"row": 2, "provider_ref": "u-2", "errors": {"payload.consumption_kwh": ["金额不能为负数。"]}}]
    assert _count(cli_db, CreditRecord) == 1
    again = CliRunner().invoke(main, ["import", str(csv_file), "--provider", "grid"])
    assert "未变 1" in again.output
    assert _count(cli_db, CreditRecord) == 1


def test_import_json_array_and_ndjson(cli_db, tmp_path):
    array = tmp_path / "contracts.json"
    array.write_text(json.dumps([contract_row(FIRM, "c-1"), contract_row(FIRM, "c-2")]), encoding="utf-8")
    nd = tmp_path / "more.ndjson"
    nd.write_text(json.dumps(utility_row(FIRM, "u-9")) + "\n", encoding="utf-8")
    for path in (array, nd):
        result = CliRunner().invoke(main, ["import", str(path), "--provider", "grid"])
        assert result.exit_code == 0, result.output
    assert _count(cli_db, CreditRecord) == 3


def test_all_or_nothing_import_exits_non_zero_and_writes_nothing(cli_db, tmp_path):
    nd = tmp_path / "mixed.ndjson"
    nd.write_text(json.dumps(utility_row(FIRM, "a")) + "\n" + json.dumps(utility_row(FIRM, "b", amount_due="x")) + "\n",
                  encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(nd), "--provider", "grid", "--mode", "all_or_nothing"])
    assert result.exit_code == 2
    assert _count(cli_db, CreditRecord) == 0
    [(run, refusals)] = _runs(cli_db)  # its run, with the refused row, is kept
    assert (run["mode"], run["committed"], run["total"], run["accepted"], run["refused"]) == (
        "all_or_nothing", False, 2, 0, 1)
    assert [(r["row_index"], r["provider_ref"]) for r in refusals] == [(1, "b")]


def test_unknown_provider_is_a_clear_error(cli_db, tmp_path):
    nd = tmp_path / "x.ndjson"
    nd.write_text(json.dumps(utility_row(FIRM)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(nd), "--provider", "nobody"])
    assert result.exit_code == 1
    assert "nobody" in result.output
    assert _runs(cli_db) == []  # no provider's batch: nothing to record


def _runs(database: Database) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every run, oldest first, with its refusals in row order."""
    with database.transaction() as session:
        runs = session.scalars(sa.select(IngestionRun).order_by(IngestionRun.id)).all()
        return [({c: getattr(run, c) for c in ("id", "source", "filename", "mode", "total", "accepted", "refused",
                                               "committed", "finished_at")},
                 [{"row_index": f.row_index, "provider_ref": f.provider_ref, "errors": f.errors}
                  for f in run.refusals]) for run in runs]


def test_a_long_provider_ref_in_a_file_is_one_refused_row(cli_db, tmp_path):
    """It used to be a traceback with nothing written on PostgreSQL (the refusal overflowed
    ``ingestion_refusal.provider_ref``)."""
    nd = tmp_path / "long.ndjson"
    nd.write_text(json.dumps(utility_row(FIRM, "L" * 129)) + "\n" + json.dumps(utility_row(FIRM, "ok")) + "\n",
                  encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(nd), "--provider", "grid", "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "接受 1" in result.output and "拒绝 1" in result.output and "provider_ref" in result.output
    assert _count(cli_db, CreditRecord) == 1
    [(run, refusals)] = _runs(cli_db)
    assert run["committed"] and run["filename"] == str(nd)
    assert [(r["row_index"], r["provider_ref"]) for r in refusals] == [(0, "L" * 127 + "…")]
    assert "129" in refusals[0]["errors"]["provider_ref"][0]


def test_a_file_that_cannot_be_read_leaves_a_run_with_its_reason(cli_db, tmp_path):
    """A file read half-way and then found unreadable is rolled back whole; the run says why
    (at row -1, ``_batch``) and is kept, written after the rollback in its own transaction."""
    header = tmp_path / "dupes.csv"
    header.write_text("provider_ref,uscc,category,month,month\n", encoding="utf-8")
    bad_bytes = tmp_path / "latin1.ndjson"
    good = "".join(json.dumps(utility_row(FIRM, f"u-{i}")) + "\n" for i in range(200)).encode()
    bad_bytes.write_bytes(good + b'{"provider_ref": "caf\xe9"}\n')  # past the reader's first buffer
    first = CliRunner().invoke(main, ["import", str(header), "--provider", "grid"])
    second = CliRunner().invoke(main, ["import", str(bad_bytes), "--provider", "grid", "--chunk-size", "10",
                                       "--workers", "0"])
    assert first.exit_code == second.exit_code == 1
    assert "CSV 表头有重复列：month，整批未写入" in first.output
    assert "文件不是合法的 UTF-8 文本" in second.output and "Traceback" not in second.output
    assert _count(cli_db, CreditRecord) == 0
    runs = _runs(cli_db)
    assert [(run["filename"], run["committed"], run["accepted"]) for run, _ in runs] == [
        (str(header), False, 0), (str(bad_bytes), False, 0)]
    assert all(run["finished_at"] is not None and run["source"] == "file" for run, _ in runs)
    [(csv_run, [csv_reason]), (nd_run, [nd_reason])] = runs
    assert (csv_reason["row_index"], csv_reason["provider_ref"]) == (-1, None)
    assert csv_reason["errors"] == {"_batch": ["CSV 表头有重复列：month，整批未写入"]}
    assert 0 < nd_run["total"] < 200  # the chunks read before the bad bytes, rolled back with them
    assert nd_reason["errors"]["_batch"][0].startswith(f"处理了 {nd_run['total']} 行之后：文件不是合法的 UTF-8 文本")


def test_an_import_killed_half_way_leaves_the_database_unchanged(cli_db, tmp_path):
    fifo = tmp_path / "feed.ndjson"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*frozen_python("from app.cli import main; main()"), "import", str(fifo), "--provider", "grid",
         "--format", "ndjson", "--chunk-size", "100", "--workers", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=Path(__file__).resolve().parents[2],
    )
    writer = open(fifo, "w", encoding="utf-8")  # noqa: SIM115 (kept open across the kill)
    try:
        for i in range(350):
            writer.write(json.dumps(contract_row(FIRM, f"k-{i}")) + "\n")
        writer.flush()
        seen = b""
        deadline = time.monotonic() + 60
        while "已处理 300 行".encode() not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"importer exited early: {seen.decode(errors='replace')}"
                seen += chunk
        assert "尚未提交".encode() in seen  # 300 rows were written inside the open transaction
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _count(cli_db, CreditRecord) == 0
    assert _count(cli_db, IngestionRun) == 0
    # and the database is usable: the same rows import cleanly afterwards
    complete = tmp_path / "complete.ndjson"
    complete.write_text("".join(json.dumps(contract_row(FIRM, f"k-{i}")) + "\n" for i in range(350)), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(complete), "--provider", "grid"])
    assert result.exit_code == 0, result.output
    assert _count(cli_db, CreditRecord) == 350


def test_enterprise_import_accepts_legacy_codes_with_a_warning(cli_db, tmp_path):
    csv_file = tmp_path / "firms.csv"
    csv_file.write_text(
        "uscc,name,segment\n91350100M0001TGQXM,福州某电力工程有限公司,construction\n"
        "91350100M0001TGQXA,校验位错误公司,construction\n91440101MA5CJQ4N59,广州某售电有限公司,retail\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["enterprises", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "新增 2 家" in result.output and "拒绝 1 行" in result.output
    assert "早期试点" in result.output
    assert "第 2 行被拒" in result.output


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def test_killing_an_import_with_validation_workers_leaves_nothing_behind(cli_db, tmp_path):
    big = tmp_path / "big.ndjson"
    big.write_text("".join(json.dumps(contract_row(FIRM, f"w-{i}")) + "\n" for i in range(20_000)), encoding="utf-8")
    proc = subprocess.Popen(
        [*frozen_python("from app.cli import main; main()"), "import", str(big), "--provider", "grid",
         "--chunk-size", "100", "--workers", "2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while "已处理 300 行".encode() not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"importer exited early: {seen.decode(errors='replace')}"
            seen += chunk
        assert len(_processes_mentioning(str(big))) >= 2  # the importer and its workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert _count(cli_db, CreditRecord) == 0
    assert _count(cli_db, IngestionRun) == 0
    deadline = time.monotonic() + 30  # orphaned workers notice their parent is gone and exit
    while _processes_mentioning(str(big)):
        assert time.monotonic() < deadline, "validation workers outlived the killed import"
        time.sleep(0.2)
    result = CliRunner().invoke(main, ["import", str(big), "--provider", "grid", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "接受 20000" in result.output
    assert _count(cli_db, CreditRecord) == 20_000


def _last_analyze(database: Database) -> object:
    with database.transaction() as session:
        return session.execute(sa.text(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'credit_record' "
            "AND schemaname = current_schema()")).scalar()


def test_a_bulk_import_refreshes_the_planners_statistics_on_postgresql(cli_db, tmp_path, monkeypatch, backend):
    import app.core.db

    def import_two(ref: str) -> str:
        path = tmp_path / f"{ref}.ndjson"
        path.write_text("".join(json.dumps(utility_row(FIRM, f"{ref}-{i}"), ensure_ascii=False) + "\n"
                                for i in range(2)), encoding="utf-8")
        result = CliRunner().invoke(main, ["import", str(path), "--provider", "grid", "--no-evaluate"])
        assert result.exit_code == 0, result.output
        return result.output

    small = import_two("small")  # below the bulk threshold: left to autovacuum
    assert "ANALYZE" not in small
    if backend == "postgresql":
        assert _last_analyze(cli_db) is None
    monkeypatch.setattr(app.core.db, "BULK_ROWS", 2)
    bulk = import_two("bulk")
    if backend == "postgresql":
        assert "已更新数据库查询统计信息" in bulk
        assert _last_analyze(cli_db) is not None
    else:  # SQLite: nothing to refresh
        assert "ANALYZE" not in bulk
    assert _count(cli_db, CreditRecord) == 4
