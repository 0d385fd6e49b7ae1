"""``powercredit``: the command line for operators and set-up.

Every command is one unit of work (one transaction) on the configured database.  Long
work shows a progress bar on a terminal and a line per chunk otherwise.  Each package keeps
its commands in its ``cli.py``; this roof mounts them, and keeps the service, the database
and the demo.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

import click
from sqlalchemy import exc as sa_exc

from app import wiring
from app.accounts import passwords
from app.accounts.cli import users
from app.archive.cli import enterprises, import_records, keys, relations_group, retention
from app.audit.cli import audit
from app.certificates.cli import certificates_group
from app.certificates.models import CERTIFICATE_STATUS_LABELS
from app.cli.jobs import jobs_group
from app.core import clock, jobs
from app.core.cli import (
    Context,
    console,
    domain_error,
    fail,
    out,
    pass_ctx,
    progress_bar,
    require_current_schema,
)
from app.core.config import ConfigError, Settings, load_settings
from app.core.crypto import load_keyring
from app.core.db import Database
from app.core.errors import DomainError, InvalidInput, is_database_unavailable
from app.oauth.cli import providers
from app.oversight.cli import commitments_group, lists_group, objections_group
from app.scoring.cli import evaluate, index_cmd, scorecard
from consent.cli import consents, institutions
from reports.cli import reports, verify_report


def _start(settings: Settings) -> None:
    passwords.configure(settings.password_hash)
    wiring.wire()
    jobs.configure(settings, blocking=False)  # events a command commits are queued for dispatch


Context.starters.append(_start)
wiring.wire_files()  # `verify` checks screening files too, with no start-up


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # the environment is wrong: say which setting, no traceback
            fail(f"配置有误：{exc}")
        except (sa_exc.OperationalError, sa_exc.TimeoutError) as exc:
            if not is_database_unavailable(exc):
                raise
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            fail(f"无法连接数据库：{first}（检查 DATABASE_URL 与数据库服务）")

@click.group(cls=_Main, help="PowerCredit 电力征信：服务、数据库、导入与演示数据")
def main() -> None:
    from app.core.request_log import configure_logging

    # The service's one log handler (time, level, request id), so that the app, once created,
    # finds it and adds no second one: every line is written once.
    configure_logging(os.environ.get("PC_LOG_LEVEL", "WARNING"))

@main.command(help="以 gunicorn 启动服务")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int,
              help="gunicorn 进程数（默认：限流存储为 Redis 时 2，内存存储时 1——内存计数每个进程各记各的）")
@click.option("--jobs/--no-jobs", "with_jobs", default=True, show_default=True,
              help="同时启动任务队列的消费者（powercredit jobs run），随服务一同退出")
def serve(host: str, port: int, workers: int | None, with_jobs: bool) -> None:
    from gunicorn.app.base import BaseApplication

    from app import create_app

    settings = load_settings()
    database = Database(settings.database_url)
    try:  # refuse to start on a database the code does not match, rather than fail every request
        require_current_schema(database)
    except sa_exc.OperationalError as exc:
        fail(f"无法连接数据库（{database.engine.url.render_as_string(hide_password=True)}）："
             f"{str(exc.orig or exc).strip().splitlines()[0]}")
    finally:
        database.dispose()
    if settings.password_hash_profile == "test":
        fail("PC_PASSWORD_HASH=test 只用于测试（口令哈希强度不足），不能用它对外提供服务")
        return
    # Generate the instance secrets once, in the master, before workers fork.
    load_keyring(settings)
    shared = not settings.ratelimit_storage_uri.startswith("memory://")
    if workers is None:
        workers = 2 if shared else 1
    elif workers > 1 and not shared:
        console.print(f"[yellow]注意：[/yellow]限流与登录节流存于内存（PC_RATELIMIT_STORAGE_URI=memory://），{workers} 个进程"
                      "各自计数，实际上限为设定的数倍；多进程或多台服务器请用 Redis（redis://…）")
    # Forwarded headers (X-Forwarded-Proto…) only from proxies the settings trust: gunicorn
    # would otherwise believe them from 127.0.0.1, and a client could claim HTTPS.
    trust_forwarded = bool(settings.trusted_proxies)  # then ProxyFix reads them (create_app)

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            if not trust_forwarded:
                self.cfg.set("forwarded_allow_ips", "")
            # No control socket: its default path ($HOME/.gunicorn/gunicorn.ctl) is one per user,
            # so a second server on the machine would take over the first's.
            self.cfg.set("control_socket_disable", True)
            # Per-request lines at INFO and below, as the app's own request log: with
            # PC_LOG_LEVEL=WARNING neither writes a line per request.
            if logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO) <= logging.INFO:
                self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            return create_app()

    console.print(f"PowerCredit 服务地址：http://{host}:{port}/  （API 文档 /api/docs）")
    consumer = _start_consumer() if with_jobs else None
    try:
        _App().run()
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.terminate()
            consumer.wait(timeout=30)


def _start_consumer() -> Any:
    """The job queue's consumer beside the web server, in a process of its own that dies
    with this one (PR_SET_PDEATHSIG on Linux; terminated on a normal exit otherwise)."""
    import signal
    import subprocess
    import sys

    def die_with_parent() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    console.print("任务队列消费者随服务启动（powercredit jobs run）")
    return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "jobs", "run"],
                            preexec_fn=die_with_parent)  # noqa: PLW1509 — sets only the death signal

@main.group(help="数据库迁移")
def db() -> None:
    pass

@db.command("upgrade", help="执行全部迁移（创建或升级数据库结构）")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    from app.core import migrate

    if ctx.settings.is_sqlite:
        ctx.settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(ctx.settings.database_url)
    console.print("数据库已升级到最新版本。")

@db.command("revision", help="（开发）根据模型变化生成迁移脚本")
@click.option("-m", "--message", required=True)
@pass_ctx
def db_revision(ctx: Context, message: str) -> None:
    from app.core import migrate

    migrate.revision(ctx.settings.database_url, message)

# The demo objections' states as the seed summary names them.
SEED_STATE_LABELS = {"open": "处理中", "overdue": "已逾期", "upheld": "已答复（维持）", "removed": "已答复（删除）",
                     "corrected": "已答复（更正）"}
ENTRY_STATUS_LABELS = {"pending": "待发布", "active": "在列", "exited": "已移出", "cancelled": "未发布即撤销"}

@main.command(help="生成演示数据到空数据库：同样的企业数、种子与基准日期得到同样的数据；"
                   "数据库中已有演示数据时不作改动（给出 --password 时重设演示账号的密码）")
@click.option("--firms", default="300", show_default=True, help="企业数（1–100000）")
@click.option("--seed", default=2026, show_default=True, type=int, help="随机种子")
@click.option("--as-of", "as_of", default=None,
              help="演示数据的基准日期 YYYY-MM-DD（2020-01-01 至今天）：数据按该日 9:00（北京时间）生成；"
                   "默认今天，从此刻生成")
@click.option("--password", default=None, help="演示账号的密码（至少 10 个字符；默认随机生成并打印）")
@pass_ctx
def seed(ctx: Context, firms: str, seed: int, as_of: str | None, password: str | None) -> None:
    from app.accounts.models import ROLE_LABELS, Role
    from app.demo import DemoInputs, build_demo, check_inputs
    from app.demo.firms import BANKS
    from app.oversight.models import REPAIR_STATUS_LABELS
    from app.scoring.scorecard import GRADES, NOT_RATED
    from consent.models import STATUS_LABELS as CONSENT_STATUS_LABELS
    from marketplace.models import APPLICATION_STATUS_LABELS, OFFER_STATUS_LABELS

    if not firms.strip().isdigit():
        fail(f"--firms：应为 1 到 100000 之间的整数，收到 {firms!r}")
        return
    count = int(firms)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        fail(f"--as-of：应为 YYYY-MM-DD 格式的有效日期，收到 {as_of!r}")
        return
    try:
        check_inputs(count, day, password)  # before the database is opened
    except InvalidInput as exc:
        fail("\n".join(f"--{k.replace('_', '-')}：{'；'.join(v)}" for k, v in (exc.errors or {}).items()))
        return
    progress = progress_bar()  # shown once there is something to show (a rerun has nothing)
    try:
        with ctx.db.transaction() as session:
            tasks: dict[str, Any] = {}

            def tell(stage: str, done: int, total: int) -> None:
                if not tasks:
                    progress.start()
                if stage not in tasks:
                    tasks[stage] = progress.add_task({"firms": "生成演示企业", "history": "历史月份评价"}[stage],
                                                     total=total)
                progress.update(tasks[stage], completed=done)

            # Without --as-of the demo is made from now; with it, from 9:00 on that day.
            summary = build_demo(session, ctx.settings, ctx.cipher(), DemoInputs(count, seed, day),
                                 start=None if as_of else clock.now(), password=password, progress=tell)
    except DomainError as exc:
        progress.stop()
        domain_error(exc)
        return
    progress.stop()

    def counts(values: dict[str, int], labels: Any) -> str:
        named = {str(k): v for k, v in labels.items()}
        return "，".join(f"{named.get(k, k)} {v}" for k, v in sorted(values.items())) or "无"

    made = summary.inputs
    if summary.created:
        out.print(f"演示数据基准日期：{made.as_of.isoformat()}")
    else:
        seed_note = f"，种子 {made.seed}" if made.seed is not None else ""
        out.print(f"数据库中已有演示数据（基准日期 {made.as_of.isoformat()}，企业 {made.firms} 家{seed_note}），未作改动"
                  + ("，只重置了演示账号的密码。" if password else "；演示账号的密码不变（首次生成时已打印，可用 --password 重设）。"))
        if (made.firms, made.seed, made.as_of) != (count, seed, day):
            out.print("  本次给出的参数与之不同；如需新的演示数据，请使用空数据库（另设 DATABASE_URL）。")
    report = summary.base
    out.print(f"演示数据：企业 {summary.firms} 家（本次新增 {report.firms_created}），记录 {summary.records} 条"
              f"（本次新增 {summary.records if summary.created else 0}）。")
    out.print("信用评价：等级分布 " + "，".join(f"{g} {summary.distribution.get(g, 0)}" for g in (*GRADES, NOT_RATED)))
    for code, (client_id, secret) in report.provider_clients.items():
        out.print(f"  数据源 {code} 客户端：client_id={client_id} client_secret={secret}")
    for licence, (client_id, secret, redirect) in report.bank_clients.items():
        out.print(f"  金融机构 {licence} 客户端：client_id={client_id} client_secret={secret} 回调={redirect}")
    if report.consents:
        out.print(f"  演示授权（{BANKS[0][0]}，上述客户端可用）：{report.consents[0]}（已生效，贷后管理，"
                  f"client_credentials + consent_id 即得令牌），{report.consents[1]}（待企业确认，贷款申请审查）")
    if not summary.created:
        out.print("  数据源与金融机构的客户端沿用已有的（密钥只在首次生成时显示；"
                  "可用 providers rotate-secret / institutions rotate-secret 换发）。")
    out.print("授权：" + counts(summary.consents, CONSENT_STATUS_LABELS))
    out.print(f"信易贷演示：上架产品 {summary.products} 个，允许主动授信的企业 {summary.discoverable} 家；申请 "
              + counts(summary.applications, APPLICATION_STATUS_LABELS)
              + "；授信邀约 " + counts(summary.offers, OFFER_STATUS_LABELS))
    out.print(f"信用监管演示：在列 红名单 {summary.lists.get('red', 0)}，黑名单 {summary.lists.get('black', 0)}，"
              f"重点关注 {summary.lists.get('watch', 0)}；名单记录 " + counts(summary.entries, ENTRY_STATUS_LABELS)
              + f"；信用承诺 {summary.commitments} 份；异议 " + counts(summary.objections, SEED_STATE_LABELS)
              + "；修复申请 " + counts(summary.repairs, REPAIR_STATUS_LABELS))
    out.print("信用等级证书：" + counts(summary.certificates, CERTIFICATE_STATUS_LABELS)
              + f"；投标人信用筛查 {summary.screenings} 次")
    platform = summary.procurement
    if platform is not None and platform.client is not None:
        client_id, secret = platform.client
        out.print(f"  招标采购单位 {platform.institution} 客户端（范围 screening:write）：client_id={client_id}"
                  + (f" client_secret={secret}" if secret else "（密钥沿用首次生成的）"))
    if summary.demo_firm:
        out.print(f"演示企业（账号 firm）：{summary.demo_firm[0]}，统一社会信用代码 {summary.demo_firm[1]}")
    if summary.passwords:
        out.print("演示账号（用户名 / 密码）：")
    for username, pw in summary.passwords.items():
        role = Role(username)
        also = "；group2、group3… 为其他集团，密码相同" if role == Role.group else ""
        out.print(f"  {username:9} / {pw}   （{ROLE_LABELS[role]}{also}）")


for command in (jobs_group, import_records, enterprises, providers, institutions, consents, verify_report, reports, audit, users,
                relations_group, retention, keys, scorecard, evaluate, index_cmd, lists_group, objections_group, commitments_group,
                certificates_group):
    main.add_command(command)
