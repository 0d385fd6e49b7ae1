"""Institutions and their OAuth clients; consents (expiry, offline verification)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import sqlalchemy as sa

from app.core.cli import (
    Context,
    domain_error,
    fail,
    load_jwks,
    out,
    pass_ctx,
)
from app.core.errors import DomainError, InvalidInput, json_error_text
from app.oauth.cli import rotate_secret


@click.group(help="金融机构")
def institutions() -> None:
    pass

@institutions.command("rotate-secret", help="为金融机构的 OAuth 客户端换发新密钥（旧令牌全部撤销；密钥只显示这一次）")
@click.argument("client_id")
@pass_ctx
def institutions_rotate_secret(ctx: Context, client_id: str) -> None:
    rotate_secret(ctx, client_id)

@institutions.command("add", help="登记金融机构")
@click.option("--name", required=True)
@click.option("--licence", "licence_no", required=True, help="金融许可证号")
@click.option("--kind", default="bank", show_default=True)
@click.option("--uscc", default=None)
@pass_ctx
def institutions_add(ctx: Context, name: str, licence_no: str, kind: str, uscc: str | None) -> None:
    from marshmallow import ValidationError

    from app.accounts.services import create_institution
    from app.core.errors import flatten_messages
    from consent.schemas import InstitutionInSchema

    try:  # the same rules as POST /api/v1/institutions
        data = InstitutionInSchema().load({"name": name, "licence_no": licence_no, "kind": kind, "uscc": uscc})
    except ValidationError as exc:
        domain_error(InvalidInput("机构信息有误", errors=flatten_messages(exc.messages)))
        return
    try:
        with ctx.db.transaction() as session:
            create_institution(session, **data)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已登记金融机构：{name}（{licence_no}）")

@institutions.command("add-client", help="为金融机构登记 OAuth 客户端（授权码 + PKCE S256、刷新令牌、客户端凭证）")
@click.option("--institution", "licence_no", required=True, help="金融许可证号")
@click.option("--name", required=True, help="客户端名称（显示在授权确认页）")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="回调地址（精确匹配，可多次给出）")
@click.option("--auth-method", default="client_secret_basic", show_default=True,
              type=click.Choice(["client_secret_basic", "private_key_jwt"]))
@click.option("--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="private_key_jwt：客户端公钥 JWKS 文件")
@pass_ctx
def institutions_add_client(ctx: Context, licence_no: str, name: str, redirect_uris: tuple[str, ...],
                            auth_method: str, jwks_file: str | None) -> None:
    from app.accounts.services import get_institution
    from app.oauth.services import register_bank_client

    try:
        jwks = json.loads(Path(jwks_file).read_text()) if jwks_file else None
    except ValueError as exc:
        fail(f"JWKS 文件不是合法的 JSON：{json_error_text(exc)}")
        return
    try:
        with ctx.db.transaction() as session:
            client, secret = register_bank_client(session, get_institution(session, licence_no), name=name,
                                                  redirect_uris=list(redirect_uris), auth_method=auth_method,
                                                  jwks=jwks)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已登记客户端 {name}：\n  client_id     = {client.client_id}")
    if secret:
        out.print(f"  client_secret = {secret}（只显示这一次）")
    else:
        out.print("  认证方式 private_key_jwt：用已登记公钥对应的私钥签名 client_assertion")

@institutions.command("list", help="列出金融机构及其客户端")
@pass_ctx
def institutions_list(ctx: Context) -> None:

    from app.accounts.models import Institution
    from app.oauth.services import clients_of_institution

    with ctx.db.reading() as session:
        for inst in session.scalars(sa.select(Institution).order_by(Institution.licence_no)):
            out.print(f"{inst.licence_no:20} {inst.name}{'' if inst.active else '（已停用）'}")
            for c in clients_of_institution(session, inst.id):
                out.print(f"    {c.client_id}  {c.token_endpoint_auth_method:20} {' '.join(c.redirect_uris)}")

@click.group(help="授权（征信授权）")
def consents() -> None:
    pass

@consents.command("expire", help="把已到期的授权标记为已过期并撤销其令牌；清理过期的授权码与断言记录（可重复执行）")
@pass_ctx
def consents_expire(ctx: Context) -> None:
    from consent.services import expire_due

    with ctx.db.transaction() as session:
        n = expire_due(session)
    out.print(f"已将 {n} 项授权标记为已过期。")

@consents.command("verify", help="离线验证授权文书（JWS）：用平台公钥（JWKS 文件或 /.well-known/jwks.json 地址）")
@click.argument("artefact", type=click.Path(exists=True, dir_okay=False))
@click.option("--jwks", "jwks_source", required=True, help="JWKS 文件路径或 URL")
def consents_verify(artefact: str, jwks_source: str) -> None:
    from app.core.signing import SignatureInvalid, verify_jws
    from consent.models import PURPOSE_LABELS

    jwks = load_jwks(jwks_source)
    try:
        payload = verify_jws(Path(artefact).read_text().strip(), jwks, "consent+jws")
    except SignatureInvalid as exc:
        fail(f"验证失败：{exc}")
        return
    out.print(f"签名有效：授权 {payload['consent_id']}，{payload['subject']['name']}（{payload['subject']['uscc']}）"
              f"→ {payload['recipient']['name']}，用途 {PURPOSE_LABELS.get(payload['purpose'], payload['purpose'])}，"  # type: ignore[call-overload]
              f"有效期至 {payload['valid_until']}")
    out.print(json.dumps(payload, ensure_ascii=False, indent=2))
