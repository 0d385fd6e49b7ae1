"""Oversight: the lists, overdue objections, commitments."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import sqlalchemy as sa

from app.archive.models import Enterprise
from app.core import clock
from app.core.cli import (
    Context,
    domain_error,
    fail,
    load_jwks,
    out,
    pass_ctx,
    progress_bar,
)
from app.core.errors import DomainError


@click.group("lists", help="红名单、黑名单、重点关注名单")
def lists_group() -> None:
    pass

@lists_group.command("refresh", help="按列入标准重新计算各名单（幂等：再次执行不产生变化），记录每一项列入与移出；"
                                     "--publish 同时发布新列入的记录")
@click.option("--as-of", "as_of", default=None, help="基准日（默认今天，YYYY-MM-DD）")
@click.option("--publish", is_flag=True, help="同时发布新列入的记录（否则待征信机构在控制台发布）")
@pass_ctx
def lists_refresh(ctx: Context, as_of: str | None, publish: bool) -> None:
    from app.oversight.lists import publish as publish_entries
    from app.oversight.lists import refresh
    from app.oversight.models import LIST_LABELS, ListName

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of 应为 YYYY-MM-DD 格式的日期，实为 {as_of}")
        return
    if day is not None and day > clock.today():
        fail(f"--as-of 不能是未来日期（{as_of}）：名单按已发生的记录计算")
        return
    with ctx.db.transaction() as session, progress_bar() as progress:
        total = session.scalar(sa.select(sa.func.count()).select_from(Enterprise)) or 0
        task = progress.add_task("名单计算", total=total)
        result = refresh(session, day, actor="cli", on_progress=lambda n: progress.advance(task, n))
        published = len(publish_entries(session, None, actor="cli", on=result.as_of)) if publish else 0
    for name in ListName:
        out.print(f"{LIST_LABELS[name]}：新列入 {result.entered[name]}，移出 {result.exited[name]}，"
                  f"撤销待发布 {result.cancelled[name]}")
    out.print(f"基准日 {result.as_of}：企业 {result.firms} 家；重新评价 {result.reevaluated} 家"
              + (f"；已发布 {published} 项" if publish else "；新列入的记录待发布（powercredit lists publish）"))

@lists_group.command("publish", help="发布待发布的名单记录（全部，或 --id 指定的）")
@click.option("--id", "ids", multiple=True, type=int, help="名单记录编号（可重复）；不给则全部发布")
@pass_ctx
def lists_publish(ctx: Context, ids: tuple[int, ...]) -> None:
    from app.oversight.lists import publish as publish_entries

    try:
        with ctx.db.transaction() as session:
            done = publish_entries(session, list(ids) or None, actor="cli")
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已发布 {len(done)} 项名单记录。")

@lists_group.command("show", help="列出一个名单（red、black、watch）的在列企业")
@click.argument("name", type=click.Choice(["red", "black", "watch"]))
@pass_ctx
def lists_show(ctx: Context, name: str) -> None:
    from rich.table import Table

    from app.oversight.lists import published

    table = Table("企业", "公示日期", "期限至", "依据")
    table.add_column("统一社会信用代码", no_wrap=True, min_width=18)
    with ctx.db.reading() as session:
        page = published(session, name, 1, 1000)
        for e in page.items:
            table.add_row(e.enterprise.name, str(e.published_on), str(e.ends_on or "—"),
                          "；".join(b["label"] for b in e.basis), e.enterprise.uscc)
    out.print(table)
    out.print(f"共 {page.total} 家。")

@click.group("objections", help="异议处理")
def objections_group() -> None:
    pass

@objections_group.command("overdue", help="列出逾期未答复的异议（收到之日起 20 日）；有逾期时退出码为 1")
@pass_ctx
def objections_overdue(ctx: Context) -> None:
    from app.oversight.models import Objection, ObjectionStatus

    with ctx.db.reading() as session:
        rows = session.execute(sa.select(Objection.objection_no, Objection.due_on, Enterprise.name)
                               .join(Enterprise, Enterprise.id == Objection.enterprise_id)
                               .where(Objection.status == ObjectionStatus.open, Objection.due_on < clock.today())
                               .order_by(Objection.due_on)).all()
    for no, due, name in rows:
        out.print(f"{no}  {name}  答复期限 {due}（已逾期 {(clock.today() - due).days} 天）")
    out.print(f"逾期未答复的异议 {len(rows)} 件。")
    if rows:
        sys.exit(1)

@click.group("commitments", help="信用承诺")
def commitments_group() -> None:
    pass

@commitments_group.command("verify", help="离线验证已签署的信用承诺声明（JWS 文件）：用平台公钥（JWKS 文件或地址，缺省本机公钥）")
@click.argument("statement", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", default=None, help="JWKS 文件路径或 URL")
def commitments_verify(statement: Path, jwks_source: str | None) -> None:
    from app.core.signing import SignatureInvalid
    from app.oversight.commitments import verify_statement

    jwks = load_jwks(jwks_source)
    try:
        payload = verify_statement(statement.read_text(), jwks)
    except SignatureInvalid as exc:
        fail(f"验证失败：{exc}")
        return
    out.print(f"签名有效：承诺 {payload['commitment_no']}，{payload['enterprise']['name']}（{payload['enterprise']['uscc']}）"
              f"签署《{payload['text']['title']}》{payload['text']['version']} 版，签署人 {payload['signatory']}"
              f"（{payload['signatory_title']}），{payload['signed_at']}；文本 SHA-256 {payload['text']['sha256']}")

@commitments_group.command("sync-texts", help="把承诺文本数据文件中的各版本写入数据库（幂等；已发布版本的文字不可改）")
@pass_ctx
def commitments_sync(ctx: Context) -> None:
    from app.oversight.commitments import sync_texts

    with ctx.db.transaction() as session:
        texts = sync_texts(session)
    for t in texts:
        out.print(f"{t.code} {t.version}：{t.title}（SHA-256 {t.sha256[:16]}…）")
