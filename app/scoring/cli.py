"""Credit evaluation: the scorecard, evaluations, the 信用电力指数."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from app.core.cli import (
    Context,
    domain_error,
    fail,
    out,
    pass_ctx,
    progress_bar,
)
from app.core.errors import DomainError


@click.group(help="信用评价评分卡")
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
        fail(str(exc))
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

@click.command(help="信用评价：评价全部企业（--all）、记录有变化的企业（--changed）或指定企业（--uscc）")
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
        fail("请且只请选择 --all、--changed 或 --uscc 之一")
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of 应为 YYYY-MM-DD 格式的日期，实为 {as_of}")
        return
    try:
        # No refresh thread: the bar is redrawn per batch, and evaluation workers can fork.
        with ctx.db.transaction() as session, progress_bar(auto_refresh=False) as progress:
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
        domain_error(exc)
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

@click.command("index", help="信用电力指数：按月显示（可按业态、省份筛选或分组）")
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
        fail("；".join(f"{f}: {'，'.join(m)}" for f, m in flatten_messages(exc.messages).items()))
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
