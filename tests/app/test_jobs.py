"""The job queue (Huey) on its SQLite file and on Redis: jobs by name, the schedule from
configuration, draining until idle, and work queued only once a transaction commits."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from app import wiring
from app.core import clock, jobs
from app.core.config import ConfigError, Settings, load_settings
from app.core.db import Database, after_commit

REDIS = os.environ.get("TEST_REDIS_URL")
QUEUES = ["sqlite"] + (["redis"] if REDIS else [])
ran: list[tuple[str, dict[str, Any]]] = []


def _record(runtime: jobs.Runtime, **kwargs: Any) -> str:
    ran.append(("test.record", kwargs))
    return "ok"


def _chain(runtime: jobs.Runtime) -> str:
    ran.append(("test.chain", {}))
    jobs.enqueue("test.record", via="chain")
    return "chained"


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    wiring.register_jobs()
    jobs.register("test.record", "测试：记录一次执行", _record)
    jobs.register("test.chain", "测试：再排一个任务", _chain)
    ran.clear()
    yield
    jobs.forget()


def settings_for(kind: str, tmp_path: Path, **extra: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'jobs.db'}" if kind == "sqlite" else str(REDIS)
    return load_settings({"instance_path": tmp_path, "secret_key": "x", "queue_url": url, **extra})


@pytest.fixture(params=QUEUES)
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[jobs.Queue]:
    q = jobs.configure(settings_for(request.param, tmp_path), blocking=False)
    if request.param == "redis":  # a queue of this test's own on the shared Redis
        q = jobs.Queue(settings_for("redis", tmp_path), blocking=False, name=f"pc-test-{uuid.uuid4().hex[:8]}")
        jobs._queue = q  # the process's queue, as configure() sets it
    q.flush()
    yield q
    q.flush()


def test_a_job_enqueued_by_name_runs_once_when_drained(queue: jobs.Queue, tmp_path: Path) -> None:
    jobs.bind(jobs.Runtime(database=None, settings=queue.settings))  # type: ignore[arg-type]
    assert jobs.enqueue("test.record", n=1)
    assert queue.pending() == 1
    assert queue.drain() == 1
    assert ran == [("test.record", {"n": 1})]
    assert queue.pending() == 0 and queue.drain() == 0


def test_until_idle_runs_what_jobs_enqueue_in_turn(queue: jobs.Queue) -> None:
    runtime = jobs.Runtime(database=None, settings=queue.settings)  # type: ignore[arg-type]
    queue.enqueue("test.chain")
    sweeps = {name: job for name, job in jobs.registered().items() if job.sweep}
    for name in sweeps:  # no database here: the sweeps are tested with monitoring
        jobs.register(name, "停用", lambda runtime: 0, sweep=True)
    try:
        assert jobs.run_until_idle(queue, runtime) == 2
    finally:
        wiring.register_jobs()
    assert [name for name, _ in ran] == ["test.chain", "test.record"]


def test_an_unknown_job_is_refused_when_enqueued(queue: jobs.Queue) -> None:
    with pytest.raises(KeyError):
        queue.enqueue("no.such.job")


@pytest.mark.parametrize(("schedule", "message"), [
    ({"no.such.job": "* * * * *"}, "不存在"),
    ({"audit.sign_head": "61 * * * *"}, "无效"),
    ({"audit.sign_head": "* * *"}, "5 个字段"),
])
def test_a_bad_schedule_stops_start_up_naming_the_job(tmp_path: Path, schedule: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        jobs.Queue(settings_for("sqlite", tmp_path, job_schedule=schedule))


def test_the_schedule_in_configuration_changes_and_turns_off_jobs(tmp_path: Path) -> None:
    q = jobs.Queue(settings_for("sqlite", tmp_path, job_schedule={"audit.sign_head": "0 3 * * *",
                                                                   "archive.retention": ""}))
    assert q.schedule["audit.sign_head"] == "0 3 * * *"
    assert "archive.retention" not in q.schedule
    assert q.schedule["monitoring.dispatch"] == "* * * * *"


def test_cron_is_read_in_shanghai_time() -> None:
    test = jobs.parse_cron("0 3 * * *")
    # 03:00 in Shanghai is 19:00 UTC the day before (Huey hands naive UTC).
    assert jobs.due(test, dt.datetime(2026, 11, 17, 19, 0))
    assert not jobs.due(test, dt.datetime(2026, 11, 18, 3, 0))


def test_work_is_queued_only_when_the_transaction_commits(queue: jobs.Queue, fresh_databases: Any) -> None:
    database = Database(fresh_databases.new())
    try:
        with pytest.raises(RuntimeError), database.transaction() as session:
            after_commit(session, lambda: jobs.enqueue("test.record", when="rolled back"), key="k")
            raise RuntimeError("rolled back")
        assert queue.pending() == 0
        with database.transaction() as session:
            after_commit(session, lambda: jobs.enqueue("test.record", when="committed"), key="k")
            after_commit(session, lambda: jobs.enqueue("test.record", when="committed"), key="k")  # once per key
        assert queue.pending() == 1
    finally:
        database.dispose()


def test_the_cli_lists_enqueues_and_drains(fresh_databases: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator types: the jobs with their schedules in a table, a job put on the
    queue by name, the queue drained; an unknown name refused in Chinese."""
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("PC_QUEUE_URL", raising=False)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=clock.BEIJING), tick=False):
        listed = CliRunner().invoke(main, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "audit.sign_head" in line)
    assert "签署审计日志树头" in row and "5 * * * *" in row and "2026-11-18 10:05" in row  # Shanghai time
    assert "排队 0 个" in listed.output
    assert "\t" not in listed.output
    enqueued = CliRunner().invoke(main, ["jobs", "enqueue", "archive.retention"])
    assert enqueued.exit_code == 0, enqueued.output
    assert "排队 1 个" in CliRunner().invoke(main, ["jobs", "list"]).output
    drained = CliRunner().invoke(main, ["jobs", "run", "--until-idle"])
    assert drained.exit_code == 0 and "已空闲" in drained.output, drained.output
    assert "排队 0 个" in CliRunner().invoke(main, ["jobs", "list"]).output
    unknown = CliRunner().invoke(main, ["jobs", "enqueue", "no.such.job"])
    assert unknown.exit_code != 0 and "no.such.job" in unknown.output
