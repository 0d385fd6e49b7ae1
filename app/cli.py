"""``powercredit``: the command line for operators and set-up.

Every command is one unit of work (one transaction) on the configured database.  Long
work shows a progress bar on a terminal and a line per chunk otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app import wiring
from app.accounts import passwords
from app.archive.models import Enterprise
from app.core import clock
from app.core.config import ConfigError, Settings, load_settings
from app.core.crypto import FieldCipher, load_keyring, save_keyring
from app.core.db import Database
from app.core.errors import DomainError, InvalidInput, json_error_text

console = Console(stderr=True, soft_wrap=True)  # messages unbroken, whatever the width
out = Console(soft_wrap=True)


class Context:
    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        passwords.configure(self.settings.password_hash)
        wiring.wire()
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
            click.get_current_context().call_on_close(self._db.dispose)
            _require_current_schema(self._db)
        return self._db

    def cipher(self) -> FieldCipher:
        return FieldCipher(load_keyring(self.settings))


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _require_current_schema(database: Database) -> None:
    """Refuse to work on a database the code's schema does not match (not yet created, or a
    migration behind) rather than fail later with a bare SQL error."""
    from app import migrate

    if not migrate.is_current(database.engine):
        _fail("数据库尚未初始化或结构不是最新版本：请先运行 powercredit db upgrade")


def _read_error(exc: OSError | ValueError) -> str:
    """Why a file (or URL) could not be read as JSON, in Chinese."""
    if isinstance(exc, OSError):
        import errno

        why = {errno.ENOENT: "文件不存在", errno.EACCES: "没有读取权限", errno.EISDIR: "这是一个目录"}.get(
            exc.errno or 0, f"读取失败（{exc.strerror or getattr(exc, 'reason', exc)}）")
        return f"{why}：{exc.filename}" if exc.filename else why
    return f"不是合法的 JSON，{json_error_text(exc)}"


def _fail(message: str) -> None:
    console.print(f"[red]错误：[/red]{message}")
    sys.exit(1)


def _domain_error(exc: DomainError) -> None:
    lines = [exc.detail] + [f"  {f}: {'；'.join(m)}" for f, m in (exc.errors or {}).items()]
    _fail("\n".join(lines))


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # the environment is wrong: say which setting, no traceback
            _fail(f"配置有误：{exc}")


@click.group(cls=_Main, help="PowerCredit 电力征信：服务、数据库、导入与演示数据")
def main() -> None:
    from app.core.request_log import configure_logging

    # The service's one log handler (time, level, request id), so that the app, once created,
    # finds it and adds no second one: every line is written once.
    configure_logging(os.environ.get("PC_LOG_LEVEL", "WARNING"))


@main.command(help="以 gunicorn 启动服务")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from app import create_app

    settings = load_settings()
    database = Database(settings.database_url)
    try:  # refuse to start on a database the code does not match, rather than fail every request
        _require_current_schema(database)
    finally:
        database.dispose()
    if settings.password_hash_profile == "test":
        _fail("PC_PASSWORD_HASH=test 只用于测试（口令哈希强度不足），不能用它对外提供服务")
        return
    # Generate the instance secrets once, in the master, before workers fork.
    load_keyring(settings)

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # Per-request lines at INFO and below, as the app's own request log: with
            # PC_LOG_LEVEL=WARNING neither writes a line per request.
            if logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO) <= logging.INFO:
                self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            return create_app()

    console.print(f"PowerCredit 服务地址：http://{host}:{port}/  （API 文档 /api/docs）")
    _App().run()


@main.group(help="数据库迁移")
def db() -> None:
    pass


@db.command("upgrade", help="执行全部迁移（创建或升级数据库结构）")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    from app import migrate

    if ctx.settings.is_sqlite:
        ctx.settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(ctx.settings.database_url)
    console.print("数据库已升级到最新版本。")


@db.command("revision", help="（开发）根据模型变化生成迁移脚本")
@click.option("-m", "--message", required=True)
@pass_ctx
def db_revision(ctx: Context, message: str) -> None:
    from app import migrate

    migrate.revision(ctx.settings.database_url, message)


def _progress(*, auto_refresh: bool = True) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, auto_refresh=auto_refresh,
    )


@main.command("import", help="导入数据源报送的记录文件（CSV、JSON 数组或 NDJSON），逐行报告")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option("--provider", "provider_code", required=True, help="数据源编码")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]), help="默认按扩展名判断")
@click.option("--mode", type=click.Choice(["partial", "all_or_nothing"]), default="partial", show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="把被拒行写入此文件（NDJSON）")
@click.option("--chunk-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="校验进程数（默认每个 CPU 核一个；0 表示在本进程内校验）")
@click.option("--evaluate/--no-evaluate", "reevaluate", default=True, show_default=True,
              help="导入后重新评价记录有变化的企业")
@pass_ctx
def import_records(ctx: Context, file: Path, provider_code: str, fmt: str | None, mode: str,
                   report_path: Path | None, chunk_size: int, workers: int | None, reevaluate: bool) -> None:
    from app.archive.ingestion import submit_batch
    from app.archive.readers import detect_format, iter_file, iter_stream
    from app.archive.services import get_provider
    from app.core.workers import default_workers

    try:
        if str(file) == "-":
            if not fmt:
                _fail("从标准输入导入时须用 --format 指定格式")
            rows = iter_stream(sys.stdin.buffer, fmt or "ndjson", lazy=True)
        else:
            if not file.exists():
                _fail(f"文件不存在：{file}")
            fmt = fmt or detect_format(file)
            rows = iter_file(file, fmt, lazy=True)
    except ValueError as exc:
        _fail(str(exc))
        return
    tty = console.is_terminal
    total = None if str(file) == "-" or fmt == "json" else _count_rows(file, fmt or "")
    try:
        # No refresh thread: the bar is redrawn per chunk, and validation workers can fork.
        with ctx.db.transaction() as session, _progress(auto_refresh=False) as progress:
            task = progress.add_task(f"导入 {file.name}", total=total)
            provider = get_provider(session, provider_code)

            def on_chunk(res: Any) -> None:
                progress.update(task, completed=res.total, refresh=True)
                if not tty:
                    print(f"已处理 {res.total} 行（接受 {res.accepted}，未变 {res.unchanged}，"
                          f"更正 {res.corrected}，拒绝 {res.refused}），尚未提交", file=sys.stderr, flush=True)

            result = submit_batch(session, provider, rows, reevaluate=reevaluate, source="file", filename=str(file),
                                  mode=mode, chunk_size=chunk_size, keep_rows=False, on_chunk=on_chunk,
                                  workers=default_workers() if workers is None else workers)
            if result.analysed:
                out.print("导入量较大，已更新数据库查询统计信息（ANALYZE）。")
    except DomainError as exc:
        _domain_error(exc)
        return
    except ValueError as exc:
        _fail(str(exc))
        return
    verdict = "已提交" if result.committed else "整批未写入（all_or_nothing 模式下存在被拒行）"
    out.print(f"批次 #{result.run_id}：共 {result.total} 行，接受 {result.accepted}，未变 {result.unchanged}，"
              f"更正 {result.corrected}，拒绝 {result.refused}。{verdict}")
    if result.reevaluated:
        out.print(f"已重新评价记录有变化的企业 {result.reevaluated} 家。")
    for row in result.refusals[:20]:
        reasons = "；".join(f"{f}: {'，'.join(m)}" for f, m in (row.errors or {}).items())
        out.print(f"  第 {row.index + 1} 行 {row.provider_ref or ''} 被拒：{reasons}")
    if len(result.refusals) > 20:
        out.print(f"  ……另有 {len(result.refusals) - 20} 行被拒" + ("，详见报告文件" if report_path else "；用 --report 导出全部"))
    if report_path:
        with report_path.open("w", encoding="utf-8") as fh:
            for row in result.refusals:
                fh.write(json.dumps({"row": row.index + 1, "provider_ref": row.provider_ref, "errors": row.errors},
                                    ensure_ascii=False) + "\n")
    if not result.committed:
        sys.exit(2)


def _count_rows(file: Path, fmt: str) -> int | None:
    """Rows in a regular file, for the progress bar (pipes and huge files: unknown)."""
    if not file.is_file() or file.stat().st_size > 512 * 1024 * 1024:
        return None
    with file.open("rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return n - 1 if fmt == "csv" else n


@main.group(help="企业登记")
def enterprises() -> None:
    pass


@enterprises.command("import", help="导入存量企业（CSV/JSON/NDJSON）；白名单内的早期试点代码予以接受并警告")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]))
@pass_ctx
def enterprises_import(ctx: Context, file: Path, fmt: str | None) -> None:
    from app.archive.ingestion import RowError
    from app.archive.readers import iter_file
    from app.archive.services import upsert_enterprise

    created = updated = 0
    refused: list[tuple[int, str]] = []
    cipher = ctx.cipher()
    with ctx.db.transaction() as session, _progress() as progress:
        task = progress.add_task(f"导入企业 {file.name}", total=None)
        for index, raw in enumerate(iter_file(file, fmt, envelope=False), start=1):
            if isinstance(raw, RowError):
                refused.append((index, raw.message))
                continue
            try:
                with session.begin_nested():
                    _, was_created, warnings = upsert_enterprise(session, cipher, raw)
            except DomainError as exc:
                detail = "；".join(f"{f}: {'，'.join(m)}" for f, m in (exc.errors or {}).items()) or exc.detail
                refused.append((index, detail))
                continue
            created += int(was_created)
            updated += int(not was_created)
            for w in warnings:
                console.print(f"[yellow]警告（第 {index} 行）：[/yellow]{w}")
            progress.advance(task)
    out.print(f"新增 {created} 家，更新 {updated} 家，拒绝 {len(refused)} 行。")
    for index, reason in refused[:50]:
        out.print(f"  第 {index} 行被拒：{reason}")


@enterprises.command("add", help="登记一家新企业（严格校验统一社会信用代码）")
@click.option("--uscc", required=True)
@click.option("--name", required=True)
@click.option("--segment", required=True)
@click.option("--capital", "registered_capital", default=None)
@click.option("--founded", "founded_on", default=None)
@pass_ctx
def enterprises_add(ctx: Context, **fields: Any) -> None:
    from app.archive.services import load_enterprise, register_enterprise

    raw = {k: v for k, v in fields.items() if v is not None}
    try:
        with ctx.db.transaction() as session:
            ent, _ = register_enterprise(session, ctx.cipher(), load_enterprise(raw))
            out.print(f"已登记：{ent.name}（{ent.uscc}）")
    except DomainError as exc:
        _domain_error(exc)


@main.group(help="数据源与其接入客户端")
def providers() -> None:
    pass


@providers.command("add", help="登记数据源，并签发一个客户端凭证（scope records:write）")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True, help="tax_authority / court / market_regulator / ...")
@click.option("--categories", required=True, help="逗号分隔，如 tax,contract")
@pass_ctx
def providers_add(ctx: Context, code: str, name: str, kind: str, categories: str) -> None:
    from app.archive.services import create_provider
    from app.oauth.services import register_client

    try:
        with ctx.db.transaction() as session:
            provider = create_provider(session, code=code, name=name, kind=kind,
                                       categories=[c.strip() for c in categories.split(",") if c.strip()])
            client, secret = register_client(session, name=f"{name} 报送客户端", scope="records:write",
                                             grant_types=["client_credentials"], provider_id=provider.id)
    except DomainError as exc:
        _domain_error(exc)
        return
    out.print(f"数据源 {code} 已登记。客户端凭证（密钥只显示这一次）：")
    out.print(f"  client_id     = {client.client_id}\n  client_secret = {secret}")


@providers.command("list", help="列出数据源")
@pass_ctx
def providers_list(ctx: Context) -> None:
    import sqlalchemy as sa

    from app.archive.models import DataProvider

    with ctx.db.reading() as session:
        for p in session.scalars(sa.select(DataProvider).order_by(DataProvider.code)):
            out.print(f"{p.code:16} {p.name}  [{', '.join(p.categories)}]")


def _rotate_secret(ctx: Context, client_id: str) -> None:
    """A new client secret, printed once (only its hash is stored); the old tokens are revoked."""
    from app.oauth.services import rotate_client_secret

    try:
        with ctx.db.transaction() as session:
            secret = rotate_client_secret(session, client_id)
    except DomainError as exc:
        _domain_error(exc)
        return
    out.print(f"client_secret = {secret}")


@providers.command("rotate-secret", help="为数据源客户端换发新密钥（旧令牌全部撤销）")
@click.argument("client_id")
@pass_ctx
def providers_rotate_secret(ctx: Context, client_id: str) -> None:
    _rotate_secret(ctx, client_id)


@main.group(help="金融机构")
def institutions() -> None:
    pass


@institutions.command("rotate-secret", help="为金融机构的 OAuth 客户端换发新密钥（旧令牌全部撤销；密钥只显示这一次）")
@click.argument("client_id")
@pass_ctx
def institutions_rotate_secret(ctx: Context, client_id: str) -> None:
    _rotate_secret(ctx, client_id)


@institutions.command("add", help="登记金融机构")
@click.option("--name", required=True)
@click.option("--licence", "licence_no", required=True, help="金融许可证号")
@click.option("--kind", default="bank", show_default=True)
@click.option("--uscc", default=None)
@pass_ctx
def institutions_add(ctx: Context, name: str, licence_no: str, kind: str, uscc: str | None) -> None:
    from marshmallow import ValidationError

    from app.accounts.services import create_institution
    from app.core.errors import InvalidInput, flatten_messages
    from consent.schemas import InstitutionInSchema

    try:  # the same rules as POST /api/v1/institutions
        data = InstitutionInSchema().load({"name": name, "licence_no": licence_no, "kind": kind, "uscc": uscc})
    except ValidationError as exc:
        _domain_error(InvalidInput("机构信息有误", errors=flatten_messages(exc.messages)))
        return
    try:
        with ctx.db.transaction() as session:
            create_institution(session, **data)
    except DomainError as exc:
        _domain_error(exc)
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
        _fail(f"JWKS 文件不是合法的 JSON：{json_error_text(exc)}")
        return
    try:
        with ctx.db.transaction() as session:
            client, secret = register_bank_client(session, get_institution(session, licence_no), name=name,
                                                  redirect_uris=list(redirect_uris), auth_method=auth_method,
                                                  jwks=jwks)
    except DomainError as exc:
        _domain_error(exc)
        return
    out.print(f"已登记客户端 {name}：\n  client_id     = {client.client_id}")
    if secret:
        out.print(f"  client_secret = {secret}（只显示这一次）")
    else:
        out.print("  认证方式 private_key_jwt：用已登记公钥对应的私钥签名 client_assertion")


@institutions.command("list", help="列出金融机构及其客户端")
@pass_ctx
def institutions_list(ctx: Context) -> None:
    import sqlalchemy as sa

    from app.accounts.models import Institution
    from app.oauth.services import clients_of_institution

    with ctx.db.reading() as session:
        for inst in session.scalars(sa.select(Institution).order_by(Institution.licence_no)):
            out.print(f"{inst.licence_no:20} {inst.name}{'' if inst.active else '（已停用）'}")
            for c in clients_of_institution(session, inst.id):
                out.print(f"    {c.client_id}  {c.token_endpoint_auth_method:20} {' '.join(c.redirect_uris)}")


@main.group(help="授权（征信授权）")
def consents() -> None:
    pass


@consents.command("expire", help="把已到期的授权标记为已过期并撤销其令牌；清理过期的授权码与断言记录（可重复执行）")
@pass_ctx
def consents_expire(ctx: Context) -> None:
    from consent.services import expire_due

    with ctx.db.transaction() as session:
        n = expire_due(session)
    out.print(f"已将 {n} 项授权标记为已过期。")


def _load_jwks(source: str | None) -> dict[str, Any]:
    """Public keys from a JWKS file or URL; without one, this installation's own public keys
    (never generated here: on a machine with no keys, a genuine file would fail to verify)."""
    from urllib.request import urlopen

    from app.core.signing import existing_signing_keys

    if source is None:
        # Only the instance path is needed: no secret key is created for a check.
        settings = load_settings({"secret_key": "-"})
        own = existing_signing_keys(settings)
        if own is None:
            _fail(f"本机没有平台签名密钥（{settings.instance_path}）：请用 --jwks 指定平台公钥，"
                  "即平台站点 /.well-known/jwks.json 的内容（文件路径或 URL）")
            raise SystemExit(1)  # _fail exits
        return own.jwks()
    try:
        if source.startswith(("https://", "http://")):
            with urlopen(source, timeout=10) as fh:  # noqa: S310 (an operator-given URL)
                return dict(json.load(fh))
        return dict(json.loads(Path(source).read_text()))
    except (OSError, ValueError) as exc:
        _fail(f"无法读取 JWKS：{_read_error(exc)}")
        raise  # _fail exits


@consents.command("verify", help="离线验证授权文书（JWS）：用平台公钥（JWKS 文件或 /.well-known/jwks.json 地址）")
@click.argument("artefact", type=click.Path(exists=True, dir_okay=False))
@click.option("--jwks", "jwks_source", required=True, help="JWKS 文件路径或 URL")
def consents_verify(artefact: str, jwks_source: str) -> None:
    from app.core.signing import SignatureInvalid, verify_jws
    from consent.models import PURPOSE_LABELS

    jwks = _load_jwks(jwks_source)
    try:
        payload = verify_jws(Path(artefact).read_text().strip(), jwks, "consent+jws")
    except SignatureInvalid as exc:
        _fail(f"验证失败：{exc}")
        return
    out.print(f"签名有效：授权 {payload['consent_id']}，{payload['subject']['name']}（{payload['subject']['uscc']}）"
              f"→ {payload['recipient']['name']}，用途 {PURPOSE_LABELS.get(payload['purpose'], payload['purpose'])}，"  # type: ignore[call-overload]
              f"有效期至 {payload['valid_until']}")
    out.print(json.dumps(payload, ensure_ascii=False, indent=2))


@main.command("verify", help="离线核验信用报告文件（API 返回的 JSON，含 report 与 signature）：内容摘要与 Ed25519 签名；"
                             "--jwks 为平台公钥（文件或 /.well-known/jwks.json 地址），缺省用本机实例的公钥")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", default=None, help="JWKS 文件路径或 URL")
def verify_report(file: Path, jwks_source: str | None) -> None:
    from app.core.signing import SignatureInvalid
    from reports.services import verify_envelope

    jwks = _load_jwks(jwks_source)
    try:
        envelope = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        _fail(f"无法读取报告文件（应为 JSON）：{_read_error(exc)}")
        return
    try:
        signed = verify_envelope(envelope, jwks)
    except SignatureInvalid as exc:
        _fail(f"核验失败：{exc}")
        return
    from reports.models import KIND_LABELS

    kind = KIND_LABELS.get(signed["kind"], signed["kind"])  # type: ignore[call-overload]
    out.print(f"核验通过：报告 {signed['report_no']}（{kind}），{signed['subject']['name']}"
              f"（{signed['subject']['uscc']}），出具给 {signed['recipient']['name']}，出具时间 {signed['issued_at']}")
    out.print(f"摘要 SHA-256 {signed['digest']}，签名有效")


@main.group(help="信用报告")
def reports() -> None:
    """Credit reports."""


@reports.command("issue", help="为企业出具自主查询报告（计入其年度免费次数），写出 JSON 报告文件和/或 PDF")
@click.option("--uscc", required=True, help="企业的统一社会信用代码")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="写出报告文件（含签名，可用 powercredit verify 核验）")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写出 PDF")
@click.option("--base-url", default=None, help="核验页面的站点地址（二维码）；缺省为 PC_ISSUER，未设置时 http://127.0.0.1:8000")
@pass_ctx
def reports_issue(ctx: Context, uscc: str, json_out: Path | None, pdf_out: Path | None, base_url: str | None) -> None:
    from app.archive.services import get_enterprise
    from app.core.signing import load_signing_keys
    from reports.pdf import render_pdf
    from reports.services import envelope_json, issue_self_report

    if json_out is None and pdf_out is None:
        _fail("请至少指定 --json 或 --pdf")
    try:
        with ctx.db.transaction() as session:
            ent = get_enterprise(session, uscc)
            report, left = issue_self_report(session, load_signing_keys(ctx.settings), ent, None,
                                             ctx.settings.free_self_reports, actor="cli")
            site = base_url or ctx.settings.issuer or "http://127.0.0.1:8000"
            url = f"{site.rstrip('/')}/verify/{report.report_no}?digest={report.digest}"
            if json_out:
                json_out.write_text(envelope_json(report, url), encoding="utf-8")
            if pdf_out:
                pdf_out.write_bytes(render_pdf(json.loads(report.body), digest=report.digest, verify_url=url,
                                               kid=report.kid))
    except DomainError as exc:
        _domain_error(exc)
        return
    out.print(f"已出具报告 {report.report_no}（摘要 {report.digest}）；{ent.name} 本年度剩余免费次数 {left.remaining} 次")
    for path in (json_out, pdf_out):
        if path:
            out.print(f"  已写出 {path}")


@main.group(help="审计日志")
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
                _fail(f"审计日志在第 {event_id} 条处断链或被改写（已校验 {checked} 条）")
                return
    out.print(f"审计日志完整：{checked} 条，哈希链无断裂。")


@main.group(help="用户")
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
        _domain_error(exc)
        return
    out.print(f"已创建用户 {username}（{role}）")


# The demo objections' states as the seed summary names them.
SEED_STATE_LABELS = {"open": "处理中", "overdue": "已逾期", "upheld": "已答复（维持）", "removed": "已答复（删除）",
                     "corrected": "已答复（更正）"}
ENTRY_STATUS_LABELS = {"pending": "待发布", "active": "在列", "exited": "已移出", "cancelled": "未发布即撤销"}


@main.command(help="生成演示数据到空数据库：同样的企业数、种子与基准日期得到同样的数据；"
                   "数据库中已有演示数据时不作改动，只重置演示账号的密码")
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
    from app.scoring.scorecard import GRADES
    from consent.models import STATUS_LABELS as CONSENT_STATUS_LABELS
    from marketplace.models import APPLICATION_STATUS_LABELS, OFFER_STATUS_LABELS

    if not firms.strip().isdigit():
        _fail(f"--firms：应为 1 到 100000 之间的整数，收到 {firms!r}")
        return
    count = int(firms)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        _fail(f"--as-of：应为 YYYY-MM-DD 格式的有效日期，收到 {as_of!r}")
        return
    try:
        check_inputs(count, day, password)  # before the database is opened
    except InvalidInput as exc:
        _fail("\n".join(f"--{k.replace('_', '-')}：{'；'.join(v)}" for k, v in (exc.errors or {}).items()))
        return
    progress = _progress()  # shown once there is something to show (a rerun has nothing)
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
        _domain_error(exc)
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
    out.print("信用评价：等级分布 " + "，".join(f"{g} {summary.distribution.get(g, 0)}" for g in GRADES))
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
    if summary.demo_firm:
        out.print(f"演示企业（账号 firm）：{summary.demo_firm[0]}，统一社会信用代码 {summary.demo_firm[1]}")
    if summary.passwords:
        out.print("演示账号（用户名 / 密码）：")
    for username, pw in summary.passwords.items():
        role = {"operator": Role.operator, "firm": Role.firm, "bank": Role.bank}[username]
        out.print(f"  {username:9} / {pw}   （{ROLE_LABELS[role]}）")


@main.command(help="把超过保存期限（行为终止后 5 年）的不良记录标记为已过期；可重复执行")
@click.option("--as-of", "as_of", default=None)
@pass_ctx
def retention(ctx: Context, as_of: str | None) -> None:
    from app.archive.services import expire_records

    day = dt.date.fromisoformat(as_of) if as_of else None
    with ctx.db.transaction() as session:
        n = expire_records(session, day)
    out.print(f"已将 {n} 条不良记录标记为已过期。")


@main.group(help="字段加密密钥")
def keys() -> None:
    pass


@keys.command("rotate", help="生成新密钥并用它重新加密全部加密字段（旧密钥保留以便读取备份）")
@pass_ctx
def keys_rotate(ctx: Context) -> None:
    from app.archive.services import reencrypt_all

    old_ring = load_keyring(ctx.settings)
    new_ring = old_ring.with_new_key()
    old, new = FieldCipher(old_ring), FieldCipher(new_ring)
    with ctx.db.transaction() as session:
        n = reencrypt_all(session, old, new)
        save_keyring(ctx.settings, new_ring)  # written before commit: both keys can read
    out.print(f"当前密钥为 {new_ring.active}，已重新加密 {n} 个字段。")


@keys.command("rotate-signing", help="生成新的 Ed25519 签名密钥并启用（旧公钥继续在 JWKS 中发布，已签文书仍可验证）")
@pass_ctx
def keys_rotate_signing(ctx: Context) -> None:
    from app.core.signing import load_signing_keys, save_signing_keys

    keys_now = load_signing_keys(ctx.settings).with_new_key()
    save_signing_keys(ctx.settings, keys_now)
    out.print(f"当前签名密钥为 {keys_now.active}；共发布 {len(keys_now.keys)} 把公钥。重启服务后生效。")


@main.group(help="信用评价评分卡")
def scorecard() -> None:
    pass


@scorecard.command("check", help="校验评分卡文件并列出维度、因子、权重与等级线（不给文件时校验内置评分卡）")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def scorecard_check(file: Path | None) -> None:
    from rich.table import Table

    from app.scoring.scorecard import DIMENSIONS, MEASURES, ScorecardError, load_scorecard

    try:
        card = load_scorecard(file)
    except ScorecardError as exc:
        _fail(str(exc))
        return
    out.print(f"评分卡 {card.id} 版本 {card.version}：{card.name}（回溯 {card.lookback_years} 年）")
    table = Table("维度", "因子", "权重", "总权重", "度量")
    for dim, weight in card.dimension_weights.items():
        for factor in (f for f in card.factors if f.dimension == dim):
            table.add_row(f"{DIMENSIONS[dim]} {weight:.0%}", factor.label, f"{factor.weight:.0%}",
                          f"{weight * factor.weight:.1%}", MEASURES[factor.measure])
    out.print(table)
    out.print("等级线：" + "，".join(f"{g} ≥ {m:g}" for g, m in card.thresholds))
    for cap in card.caps:
        out.print(f"封顶：{cap.label} → 最高 {cap.max_grade}")


@main.command(help="信用评价：评价全部企业（--all）、记录有变化的企业（--changed）或指定企业（--uscc）")
@click.option("--all", "all_", is_flag=True, help="评价全部企业")
@click.option("--changed", is_flag=True, help="只评价记录在上次评价后有变化（或从未评价）的企业")
@click.option("--uscc", multiple=True, help="统一社会信用代码（可重复）")
@click.option("--as-of", "as_of", default=None, help="评价基准日（默认今天，YYYY-MM-DD）")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="评价计算进程数（0：在本进程内计算；批量读取记录仍在本进程，2 核机器上不划算）")
@pass_ctx
def evaluate(ctx: Context, all_: bool, changed: bool, uscc: tuple[str, ...], as_of: str | None,
             workers: int) -> None:
    from app.archive.services import get_enterprise
    from app.scoring.scorecard import GRADES
    from app.scoring.services import grade_distribution, run_evaluations

    if sum((all_, changed, bool(uscc))) != 1:
        _fail("请且只请选择 --all、--changed 或 --uscc 之一")
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(f"--as-of 应为 YYYY-MM-DD 格式的日期，实为 {as_of}")
        return
    try:
        # No refresh thread: the bar is redrawn per batch, and evaluation workers can fork.
        with ctx.db.transaction() as session, _progress(auto_refresh=False) as progress:
            ids = [get_enterprise(session, code).id for code in uscc]
            task = progress.add_task("信用评价", total=None)

            def on_progress(stats: Any) -> None:
                progress.update(task, completed=stats.firms, refresh=True)

            mode = "all" if all_ else "changed" if changed else "single"
            run = run_evaluations(session, mode, ids, day, on_progress=on_progress,
                                  workers=workers)
            progress.update(task, total=run.firms, completed=run.firms)
            distribution = grade_distribution(session)
    except DomainError as exc:
        _domain_error(exc)
        return
    out.print(f"评价批次 #{run.id}（评分卡 {run.scorecard_id} {run.scorecard_version}，基准日 {run.as_of}）："
              f"企业 {run.firms} 家，新评价 {run.evaluated}，结果未变 {run.unchanged}。")
    out.print("当前等级分布：" + "，".join(f"{g} {distribution.get(g, 0)}" for g in GRADES))


def group_label(by: str, group: str) -> str:
    """An index row's group as people read it (the code stays in the API's JSON)."""
    from app.archive.models import SEGMENT_LABELS, Segment
    from app.archive.regions import PROVINCES

    if by == "segment" and group in Segment.__members__:
        return SEGMENT_LABELS[Segment(group)]
    if by == "province":
        return PROVINCES.get(group, group)
    return "全部" if group == "all" else group


@main.command("index", help="信用电力指数：按月显示（可按业态、省份筛选或分组）")
@click.option("--segment", default=None, help="业态，如 retail、grid")
@click.option("--region", default=None, help="省级代码（2 位）或行政区划代码（6 位）")
@click.option("--from", "first", default=None, help="起始月份 YYYY-MM")
@click.option("--to", "last", default=None, help="结束月份 YYYY-MM")
@click.option("--by", type=click.Choice(["all", "segment", "province"]), default="all", show_default=True)
@pass_ctx
def index_cmd(ctx: Context, segment: str | None, region: str | None, first: str | None, last: str | None,
              by: str) -> None:
    from marshmallow import ValidationError
    from rich.table import Table

    from app.core.errors import flatten_messages
    from app.scoring.index import INDEX_DEFINITION, credit_power_index
    from app.scoring.schemas import IndexArgs

    try:
        args = IndexArgs().load({k: v for k, v in {"segment": segment, "region": region, "from": first, "to": last,
                                                   "by": by}.items() if v is not None})
    except ValidationError as exc:
        _fail("；".join(f"{f}: {'，'.join(m)}" for f, m in flatten_messages(exc.messages).items()))
        return
    with ctx.db.reading() as session:
        rows = credit_power_index(session, segment=args["segment"],
                                  province=args["region"][:2] if args["region"] else None,
                                  first=args["from_"], last=args["to"], by=args["by"])
    table = Table("月份", "分组", "企业数", "信用电力指数", "守信意愿", "守信能力", "守信表现")
    for r in rows:
        table.add_row(r["month"], group_label(by, r["group"]), str(r["firms"]), f"{r['index']:.2f}", f"{r['willingness']:.2f}",
                      f"{r['capability']:.2f}", f"{r['performance']:.2f}")
    out.print(table)
    out.print(INDEX_DEFINITION)


@main.group("lists", help="红名单、黑名单、重点关注名单")
def lists_group() -> None:
    pass


@lists_group.command("refresh", help="按列入标准重新计算各名单（幂等：再次执行不产生变化），记录每一项列入与移出；"
                                     "--publish 同时发布新列入的记录")
@click.option("--as-of", "as_of", default=None, help="基准日（默认今天，YYYY-MM-DD）")
@click.option("--publish", is_flag=True, help="同时发布新列入的记录（否则待征信机构在控制台发布）")
@pass_ctx
def lists_refresh(ctx: Context, as_of: str | None, publish: bool) -> None:
    from app.core import clock
    from app.oversight.lists import publish as publish_entries
    from app.oversight.lists import refresh
    from app.oversight.models import LIST_LABELS, ListName

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(f"--as-of 应为 YYYY-MM-DD 格式的日期，实为 {as_of}")
        return
    if day is not None and day > clock.today():
        _fail(f"--as-of 不能是未来日期（{as_of}）：名单按已发生的记录计算")
        return
    with ctx.db.transaction() as session, _progress() as progress:
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
        _domain_error(exc)
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


@main.group("objections", help="异议处理")
def objections_group() -> None:
    pass


@objections_group.command("overdue", help="列出逾期未答复的异议（收到之日起 20 日）；有逾期时退出码为 1")
@pass_ctx
def objections_overdue(ctx: Context) -> None:
    from app.core import clock
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


@main.group("commitments", help="信用承诺")
def commitments_group() -> None:
    pass


@commitments_group.command("verify", help="离线验证已签署的信用承诺声明（JWS 文件）：用平台公钥（JWKS 文件或地址，缺省本机公钥）")
@click.argument("statement", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", default=None, help="JWKS 文件路径或 URL")
def commitments_verify(statement: Path, jwks_source: str | None) -> None:
    from app.core.signing import SignatureInvalid
    from app.oversight.commitments import verify_statement

    jwks = _load_jwks(jwks_source)
    try:
        payload = verify_statement(statement.read_text(), jwks)
    except SignatureInvalid as exc:
        _fail(f"验证失败：{exc}")
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
