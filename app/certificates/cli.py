"""Grade certificates: the operators' listing, one certificate in full, its PDF, the rule in
force and the daily work run by hand."""

from __future__ import annotations

from pathlib import Path

import click

from app.core.cli import Context, domain_error, fail, out, pass_ctx, progress_bar
from app.core.errors import DomainError

STATUSES = ("applied", "publicized", "issued", "suspended", "revoked", "rejected", "expired", "withdrawn")


@click.group("certificates", help="信用等级证书：列表、详情、PDF、现行规则；到期、复核与公示期满发证")
def certificates_group() -> None:
    pass


@certificates_group.command("list", help="列出证书与申报（最近变化的在前；--status 只看一种状态）")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="状态")
@click.option("--q", "q", default=None, help="企业名称、统一社会信用代码或证书编号")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="最多列出几项")
@pass_ctx
def certificates_list(ctx: Context, status: str | None, q: str | None, limit: int) -> None:
    from rich.table import Table
    from rich.text import Text

    from app.certificates.models import CertificateStatus
    from app.certificates.services import list_certificates, standing
    from app.core import clock

    # Readable at 80 columns: the number is never cut (it is what one copies into `show`),
    # the name wraps, and the dates are only the last day: of the validity, or of the notice
    # while the result is in it (a result rejected or withdrawn was never valid: 「—」).
    table = Table()
    table.add_column("证书编号", no_wrap=True, min_width=19)
    table.add_column("企业", overflow="fold", ratio=1)
    table.add_column("状态", no_wrap=True)
    table.add_column("等级", no_wrap=True)
    table.add_column("有效期至", no_wrap=True)
    today = clock.today()
    with ctx.db.reading() as session:
        page = list_certificates(session, page=1, per_page=limit, status=status, q=q)
        for c in page.items:
            now = standing(c, today)
            until = (str(c.valid_until) if c.valid_until
                     else f"公示至 {clock.format_cn(c.notice_until, '%Y-%m-%d')}"
                     if now.status == CertificateStatus.publicized and c.notice_until else "—")
            table.add_row(c.certificate_no, Text(c.enterprise.name), now.label, c.grade or "—", until)
    out.print(table)
    out.print(f"共 {page.total} 项" + (f"（列出前 {limit} 项）" if page.total > limit else "") + "。")


@certificates_group.command("show", help="一份证书或申报：状态、等级、有效期、状态历史与异议")
@click.argument("number")
@pass_ctx
def certificates_show(ctx: Context, number: str) -> None:
    from app.certificates import services
    from app.certificates.models import CERTIFICATE_STATUS_LABELS, CertificateStatus
    from app.certificates.schemas import OBJECTION_STATUS_LABELS
    from app.core import clock

    def label(status: str) -> str:
        return CERTIFICATE_STATUS_LABELS[CertificateStatus(status)]

    def say(line: str) -> None:
        out.print(line, markup=False)  # free text (a reason, a note, an objection) may hold 「[/…]」

    with ctx.db.reading() as session:
        try:
            cert = services.get_certificate(session, number)
        except DomainError as exc:
            domain_error(exc)
            return
        now = services.standing(cert)
        say(f"证书编号 {cert.certificate_no}：{cert.enterprise.name}（{cert.enterprise.uscc}）")
        say(f"状态 {now.label}" + (f"：{now.reason}" if now.reason else ""))
        if cert.grade:
            say(f"等级 {cert.grade}（分数 {cert.score or '—'}，评分卡 {cert.scorecard_version}，评价基准日 {cert.grade_as_of}）")
        if cert.notice_from and cert.notice_until:
            say(f"公示期 {clock.format_cn(cert.notice_from)} 至 {clock.format_cn(cert.notice_until)}")
        if cert.issued_at:
            review = services.next_review(cert)  # none once the certificate has ended
            say(f"发证 {clock.format_cn(cert.issued_at)}；有效期 {cert.valid_from} 至 {cert.valid_until}；"
                + (f"下次复核 {review}；" if review else "") + f"摘要 {cert.digest}（密钥 {cert.kid}）")
        say("状态历史：")
        events = services.events_of(session, cert)
        actors = services.actor_labels(session, (e.actor for e in events))
        for e in events:
            change = f"{label(e.from_status)} → {label(e.to_status)}" if e.from_status else label(e.to_status)
            note = (e.detail or {}).get("note")
            say(f"  {clock.format_cn(e.at)}  {change}  {actors[e.actor]}  {e.reason or ''}"
                + (f"（说明：{note}）" if note else ""))
        objections = services.objections_of(session, cert)
        if objections:
            say("异议：")
        for o in objections:
            say(f"  {o.objection_no}  {clock.format_cn(o.created_at)}  {OBJECTION_STATUS_LABELS[str(o.status)]}  {o.text}"
                + (f"（处理：{o.resolution}）" if o.resolution and o.status != "closed" else ""))


@certificates_group.command("pdf", help="把已颁发的证书写成 PDF 文件（二维码指向 --base-url 上的核验页）")
@click.argument("number")
@click.option("--out", "path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PDF 文件路径")
@click.option("--base-url", default=None, help="站点地址（缺省 PC_ISSUER，再缺省 http://127.0.0.1:8000）")
@pass_ctx
def certificates_pdf(ctx: Context, number: str, path: Path, base_url: str | None) -> None:
    from app.certificates import services
    from app.certificates.models import CERTIFICATE_STATUS_LABELS, CertificateStatus
    from app.certificates.pdf import render_pdf

    base = (base_url or ctx.settings.issuer or "http://127.0.0.1:8000").rstrip("/")
    with ctx.db.reading() as session:
        try:
            cert = services.get_certificate(session, number)
            doc = services.frozen(cert)
            assert cert.digest is not None and cert.kid is not None
            status = services.effective_status(cert)
            body = render_pdf(doc, digest=cert.digest, kid=cert.kid, verify_url=base + services.verify_path(cert),
                              status_label=None if status == CertificateStatus.issued else CERTIFICATE_STATUS_LABELS[status])
            said = f"证书 {cert.certificate_no}，状态 {CERTIFICATE_STATUS_LABELS[status]}"
        except DomainError as exc:
            domain_error(exc)
            return
    try:
        path.write_bytes(body)
    except OSError as exc:
        fail(f"无法写入 {path}：{exc.strerror or exc}")
    out.print(f"已写入 {path}（{len(body) // 1024} KB）：{said}")


@certificates_group.command("rules", help="现行证书规则（PC_CERTIFICATE_RULES；格式有误时报错并指明键名）")
def certificates_rules() -> None:
    from app.certificates.rules import load

    for line in load().describe():
        out.print(f"· {line}")


@certificates_group.command("advance", short_help="手动运行证书每日任务：到期、按规则复核与年度复核、公示期满发证",
                            help="手动运行证书每日任务（即每日任务 certificates.advance）：到期证书标为已过期；"
                                 "按规则复核有效、暂停的证书与公示中的结果（黑名单、当前等级）；进行到期的年度复核；"
                                 "公示期满且无待处理异议的颁发证书。列出每一项改变了的证书编号。")
@pass_ctx
def certificates_advance(ctx: Context) -> None:
    from app.certificates.services import advance
    from app.core.signing import load_signing_keys

    labels = {"issued": "发证", "rejected": "不予发证", "suspended": "暂停", "revoked": "撤销", "restored": "恢复",
              "expired": "到期", "reviewed": "年度复核"}
    # Progress on stderr (every certificate held is judged, which takes a while on many);
    # what was done on stdout.
    with ctx.db.transaction() as session, progress_bar() as progress:
        task = progress.add_task("证书每日任务", total=None)

        def on_progress(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"证书每日任务：{step}", completed=done, total=total)

        outcome = advance(session, load_signing_keys(ctx.settings), actor="cli", on_progress=on_progress)
    for key, label in labels.items():
        numbers = outcome.numbers.get(key, [])
        out.print(f"{label} {len(numbers)} 份" + (f"：{'、'.join(numbers)}" if numbers else ""))
