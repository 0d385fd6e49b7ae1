"""Users."""

from __future__ import annotations

import os

import click

from app.core.cli import (
    Context,
    domain_error,
    out,
    pass_ctx,
)
from app.core.errors import DomainError


@click.group(help="用户")
def users() -> None:
    pass

@users.command("add", help="创建用户：operator（征信机构）、firm（企业，须 --enterprise）、bank（须 --institution）")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "firm", "bank"]))
@click.option("--name", "display_name", default=None)
@click.option("--enterprise", "enterprise_uscc", default=None, help="企业的统一社会信用代码")
@click.option("--institution", "institution_licence", default=None, help="金融许可证号")
@click.option("--password", default=None, help="不提供则交互输入（或读取 PC_NEW_PASSWORD）")
@pass_ctx
def users_add(ctx: Context, username: str, role: str, display_name: str | None, enterprise_uscc: str | None,
              institution_licence: str | None, password: str | None) -> None:
    from app.accounts.services import create_user

    password = password or os.environ.get("PC_NEW_PASSWORD") or click.prompt(
        "密码", hide_input=True, confirmation_prompt=True
    )
    try:
        with ctx.db.transaction() as session:
            create_user(session, username=username, password=password, role=role, display_name=display_name,
                        enterprise_uscc=enterprise_uscc, institution_licence=institution_licence)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已创建用户 {username}（{role}）")
