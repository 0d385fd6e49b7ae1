"""The archive's commands: importing records and firms, retention, the field-encryption keys."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from app.core.cli import (
    Context,
    console,
    domain_error,
    fail,
    out,
    pass_ctx,
    progress_bar,
    read_error,
)
from app.core.crypto import FieldCipher, load_keyring, save_keyring
from app.core.errors import DomainError


@click.command("import", help="导入数据源报送的记录文件（CSV、JSON 数组或 NDJSON），逐行报告")
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
                fail("从标准输入导入时须用 --format 指定格式")
            rows = iter_stream(sys.stdin.buffer, fmt or "ndjson", lazy=True)
        else:
            if not file.exists():
                fail(f"文件不存在：{file}")
            fmt = fmt or detect_format(file)
            rows = iter_file(file, fmt, lazy=True)
    except ValueError as exc:
        fail(str(exc))
        return
    tty = console.is_terminal
    total = None if str(file) == "-" or fmt == "json" else _count_rows(file, fmt or "")
    provider_id: int | None = None
    seen = 0
    try:
        # No refresh thread: the bar is redrawn per chunk, and validation workers can fork.
        with ctx.db.transaction() as session, progress_bar(auto_refresh=False) as progress:
            task = progress.add_task(f"导入 {file.name}", total=total)
            provider = get_provider(session, provider_code)
            provider_id = provider.id

            def on_chunk(res: Any) -> None:
                nonlocal seen
                seen = res.total
                progress.update(task, completed=res.total, refresh=True)
                if not tty:
                    print(f"已处理 {res.total} 行（接受 {res.accepted}，未变 {res.unchanged}，"
                          f"更正 {res.corrected}，拒绝 {res.refused}），尚未提交", file=sys.stderr, flush=True)

            result = submit_batch(session, provider, rows, reevaluate=reevaluate, source="file", filename=str(file),
                                  mode=mode, chunk_size=chunk_size, keep_rows=False, on_chunk=on_chunk,
                                  workers=default_workers() if workers is None else workers)
            if result.analysed:
                out.print("导入量较大，已更新数据库查询统计信息（ANALYZE）。")
    except Exception as exc:  # rolled back whole; the batch's run says why, then the error is shown
        if provider_id is not None:
            _record_refused_import(ctx, provider_id, file, mode, seen, exc)
        if isinstance(exc, DomainError):
            domain_error(exc)
        elif isinstance(exc, ValueError | OSError):
            fail(_import_error_text(exc))
        raise
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

def _import_error_text(exc: BaseException) -> str:
    """Why a file could not be imported, in words (a reader's, or the system's)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"文件不是合法的 UTF-8 文本（{exc.reason}），整批未写入"
    if isinstance(exc, OSError):
        return f"无法读取文件：{exc.strerror or exc}，整批未写入"
    if isinstance(exc, ValueError):
        return f"{exc}，整批未写入"
    if isinstance(exc, DomainError):
        return f"{exc.detail}，整批未写入"
    return f"导入出错（{type(exc).__name__}），整批未写入"


def _record_refused_import(ctx: Context, provider_id: int, file: Path, mode: str, seen: int,
                           exc: BaseException) -> None:
    """An import that failed was rolled back whole: its run is recorded in a transaction of its
    own (``committed=false``, the reason at row -1), so every import leaves one."""
    from app.archive.ingestion import RefusedBatch

    refused = RefusedBatch(provider_id, "file", mode, filename=str(file), total=seen)
    where = f"处理了 {seen} 行之后：" if seen else ""
    refused.because(where + _import_error_text(exc))
    try:
        with ctx.db.transaction() as session:
            refused.record(session)
    except Exception as failure:  # never hide the import's own error behind this one
        console.print(f"[yellow]警告：[/yellow]未能记录这次失败的导入（{type(failure).__name__}: {failure}）")


def _count_rows(file: Path, fmt: str) -> int | None:
    """Rows in a regular file, for the progress bar (pipes and huge files: unknown)."""
    if not file.is_file() or file.stat().st_size > 512 * 1024 * 1024:
        return None
    with file.open("rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return n - 1 if fmt == "csv" else n

@click.group(help="企业登记")
def enterprises() -> None:
    pass

@enterprises.command("import", help="导入存量企业（CSV/JSON/NDJSON）；白名单内的早期试点代码予以接受并警告")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]))
@pass_ctx
def enterprises_import(ctx: Context, file: Path, fmt: str | None) -> None:
    from app.archive.ingestion_results import RowError
    from app.archive.readers import iter_file
    from app.archive.services import upsert_enterprise

    created = updated = 0
    refused: list[tuple[int, str]] = []
    cipher = ctx.cipher()
    with ctx.db.transaction() as session, progress_bar() as progress:
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
        domain_error(exc)

@click.command(help="把超过保存期限（行为终止后 5 年）的不良记录标记为已过期；可重复执行")
@click.option("--as-of", "as_of", default=None)
@pass_ctx
def retention(ctx: Context, as_of: str | None) -> None:
    from app.archive.services import expire_records

    day = dt.date.fromisoformat(as_of) if as_of else None
    with ctx.db.transaction() as session:
        n = expire_records(session, day)
    out.print(f"已将 {n} 条不良记录标记为已过期。")

@click.group(help="字段加密密钥")
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


@click.group("relations", help="企业关系（集团与子公司）：登记、结束、查看、导入")
def relations_group() -> None:
    pass


@relations_group.command("add", help="登记一项关系（母公司持有子公司；类型或比例变化时旧关系自动结束）")
@click.option("--parent", "parent_uscc", required=True, help="母公司统一社会信用代码")
@click.option("--child", "child_uscc", required=True, help="子公司统一社会信用代码")
@click.option("--kind", required=True, type=click.Choice(["wholly_owned", "controlling", "minority"]),
              help="wholly_owned 全资、controlling 控股、minority 参股")
@click.option("--share", default=None, help="持股比例（百分数）；全资可省略")
@click.option("--from", "valid_from", default=None, help="起始日期（默认今天）")
@click.option("--operator", "operator", default="cli", show_default=True, help="登记人（记入关系）")
@pass_ctx
def relations_add(ctx: Context, parent_uscc: str, child_uscc: str, kind: str, share: str | None,
                  valid_from: str | None, operator: str) -> None:
    from app.archive.relations import Filer, add_relation
    from app.core import clock

    try:
        with ctx.db.transaction() as session:
            rel = add_relation(session, Filer(operator=operator), parent_uscc=parent_uscc, child_uscc=child_uscc,
                               kind=kind, share=share, valid_from=valid_from or clock.today().isoformat())
            out.print(f"关系 #{rel.id}：{rel.parent.name} → {rel.child.name}（{rel.kind}，{rel.share}%，"
                      f"自 {rel.valid_from.isoformat()}）")
    except DomainError as exc:
        domain_error(exc)


@relations_group.command("end", help="结束一项现行关系（ON 为不再持有的第一天，默认今天）")
@click.argument("relation_id", type=int)
@click.option("--on", "ended_on", default=None)
@click.option("--operator", "operator", default="cli", show_default=True)
@pass_ctx
def relations_end(ctx: Context, relation_id: int, ended_on: str | None, operator: str) -> None:
    from app.archive.relations import Filer, end_relation
    from app.core import clock

    try:
        day = dt.date.fromisoformat(ended_on) if ended_on else clock.today()
    except ValueError:
        fail(f"日期格式应为 YYYY-MM-DD：{ended_on}")
        return
    try:
        with ctx.db.transaction() as session:
            rel = end_relation(session, Filer(operator=operator), relation_id, day)
            out.print(f"关系 #{rel.id} 已于 {day.isoformat()} 结束。")
    except DomainError as exc:
        domain_error(exc)


@relations_group.command("list", help="列出关系（默认现行的）")
@click.option("--uscc", default=None, help="只看该企业作为母公司或子公司的关系")
@click.option("--all", "include_ended", is_flag=True, help="含已结束的关系")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100))
@pass_ctx
def relations_list(ctx: Context, uscc: str | None, include_ended: bool, limit: int) -> None:
    from app.archive.models import RELATION_KIND_LABELS
    from app.archive.relations import list_relations

    with ctx.db.session(read_only=True) as session:
        page = list_relations(session, uscc=uscc.strip().upper() if uscc else None, include_ended=include_ended,
                              per_page=limit)
        for rel in page.items:
            until = rel.valid_to.isoformat() if rel.valid_to else "今"
            out.print(f"#{rel.id}  {rel.parent.uscc} {rel.parent.name} → {rel.child.uscc} {rel.child.name}  "
                      f"{RELATION_KIND_LABELS[rel.kind]} {rel.share.normalize()}%  "
                      f"{rel.valid_from.isoformat()}–{until}")
        out.print(f"共 {page.total} 项。")


@relations_group.command("import", help="导入关系文件（JSON 数组或 NDJSON，字段同 API）：整批写入或整批拒收")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operator", "operator", default="cli", show_default=True)
@pass_ctx
def relations_import(ctx: Context, file: Path, operator: str) -> None:
    from app.archive.relations import Filer, file_relations

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        fail(read_error(exc))
        return
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        fail(f"文件不是合法的 JSON 数组或 NDJSON：{exc}")
        return
    try:
        with ctx.db.transaction() as session:
            result = file_relations(session, Filer(operator=operator), rows)
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"共 {result.total} 行：新增 {result.added}，结束 {result.ended}，未变 {result.unchanged}。")
