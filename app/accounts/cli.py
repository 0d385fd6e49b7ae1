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

@users.command("add", help="创建用户：operator（征信机构）、firm（企业，须 --enterprise）、bank（须 --institution）、"
                           "group（集团信用管理人员，须 --institution 为电力集团，绑定其母公司）、"
                           "tenderer（招标采购人员，须 --institution 为招标采购单位）")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "firm", "bank", "group", "tenderer"]))
@click.option("--name", "display_name", default=None)
@click.option("--enterprise", "enterprise_uscc", default=None, help="企业的统一社会信用代码")
@click.option("--institution", "institution_licence", default=None, help="金融许可证号（电力集团、招标采购单位：其机构编号）")
@click.option("--password", default=None, help="不提供则交互输入（或读取 PC_NEW_PASSWORD）")
@click.option("--temporary", is_flag=True, help="一次性密码：该用户下次登录后须先修改密码")
@pass_ctx
def users_add(ctx: Context, username: str, role: str, display_name: str | None, enterprise_uscc: str | None,
              institution_licence: str | None, password: str | None, temporary: bool) -> None:
    from app.accounts.services import create_user

    password = password or os.environ.get("PC_NEW_PASSWORD") or click.prompt(
        "密码", hide_input=True, confirmation_prompt=True
    )
    try:
        with ctx.db.transaction() as session:
            create_user(session, username=username, password=password, role=role, display_name=display_name,
                        enterprise_uscc=enterprise_uscc, institution_licence=institution_licence,
                        temporary=temporary)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已创建用户 {username}（{role}）" + ("；首次登录须修改密码" if temporary else ""))


@users.command("set-password", help="为用户设置新密码（运营人员重置）；该用户的全部登录会话随即失效")
@click.argument("username")
@click.option("--password", default=None, help="不提供则交互输入（或读取 PC_NEW_PASSWORD）")
@click.option("--temporary", is_flag=True, help="一次性密码：该用户下次登录后须先修改密码")
@pass_ctx
def users_set_password(ctx: Context, username: str, password: str | None, temporary: bool) -> None:
    from app.accounts.services import get_user, set_password

    password = password or os.environ.get("PC_NEW_PASSWORD") or click.prompt(
        "新密码", hide_input=True, confirmation_prompt=True
    )
    try:
        with ctx.db.transaction() as session:
            ended = set_password(session, get_user(session, username), password, temporary=temporary)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已为 {username} 设置新密码；结束登录会话 {ended} 个" + ("；下次登录须修改密码" if temporary else ""))


@users.command("disable", help="停用用户：不能再登录，现有登录会话随即失效")
@click.argument("username")
@pass_ctx
def users_disable(ctx: Context, username: str) -> None:
    _set_active(ctx, username, False)


@users.command("enable", help="重新启用用户")
@click.argument("username")
@pass_ctx
def users_enable(ctx: Context, username: str) -> None:
    _set_active(ctx, username, True)


def _set_active(ctx: Context, username: str, active: bool) -> None:
    from app.accounts.services import get_user, set_active
    from app.audit import services as audit

    try:
        with ctx.db.transaction() as session:
            ended = set_active(session, get_user(session, username), active)
            audit.record(session, "system:cli", "user.enabled" if active else "user.disabled", subject_type="user",
                         subject_id=username, detail={} if active else {"ended_sessions": ended})
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已启用 {username}" if active else f"已停用 {username}；结束登录会话 {ended} 个")
