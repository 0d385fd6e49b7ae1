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

@scorecard.command("check", help="校验评分卡文件并列出维度、因子、权重、等级线、封顶规则与不予评级规则（不给文件时校验现行评分卡）")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def scorecard_check(file: Path | None) -> None:
    from rich.table import Table

    from app.archive.models import SEGMENT_LABELS, Segment
    from app.scoring.scorecard import DIMENSIONS, MEASURES, ScorecardError, load_scorecard
    from app.scoring.services import CURRENT_SCORECARD

    try:
        card = load_scorecard(file) if file else load_scorecard(name=CURRENT_SCORECARD)
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
    out.print("适用板块：" + "、".join(SEGMENT_LABELS[Segment(s)] for s in card.serves))
    if card.evidence is not None:
        rule = card.evidence
        out.print(f"不予评级（NR）：可评因子少于 {rule.min_known_factors} 项、数据覆盖低于 {rule.min_coverage:.0%} 或信用记录历史"
                  f"不足 {rule.min_history_months} 个月（有封顶情形时照常评级）；没有数据来源覆盖的因子不计入，权重在已知因子间重新分配")
    for seg, variant in card.variants.items():
        changed = [f"{f.label} {f.weight:.0%}" for f, base in zip(variant.factors, card.factors, strict=True)
                   if f.weight != base.weight]
        dims = [f"{DIMENSIONS[d]} {w:.0%}" for d, w in variant.dimension_weights.items() if w != card.dimension_weights[d]]
        out.print(f"板块 {SEGMENT_LABELS[Segment(seg)]}：" + "，".join(dims + changed))

def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None, places: int = 4) -> str:
    return "—" if value is None else f"{value:.{places}f}"


@scorecard.command("validate", help="评分卡回测：以基准日各企业的最新评价对照其后观察期内的违约（违约定义见评分卡），"
                                     "输出各等级违约率、AUC/KS、校准表与人群稳定性（PSI）")
@click.option("--version", "version", default=None, help="评分卡版本，如 2.0（或用 --scorecard 给出评分卡文件）")
@click.option("--scorecard", "scorecard_file", default=None, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="回测这个评分卡文件的评价（如地方五级制评分卡）")
@click.option("--as-of", "as_of", required=True, help="验证基准日 D（YYYY-MM-DD）")
@click.option("--horizon-months", "horizon", default=None, help="观察期（月，1–60；默认取评分卡违约定义的观察期）")
@click.option("--compare-as-of", "compare_as_of", default=None, help="PSI 的比较基准日（默认 D 前 12 个月）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON（与 API 相同）而不是表格")
@pass_ctx
def scorecard_validate(ctx: Context, version: str | None, scorecard_file: Path | None, as_of: str, horizon: str | None,
                       compare_as_of: str | None, as_json: bool) -> None:
    import json

    from marshmallow import ValidationError

    from app.core.errors import flatten_messages
    from app.scoring.schemas import ValidationArgs, ValidationReportSchema
    from app.scoring.scorecard import ScorecardError, load_scorecard
    from app.scoring.validation import validate_scorecard

    card = None
    if scorecard_file is not None:
        try:
            card = load_scorecard(scorecard_file)
        except ScorecardError as exc:
            fail(str(exc))
            return
    elif version is None:
        fail("请给出 --version（评分卡版本）或 --scorecard（评分卡文件）")
    options = {"as_of": "--as-of", "horizon_months": "--horizon-months", "compare_as_of": "--compare-as-of"}
    raw = {"as_of": as_of, "horizon_months": horizon, "compare_as_of": compare_as_of}
    try:
        args = ValidationArgs().load({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        fail("；".join(f"{options.get(f, f)}：{'，'.join(m)}" for f, m in flatten_messages(exc.messages).items()))
        return
    try:
        with ctx.db.reading() as session:
            report = validate_scorecard(session, card.version if card else str(version), args["as_of"],
                                        args["horizon_months"], args["compare_as_of"], card=card)
    except DomainError as exc:
        domain_error(exc)
        return
    if as_json:
        click.echo(json.dumps(ValidationReportSchema().dump(report), ensure_ascii=False, indent=2))
        return
    print_validation(report)


def print_validation(report: dict[str, Any]) -> None:
    """A back-test as the terminal shows it: the sample, the grade table with its calibration,
    discrimination, stability."""
    from rich.table import Table

    card, pop = report["scorecard"], report["population"]
    out.print(f"评分卡 {card['id']} {card['version']}（{card['name']}）回测：基准日 {report['as_of']}，"
              f"观察期 {report['horizon_months']} 个月（至 {report['horizon_end']}）")
    definition = report["definition"]
    out.print(f"违约定义：{definition['label']}（以贷款记录计：逾期达 {definition['days_past_due']} 天"
              f"{'或核销' if definition['written_off'] else ''}之日）")
    for note in report["notes"]:
        out.print(f"[yellow]注意：[/yellow]{note}")
    out.print(f"样本：基准日及以前有评价的企业 {pop['evaluated']} 家，基准日前已违约而不纳入 {pop['in_default']} 家；"
              f"纳入 {pop['observed']} 家（已评级 {pop['rated']}，不予评级 {pop['not_rated']}），"
              f"观察期内违约 {pop['defaults']} 家（{_pct(pop['default_rate'])}）")
    calibrated = {r["grade"]: r["implied_pd"] for r in report["calibration"]["rows"]}
    table = Table("等级", "企业数", "违约数", "违约率", "隐含违约概率", title="各等级违约率与校准")
    for row in report["grades"]:
        table.add_row(row["grade"], str(row["count"]), str(row["defaults"]), _pct(row["default_rate"]),
                      _pct(calibrated.get(row["grade"])))
    nr = report["not_rated"]
    table.add_row("NR 不予评级", str(nr["count"]), str(nr["defaults"]), _pct(nr["default_rate"]), "不计入")
    out.print(table)
    mono = report["monotonic"]
    if mono["holds"] is None:
        out.print(f"单调性：{mono['reason']}")
    elif mono["holds"]:
        out.print("单调性：违约率自最差等级至最好等级单调不升。")
    else:
        out.print("单调性：[red]不单调[/red]——" + "；".join(
            f"{v['better']}（{_pct(v['better_rate'])}）高于较差的 {v['worse']}（{_pct(v['worse_rate'])}）"
            for v in mono["violations"]))
    disc = report["discrimination"]
    if disc["auc"] is None:
        out.print(f"区分能力：{disc['reason']}")
    else:
        at = f"（分数 {disc['ks_score']:.2f} 处）" if disc["ks_score"] is not None else ""
        out.print(f"区分能力：AUC {_num(disc['auc'])}，Gini {_num(disc['gini'])}，KS {_num(disc['ks'])}{at}"
                  f"（按封顶前的分数）；按等级（封顶后）的 AUC {_num(disc['auc_grade'])}")
    cal = report["calibration"]
    if cal["brier"] is None:
        out.print(f"校准：{cal['reason']}")
    else:
        out.print(f"校准：Brier 分数 {_num(cal['brier'])}；逻辑回归 违约概率 = 1/(1+e^-({_num(cal['intercept'])}"
                  f" {cal['slope']:+.4f}×分数))")
    st = report["stability"]
    head = f"人群稳定性（PSI，{st['base_as_of']} → {st['as_of']}）："
    if st["psi"] is None:
        out.print(head + st["reason"])
    else:
        out.print(head + f"{st['psi']:.4f}，{st['band_label']}（< 0.1 稳定，0.1–0.25 略有变化，> 0.25 显著变化；"
                         f"空档占比按 {st['epsilon']:g} 计）")
    shift = Table("等级", f"{st['base_as_of']} 企业数", "占比", f"{st['as_of']} 企业数", "占比", "PSI 分项",
                  title="等级分布的人群稳定性")
    for row in st["rows"]:
        shift.add_row(row["grade"], str(row["base_count"]), _pct(row["base_share"]), str(row["current_count"]),
                      _pct(row["current_share"]), _num(row["contribution"]))
    out.print(shift)

@click.command(help="信用评价：评价全部企业（--all）、记录有变化的企业（--changed）或指定企业（--uscc）")
@click.option("--all", "all_", is_flag=True, help="评价全部企业")
@click.option("--changed", is_flag=True, help="只评价记录在上次评价后有变化（或从未评价）的企业")
@click.option("--uscc", multiple=True, help="统一社会信用代码（可重复）")
@click.option("--as-of", "as_of", default=None, help="评价基准日（默认今天，YYYY-MM-DD）")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="评价计算进程数（0：在本进程内计算；批量读取记录仍在本进程，2 核机器上不划算）")
@click.option("--scorecard", "scorecard_file", default=None,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="用这个评分卡文件评价（如地方五级制评分卡 app/scoring/scorecards/regional/retail-five-grade.json；"
                   "只评价它适用的板块）；默认用现行评分卡")
@pass_ctx
def evaluate(ctx: Context, all_: bool, changed: bool, uscc: tuple[str, ...], as_of: str | None,
             workers: int, scorecard_file: Path | None) -> None:
    from app.archive.services import get_enterprise
    from app.scoring.scorecard import GRADES, NOT_RATED, ScorecardError, load_scorecard
    from app.scoring.services import grade_distribution, run_evaluations

    if sum((all_, changed, bool(uscc))) != 1:
        fail("请且只请选择 --all、--changed 或 --uscc 之一")
    card = None
    if scorecard_file is not None:
        try:
            card = load_scorecard(scorecard_file)
        except ScorecardError as exc:
            fail(str(exc))
            return
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
            run = run_evaluations(session, mode, ids, day, card=card, on_progress=on_progress,
                                  workers=workers)
            progress.update(task, total=run.firms, completed=run.firms)
            distribution = grade_distribution(session)
    except DomainError as exc:
        domain_error(exc)
        return
    skipped = run.firms - run.evaluated - run.unchanged
    out.print(f"评价批次 #{run.id}（评分卡 {run.scorecard_id} {run.scorecard_version}，基准日 {run.as_of}）："
              f"企业 {run.firms} 家，新评价 {run.evaluated}，结果未变 {run.unchanged}"
              + (f"，评分卡不适用其板块未评价 {skipped}" if skipped else "") + "。")
    out.print("当前等级分布：" + "，".join(f"{g} {distribution.get(g, 0)}" for g in (*GRADES, NOT_RATED)))

def group_label(by: str, group: str) -> str:
    """An index row's group as people read it (the code stays in the API's JSON)."""
    from app.archive.models import SEGMENT_LABELS, Segment
    from app.archive.regions import PROVINCES

    if by == "segment" and group in Segment.__members__:
        return SEGMENT_LABELS[Segment(group)]
    if by == "province":
        return PROVINCES.get(group, group)
    return "全部" if group == "all" else group

@click.group("index", invoke_without_command=True,
             help="信用电力指数：按月显示（可按业态、省份、电力集团筛选或分组），含定基指数、离散度与尾部；"
                  "index warnings 列出超出预警阈值的项")
@click.option("--segment", default=None, help="业态，如 retail、grid")
@click.option("--region", default=None, help="省级代码（2 位）或行政区划代码（6 位）")
@click.option("--from", "first", default=None, help="起始月份 YYYY-MM")
@click.option("--to", "last", default=None, help="结束月份 YYYY-MM")
@click.option("--by", type=click.Choice(["all", "segment", "province", "group"]), default="all", show_default=True,
              help="group：每个电力集团的全部各级子公司")
@click.option("--group", "group_uscc", default=None, help="只看一个电力集团（母公司统一社会信用代码；与 --by group 同用）")
@click.option("--base", default=None, help="定基指数的基期 YYYY-MM（默认：预警阈值文件所定，或首个有评价的月份）")
@click.pass_context
def index_cmd(click_ctx: click.Context, segment: str | None, region: str | None, first: str | None,
              last: str | None, by: str, group_uscc: str | None, base: str | None) -> None:
    if click_ctx.invoked_subcommand is not None:
        return
    from marshmallow import ValidationError
    from rich.table import Table

    from app.core.errors import flatten_messages
    from app.scoring.index import (
        INDEX_DEFINITION,
        IndexThresholdsError,
        credit_power_index,
        index_base_month,
    )
    from app.scoring.schemas import IndexArgs

    ctx = click_ctx.ensure_object(Context)
    try:
        args = IndexArgs().load({k: v for k, v in {"segment": segment, "region": region, "from": first, "to": last,
                                                   "by": "all" if by == "group" else by, "base": base}.items()
                                 if v is not None})
    except ValidationError as exc:
        fail("；".join(f"{f}: {'，'.join(m)}" for f, m in flatten_messages(exc.messages).items()))
        return
    if group_uscc and by != "group":
        fail("--group 须与 --by group 同用")
        return
    try:
        with ctx.db.reading() as session:
            base_month = args["base"] or index_base_month(session)
            rows = credit_power_index(session, segment=args["segment"],
                                      province=args["region"][:2] if args["region"] else None,
                                      first=args["from_"], last=args["to"], by=by, group=group_uscc,
                                      base_month=base_month)
            labels = _group_names(session) if by == "group" else {}
    except IndexThresholdsError as exc:
        fail(str(exc))
        return
    table = Table("月份", "分组", "企业数", "信用电力指数", "守信意愿", "守信能力", "守信表现")
    spread = Table("月份", "分组", f"定基（{base_month or '—'}=100）", "标准差", "四分位距", "参评（含NR）",
                   "B级及以下", "NR")
    for r in rows:
        name = labels.get(r["group"]) or group_label(by, r["group"])
        table.add_row(r["month"], name, str(r["firms"]), f"{r['index']:.2f}",
                      *("—" if r[k] is None else f"{r[k]:.2f}" for k in ("willingness", "capability", "performance")))
        spread.add_row(r["month"], name, *("—" if r[k] is None else f"{r[k]:.2f}" for k in ("index_base100", "std", "iqr")),
                       str(r["evaluated"]), f"{r['tail_share']:.1%}", f"{r['nr_share']:.1%}")
    out.print(table)
    out.print(spread)
    out.print(INDEX_DEFINITION)


def _group_names(session: Any) -> dict[str, str]:
    from app.scoring.index import power_groups

    return {pg.uscc: pg.name for pg in power_groups(session)}


@index_cmd.command("warnings", help="某月超出预警阈值的信用电力指数项（全行业、业态、省份、电力集团）；"
                                    "只列出，写入预警事件由任务 scoring.monthly_index 完成")
@click.option("--month", required=True, help="月份 YYYY-MM")
@click.option("--thresholds", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="预警阈值文件（默认：PC_INDEX_THRESHOLDS 或 app/scoring/index_thresholds.json）")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@pass_ctx
def index_warnings_cmd(ctx: Context, month: str, path: Path | None, as_json: bool) -> None:
    import json

    from marshmallow import ValidationError
    from rich.table import Table

    from app.scoring.index import (
        IndexThresholdsError,
        format_figure,
        index_warnings,
        load_thresholds,
        scope_title,
    )
    from app.scoring.schemas import IndexArgs

    try:
        IndexArgs().load({"from": month})
    except ValidationError:
        fail(f"--month 应为 YYYY-MM 格式的月份（1949–9000 年），当前为 {month!r}")
        return
    try:
        thresholds = load_thresholds(path)
        with ctx.db.reading() as session:
            found = index_warnings(session, month, thresholds)
    except IndexThresholdsError as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found:
        out.print(f"{month}：没有超出预警阈值的项（阈值文件 {thresholds.source}）。")
        return
    table = Table("范围", "代码", "指标", "数值", "阈值", "企业数")
    for w in found:
        table.add_row(scope_title(w["scope"], w["scope_code"], w["scope_label"]),
                      "" if w["scope"] == "all" else w["scope_code"], w["metric_label"],
                      format_figure(w["metric"], w["value"]), format_figure(w["metric"], w["threshold"], limit=True),
                      str(w["evaluated"]))
    out.print(table)
    out.print(f"{month}：共 {len(found)} 项超出预警阈值（阈值文件 {thresholds.source}）；"
              "powercredit jobs now scoring.monthly_index 把上月的预警写入监测预警。")
