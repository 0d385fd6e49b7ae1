"""``powercredit jobs``: the job queue's consumer and what operators ask of it."""

from __future__ import annotations

import datetime as dt
import logging
import os

import click

from app.core import clock, jobs
from app.core.cli import Context, fail, out, pass_ctx


@click.group("jobs", help="任务队列（Huey）：运行消费者、查看计划任务、立即执行一项任务")
def jobs_group() -> None:
    pass


def _runtime(ctx: Context) -> jobs.Runtime:
    return jobs.Runtime(ctx.db, ctx.settings)


@jobs_group.command("run", help="运行任务队列的消费者（长期运行，按计划执行定时任务）；"
                                "--until-idle 处理完已到期的工作后退出")
@click.option("--until-idle", is_flag=True, help="执行已排队和已到期的工作（待分发的事件、到期的推送），没有剩余时退出")
@click.option("--workers", type=click.IntRange(1, 32), default=2, show_default=True, help="消费者线程数")
@pass_ctx
def run(ctx: Context, until_idle: bool, workers: int) -> None:
    runtime = _runtime(ctx)
    queue = jobs.configure(ctx.settings, blocking=not until_idle)
    jobs.bind(runtime)
    where = "Redis" if queue.backend == "redis" else f"SQLite（{jobs.sqlite_path(ctx.settings)}）"
    if until_idle:
        rounds = 0

        def on_round(swept: int, ran: int) -> None:
            nonlocal rounds
            rounds += 1
            if swept or ran:
                out.print(f"第 {rounds} 轮：处理到期工作 {swept} 项，执行排队任务 {ran} 个")

        total = jobs.run_until_idle(queue, runtime, on_round=on_round)
        out.print(f"任务队列（{where}）已空闲：共处理 {total} 项，仍有 {queue.scheduled()} 个任务排在以后执行。")
        return
    # Each job that did something logs one line of its own (app.core.jobs); Huey's own lines
    # (every periodic task enqueued and run, each minute) only at DEBUG, its warnings always.
    level = os.environ.get("PC_LOG_LEVEL", "INFO").upper()
    logging.getLogger("huey").setLevel("DEBUG" if level == "DEBUG" else "WARNING")
    out.print(f"任务队列消费者已启动（{where}，{workers} 个线程）；计划任务："
              + "，".join(f"{name} [{cron}]" for name, cron in queue.schedule.items()))
    consumer = queue.huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                          check_worker_health=True)
    consumer.run()


@jobs_group.command("list", help="列出可执行的任务、其计划（上海时间 cron）与下次执行时间，以及队列中的任务数")
@pass_ctx
def list_jobs(ctx: Context) -> None:
    queue = jobs.configure(ctx.settings, blocking=False)
    from rich.table import Table

    now = clock.now().astimezone(jobs.SHANGHAI).replace(second=0, microsecond=0, tzinfo=None)
    table = Table("任务", "说明", "计划（上海时间 cron）", "下次执行")
    for name, job in sorted(jobs.registered().items()):
        cron = queue.schedule.get(name)
        nxt = _next_run(cron, name, now) if cron else None
        table.add_row(name, job.label, cron or "不定时（按需）", f"{nxt:%Y-%m-%d %H:%M}" if nxt else "")
    out.print(table)
    out.print(f"队列（{'Redis' if queue.backend == 'redis' else 'SQLite'}）：排队 {queue.pending()} 个，"
              f"定时 {queue.scheduled()} 个")


def _next_run(cron: str, name: str, after: dt.datetime) -> dt.datetime | None:
    test = jobs.parse_cron(cron, name)
    moment = after + dt.timedelta(minutes=1)
    for _ in range(60 * 24 * 62):  # two months of minutes covers any monthly schedule
        if test(moment):
            return moment
        moment += dt.timedelta(minutes=1)
    return None


@jobs_group.command("now", help="立即在本进程执行一项任务（名称见 powercredit jobs list）")
@click.argument("name")
@pass_ctx
def run_now(ctx: Context, name: str) -> None:
    job = jobs.registered().get(name)
    if job is None:
        fail(f"没有名为 {name} 的任务；可用的任务：{'、'.join(sorted(jobs.registered()))}")
        return
    jobs.configure(ctx.settings, blocking=False)
    result = job.run(_runtime(ctx))
    out.print(f"{job.label}：完成（{result}）")


@jobs_group.command("enqueue", help="把一项任务放入队列，由消费者执行")
@click.argument("name")
@pass_ctx
def enqueue(ctx: Context, name: str) -> None:
    if name not in jobs.registered():
        fail(f"没有名为 {name} 的任务；可用的任务：{'、'.join(sorted(jobs.registered()))}")
        return
    queue = jobs.configure(ctx.settings, blocking=False)
    queue.enqueue(name)
    out.print(f"已放入队列：{name}（排队 {queue.pending()} 个）")
