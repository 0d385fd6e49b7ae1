"""Data providers and their OAuth clients."""

from __future__ import annotations

import click
import sqlalchemy as sa

from app.core.cli import (
    Context,
    domain_error,
    out,
    pass_ctx,
)
from app.core.errors import DomainError


@click.group(help="数据源与其接入客户端")
def providers() -> None:
    pass

@providers.command("add", help="登记数据源，并签发一个客户端凭证（scope records:write）")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True, help="tax_authority / court / market_regulator / ...")
@click.option("--categories", required=True, help="逗号分隔，如 tax,contract")
@click.option("--coverage", type=click.Choice(["region", "reported"]), default=None,
              help="覆盖范围：region 覆盖辖区内全部企业（没有不良记录即为良好），reported 只覆盖报送过记录的企业；"
                   "默认按类型（税务、法院、市场监管、电网、行业组织为 region）")
@click.option("--provinces", default=None, help="region 覆盖的省级代码，逗号分隔，如 33,34（默认全国）")
@pass_ctx
def providers_add(ctx: Context, code: str, name: str, kind: str, categories: str, coverage: str | None,
                  provinces: str | None) -> None:
    from app.archive.services import create_provider
    from app.oauth.services import register_client

    try:
        with ctx.db.transaction() as session:
            provider = create_provider(session, code=code, name=name, kind=kind,
                                       categories=[c.strip() for c in categories.split(",") if c.strip()],
                                       coverage=coverage,
                                       provinces=[p.strip() for p in provinces.split(",") if p.strip()]
                                       if provinces else None)
            client, secret = register_client(session, name=f"{name} 报送客户端", scope="records:write",
                                             grant_types=["client_credentials"], provider_id=provider.id)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"数据源 {code} 已登记。客户端凭证（密钥只显示这一次）：")
    out.print(f"  client_id     = {client.client_id}\n  client_secret = {secret}")

@providers.command("list", help="列出数据源")
@pass_ctx
def providers_list(ctx: Context) -> None:

    from app.archive.models import COVERAGE_LABELS, Coverage, DataProvider
    from app.archive.regions import PROVINCES

    with ctx.db.reading() as session:
        for p in session.scalars(sa.select(DataProvider).order_by(DataProvider.code)):
            where = "全国" if not p.provinces else "、".join(PROVINCES.get(c, c) for c in p.provinces)
            reach = COVERAGE_LABELS[Coverage(p.coverage)] + (f"（{where}）" if p.coverage == Coverage.region else "")
            out.print(f"{p.code:16} {p.name}  [{', '.join(p.categories)}]  {reach}")

def rotate_secret(ctx: Context, client_id: str) -> None:
    """A new client secret, printed once (only its hash is stored); the old tokens are revoked."""
    from app.oauth.services import rotate_client_secret

    try:
        with ctx.db.transaction() as session:
            secret = rotate_client_secret(session, client_id)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"client_secret = {secret}")

@providers.command("rotate-secret", help="为数据源客户端换发新密钥（旧令牌全部撤销）")
@click.argument("client_id")
@pass_ctx
def providers_rotate_secret(ctx: Context, client_id: str) -> None:
    rotate_secret(ctx, client_id)
