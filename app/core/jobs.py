"""The job queue: Huey, on a SQLite file in the instance folder by default and on Redis when
``PC_QUEUE_URL=redis://…``.

Work is registered here by name (:func:`register`) by the roof at start-up, so that a lower
layer's job needs no import of the queue's consumer and the consumer needs no import of any
layer: every job is ``fn(runtime, **kwargs)`` with the process's database and settings.  One
Huey task (``pc.job``) runs a registered job by name; the schedule (cron expressions read in
Asia/Shanghai time, :data:`DEFAULT_SCHEDULE` changed by ``PC_JOB_SCHEDULE``) becomes Huey
periodic tasks.

Jobs marked ``sweep`` pick up what is due (events not yet dispatched, webhook deliveries whose
time has come) and return how much they did; ``powercredit jobs run --until-idle`` runs them
and drains the queue until neither has anything left, then exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import clock
from app.core.config import ConfigError, Settings
from app.core.db import Database

log = logging.getLogger(__name__)
SHANGHAI = clock.BEIJING  # cron is read in China Standard Time
QUEUE_NAME = "powercredit"

# Job name → cron (minute hour day month weekday), Asia/Shanghai time.
DEFAULT_SCHEDULE = {
    # Events not yet dispatched, webhook deliveries due (retries): a commit queues the first
    # itself, so these are the safety net and the retry clock.
    "monitoring.dispatch": "* * * * *",
    "monitoring.deliver": "* * * * *",
    "audit.sign_head": "5 * * * *",  # a signed tree head of the audit log every hour
    "archive.retention": "30 1 * * *",  # negative records past their 5 years, expired
    "oversight.refresh_lists": "0 2 * * *",  # red, black and watch lists recomputed
    "scoring.evaluate_changed": "30 2 * * *",  # firms whose records changed, re-graded
    "scoring.monthly_index": "0 6 1 * *",  # last month's index and its early-warning thresholds
    "certificates.advance": "15 0 * * *",  # certificates: expiry, the rule, annual reviews, issue after notice
}


@dataclass(frozen=True)
class Runtime:
    """What a job runs with: the process's database and settings."""

    database: Database
    settings: Settings


@dataclass(frozen=True)
class Job:
    name: str
    label: str  # what operators read (Chinese)
    run: Callable[..., Any]  # fn(runtime, **kwargs) -> a summary (a count for sweeps)
    sweep: bool = False


_jobs: dict[str, Job] = {}


def register(name: str, label: str, run: Callable[..., Any], *, sweep: bool = False) -> None:
    """Make a job known by name (the roof does this in ``app.wiring``; may be called again)."""
    _jobs[name] = Job(name, label, run, sweep)


def registered() -> dict[str, Job]:
    return dict(_jobs)


def schedule_of(settings: Settings) -> dict[str, str]:
    """The schedule in force: the defaults changed by ``PC_JOB_SCHEDULE`` ("" turns a job off).
    An unknown job or a cron expression that does not parse is a :class:`ConfigError`."""
    merged = dict(DEFAULT_SCHEDULE)
    for name, cron in settings.job_schedule.items():
        if name not in _jobs and name not in DEFAULT_SCHEDULE:
            raise ConfigError(f"PC_JOB_SCHEDULE 中的任务 {name!r} 不存在；可用的任务：{'、'.join(sorted(_jobs))}")
        merged[name] = cron
    result = {name: cron.strip() for name, cron in merged.items() if cron.strip()}
    for name, cron in result.items():
        parse_cron(cron, name)
    return result


def parse_cron(cron: str, name: str = "") -> Callable[[dt.datetime], bool]:
    """A cron expression (five fields) as a test of a Shanghai wall-clock time."""
    from huey import crontab

    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(f"任务 {name} 的 cron 表达式 {cron!r} 应有 5 个字段（分 时 日 月 周）")
    try:
        test = crontab(*fields, strict=True)
    except ValueError as exc:
        raise ConfigError(f"任务 {name} 的 cron 表达式 {cron!r} 无效：{exc}") from exc
    return test


def due(test: Callable[[dt.datetime], bool], utc_naive: dt.datetime) -> bool:
    """Whether a cron test matches the Shanghai time of Huey's naive-UTC timestamp."""
    local = utc_naive.replace(tzinfo=dt.UTC).astimezone(SHANGHAI).replace(tzinfo=None)
    return test(local)


# --- the queue ------------------------------------------------------------------------------

_runtime: Runtime | None = None
_queue: Queue | None = None
_lock = threading.Lock()


def backend_of(settings: Settings) -> str:
    return "redis" if settings.queue_url.startswith(("redis://", "rediss://", "unix://")) else "sqlite"


def sqlite_path(settings: Settings) -> Path:
    raw = settings.queue_url
    if raw.startswith("sqlite:///"):
        return Path(raw.removeprefix("sqlite:///"))
    if raw and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"PC_QUEUE_URL 应为 redis://… 或 sqlite:///文件路径，当前为 {raw!r}")
    return settings.instance_path / "jobs.db"


class Queue:
    """One process's handle on the queue: enqueue jobs, and (in a consumer) run them."""

    def __init__(self, settings: Settings, *, blocking: bool = True, name: str = QUEUE_NAME) -> None:
        from huey import RedisHuey, SqliteHuey

        self.settings = settings
        self.backend = backend_of(settings)
        if self.backend == "redis":
            self.huey: Any = RedisHuey(name, url=settings.queue_url, results=False, blocking=blocking,
                                       read_timeout=1)
        else:
            path = sqlite_path(settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey(name, filename=str(path), results=False)
        self._task = self.huey.task(name="pc.job")(_execute)
        self.schedule = schedule_of(settings)
        for job_name, cron in self.schedule.items():
            test = parse_cron(cron, job_name)
            self.huey.periodic_task(lambda ts, test=test: due(test, ts), name=f"pc.schedule.{job_name}")(
                _periodic(job_name))

    def enqueue(self, name: str, **kwargs: Any) -> None:
        if name not in _jobs:
            raise KeyError(f"unknown job {name!r}")
        self._task(name, kwargs)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def scheduled(self) -> int:
        return int(self.huey.scheduled_count())

    def flush(self) -> None:
        self.huey.flush()

    def drain(self) -> int:
        """Run what is queued (and scheduled tasks now due) in this process until nothing is
        left; tasks scheduled for later stay scheduled.  Returns the tasks run."""
        ran = 0
        while True:
            task = self.huey.dequeue()
            if task is None:
                ready = self.huey.read_schedule()
                if not ready:
                    return ran
                for item in ready:
                    self.huey.enqueue(item)
                continue
            if not self.huey.ready_to_run(task):
                self.huey.add_schedule(task)
                continue
            self.huey.execute(task)
            ran += 1


def _periodic(name: str) -> Callable[[], Any]:
    def run() -> Any:
        return _execute(name, {})

    run.__name__ = f"schedule_{name.replace('.', '_')}"
    return run


def _execute(name: str, kwargs: dict[str, Any]) -> Any:
    """The one Huey task: run a registered job with this process's runtime."""
    runtime = _runtime
    if runtime is None:
        raise RuntimeError("job queue consumer started without a runtime (jobs.bind)")
    job = _jobs.get(name)
    if job is None:
        log.error("unknown job %s dropped", name)
        return None
    result = job.run(runtime, **kwargs)
    if not (job.sweep and not result):  # a sweep that found nothing to do says nothing
        log.info("任务 %s（%s）完成：%s", name, job.label, result)
    return result


def bind(runtime: Runtime | None) -> None:
    """Give this process's jobs their database and settings (the consumer, the CLI, tests)."""
    global _runtime
    _runtime = runtime


def configure(settings: Settings, *, blocking: bool = True) -> Queue:
    """This process's queue (the app factory and the CLI); jobs enqueued through
    :func:`enqueue` go to it."""
    global _queue
    with _lock:
        _queue = Queue(settings, blocking=blocking)
        return _queue


def forget() -> None:
    """This process has no queue any more (tests): :func:`enqueue` queues nothing."""
    global _queue
    with _lock:
        _queue = None


def current() -> Queue | None:
    return _queue


def enqueue(name: str, **kwargs: Any) -> bool:
    """Queue a job if this process has a queue; False (and a log line) when it could not
    be queued — every enqueued job has a sweep that finds its work later anyway."""
    queue = _queue
    if queue is None:
        return False
    try:
        queue.enqueue(name, **kwargs)
    except Exception:  # the queue's store is down: the scheduled sweep picks the work up
        log.warning("could not enqueue job %s; the scheduled sweep will pick it up", name, exc_info=True)
        return False
    return True


def run_sweeps(runtime: Runtime) -> int:
    """Every sweep job once; the work they did."""
    done = 0
    for job in list(_jobs.values()):
        if job.sweep:
            result = job.run(runtime)
            done += int(result or 0)
    return done


def run_until_idle(queue: Queue, runtime: Runtime, *, on_round: Callable[[int, int], None] | None = None) -> int:
    """Sweep and drain until a round finds nothing to do; returns the tasks and items done."""
    bind(runtime)
    total = 0
    while True:
        swept = run_sweeps(runtime)
        ran = queue.drain()
        if on_round is not None:
            on_round(swept, ran)
        total += swept + ran
        if swept == 0 and ran == 0:
            return total
