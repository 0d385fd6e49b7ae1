"""The audit log: verifying its chain."""

from __future__ import annotations

import click

from app.core.cli import (
    Context,
    fail,
    out,
    pass_ctx,
)


@click.group(help="审计日志")
def audit() -> None:
    pass

@audit.command("verify", help="校验审计日志的哈希链：任何一条被改写或删除都会被发现")
@pass_ctx
def audit_verify(ctx: Context) -> None:
    from app.audit.services import verify_chain

    checked = 0
    with ctx.db.reading() as session:
        for event_id, ok in verify_chain(session):
            checked += 1
            if not ok:
                fail(f"审计日志在第 {event_id} 条处断链或被改写（已校验 {checked} 条）")
                return
    out.print(f"审计日志完整：{checked} 条，哈希链无断裂。")
