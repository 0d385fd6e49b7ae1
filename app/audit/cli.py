"""The audit log: signing its tree head, verifying the chain and the tree against the signed heads."""

from __future__ import annotations

from pathlib import Path

import click

from app.core.cli import (
    Context,
    console,
    fail,
    load_jwks,
    out,
    pass_ctx,
    progress_bar,
)


@click.group(help="审计日志")
def audit() -> None:
    pass

@audit.command("sign-head", help="把新事件纳入默克尔树并签名树头（存入数据库，并追加到实例目录 audit/tree-heads.jsonl）；"
                                 "宜定时运行（如每小时一次）")
@pass_ctx
def audit_sign_head(ctx: Context) -> None:
    from app.audit.jobs import sign_tree_head
    from app.audit.models import from_ms
    from app.audit.services import HEADS_FILE, heads_folder
    from app.core import clock

    head = sign_tree_head(ctx.db, ctx.settings)
    at = from_ms(head["timestamp"]).astimezone(clock.BEIJING)
    out.print(f"已签名树头：大小 {head['tree_size']}，根哈希 {head['root_hash']}，"
              f"签于 {at:%Y-%m-%d %H:%M:%S}，密钥 {head['kid']}；"
              f"已追加到 {heads_folder(ctx.settings.instance_path) / HEADS_FILE}")

@audit.command("verify", help="重算整个审计日志：哈希链、每条事件的叶子哈希，以及每个签名树头（库外文件与数据库中的）的根哈希；"
                              "发现改写、中间或末尾的删除、重算过摘要的改写，失败时退出码为 1")
@click.option("--heads", "heads_file", type=click.Path(dir_okay=False, path_type=Path),
              help="另存的树头文件（tree-heads.jsonl 的副本）；默认实例目录下 audit/ 中的文件")
@click.option("--jwks", "jwks_source", help="平台公钥（JWKS 文件或 URL）；默认本机的签名密钥")
@pass_ctx
def audit_verify(ctx: Context, heads_file: Path | None, jwks_source: str | None) -> None:
    import sqlalchemy as sa

    from app.audit import services
    from app.audit.models import TreeHead

    folder = services.heads_folder(ctx.settings.instance_path)
    files = [heads_file] if heads_file else [folder / services.HEADS_FILE, folder / services.LATEST_FILE]
    if heads_file is not None and not heads_file.exists():
        fail(f"树头文件不存在：{heads_file}")
    with ctx.db.reading() as session:
        signed = session.scalar(sa.select(sa.func.count()).select_from(TreeHead)) or any(p.exists() for p in files)
        found = services.gather_heads(session, files, load_jwks(jwks_source)) if signed else services.HeadSet()
        total = services.count_events(session)
        with progress_bar(auto_refresh=False) as progress:
            task = progress.add_task("校验审计日志", total=total)
            verdict = services.verify_log(session, found.heads, on_progress=lambda done: progress.update(
                task, completed=done, refresh=True))
            progress.update(task, completed=verdict.events, refresh=True)
    for note in found.notes:
        console.print(f"[yellow]注意：[/yellow]{note}")
    problems = found.problems + verdict.problems
    if problems:
        lines = [f"审计日志校验未通过（{verdict.events} 条事件，对照 {verdict.heads_checked} 个签名树头）："]
        lines += [f"  - {p}" for p in problems]
        if verdict.more_problems:
            lines.append(f"  - 另有 {verdict.more_problems} 处不符未列出")
        fail("\n".join(lines))
        return
    if verdict.newest is None:
        out.print(f"审计日志完整：{verdict.events} 条，哈希链无断裂。尚无签名树头"
                  "（运行 powercredit audit sign-head 签名后，末尾删除与重算摘要的改写也能发现）。")
        return
    newest = verdict.newest
    out.print(f"审计日志完整：{verdict.events} 条，哈希链无断裂；默克尔树与 {verdict.heads_checked} 个签名树头一致"
              f"（库外文件 {found.from_file} 个，数据库 {found.from_database} 个；最新：{newest.describe()}）。"
              + (f"其后新增 {verdict.events - newest.tree_size} 条，待下次签名。"
                 if verdict.events > newest.tree_size else ""))
