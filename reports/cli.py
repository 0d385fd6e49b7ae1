"""Reports: a firm's self-report issued from the terminal, and offline verification of a
signed file — a report's, or a higher layer's (a screening's) through the check its package
hands in (:func:`register_file`; the roof registers them, as it registers ``/verify``'s kinds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from app.core.cli import (
    Context,
    domain_error,
    fail,
    load_jwks,
    out,
    pass_ctx,
    read_error,
)
from app.core.errors import DomainError


@dataclass(frozen=True)
class SignedFile:
    """A kind of signed file ``powercredit verify`` checks offline besides reports, handed in
    by the package that issues it (reports cannot import the layers above them)."""

    member: str  # the document's member in the file: "screening"
    label: str  # what it is: 投标人信用筛查结果
    number: str  # the document's number field: "screening_no"
    verify: Callable[[Any, dict[str, Any]], dict[str, Any]]  # (file, JWKS) -> the signed statement; SignatureInvalid why not
    describe: Callable[[dict[str, Any]], str]  # the signed statement in words: for whom, when, how many


REPORT = "report"
_files: dict[str, SignedFile] = {}


def register_file(kind: SignedFile) -> None:
    _files[kind.member] = kind


def signed_files() -> list[SignedFile]:
    return list(_files.values())


def _kind_of(envelope: Any) -> SignedFile | None:
    """The registered kind whose document the file carries (None: a report's, or none)."""
    if not isinstance(envelope, dict) or REPORT in envelope:
        return None
    return next((k for k in _files.values() if k.member in envelope), None)


def _stated(envelope: dict[str, Any], number: str, digest: str) -> str | None:
    """Why the file's own statements (its digest, its verification address) disagree with
    what was signed, or None: a byte changed there is a file changed too."""
    stated = envelope.get("digest")
    if stated is not None and stated != digest:
        return f"文件所载摘要 {stated} 与内容的摘要 {digest} 不符"
    url = envelope.get("verify_url")
    if url is not None and not (isinstance(url, str) and url.endswith(f"/verify/{number}?digest={digest}")):
        return f"文件所载核验地址与编号、摘要不符：{url}"
    return None


def _beijing(moment: Any) -> str:
    """An ISO instant of a signed statement in Beijing time, as the pages show it."""
    import datetime as dt

    from app.core import clock

    try:
        at = dt.datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return str(moment)
    return f"{at.astimezone(clock.BEIJING):%Y-%m-%d %H:%M:%S}（北京时间）"


def _refuse(label: str, number: Any, why: str) -> None:
    shown = number if isinstance(number, str) and number else "（文件中没有编号）"
    fail(f"核验失败：{label} {shown} 无效——{why}")


@click.command("verify", help="离线核验签名文件（API 或页面下载的 JSON）：信用报告（含 report 与 signature）、"
                             "投标人信用筛查结果（含 screening 与 signature）；核对内容摘要、Ed25519 签名与签名声明，"
                             "任何改动均判为无效并以非零状态退出。--jwks 为平台公钥（文件或 /.well-known/jwks.json 地址），"
                             "缺省用本机实例的公钥")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", default=None, help="JWKS 文件路径或 URL")
def verify_report(file: Path, jwks_source: str | None) -> None:
    from app.core.signing import SignatureInvalid
    from reports.services import verify_envelope

    jwks = load_jwks(jwks_source)
    try:
        envelope = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"无法读取签名文件（应为 JSON）：{read_error(exc)}")
        return
    other = _kind_of(envelope)
    if other is not None:
        _verify_other(other, envelope, jwks)
        return
    if not isinstance(envelope, dict) or REPORT not in envelope:
        known = "、".join([f"{REPORT}（信用报告）", *(f"{k.member}（{k.label}）" for k in _files.values())])
        fail(f"文件不是 PowerCredit 的签名文件：应含 {known} 之一及 signature")
        return
    doc = envelope[REPORT]
    report_no = doc.get("report_no") if isinstance(doc, dict) else None
    try:
        signed = verify_envelope(envelope, jwks)
    except SignatureInvalid as exc:
        _refuse("信用报告", report_no, str(exc))
        return
    mismatch = _stated(envelope, signed["report_no"], signed["digest"])
    if mismatch:
        _refuse("信用报告", report_no, mismatch)
        return
    from reports.models import KIND_LABELS

    kind = KIND_LABELS.get(signed["kind"], signed["kind"])  # type: ignore[call-overload]
    out.print(f"核验通过：信用报告 {signed['report_no']}（{kind}），{signed['subject']['name']}"
              f"（{signed['subject']['uscc']}），出具给 {signed['recipient']['name']}，"
              f"出具时间 {_beijing(signed['issued_at'])}")
    out.print(f"摘要 SHA-256 {signed['digest']}，签名有效")


def _verify_other(kind: SignedFile, envelope: dict[str, Any], jwks: dict[str, Any]) -> None:
    """A registered kind's file: its package's check, then the file's own statements."""
    from app.core.signing import SignatureInvalid

    doc = envelope.get(kind.member)
    number = doc.get(kind.number) if isinstance(doc, dict) else None
    try:
        signed = kind.verify(envelope, jwks)
    except SignatureInvalid as exc:
        _refuse(kind.label, number, str(exc))
        return
    mismatch = _stated(envelope, signed[kind.number], signed["digest"])
    if mismatch:
        _refuse(kind.label, number, mismatch)
        return
    out.print(f"核验通过：{kind.label} {signed[kind.number]}，{kind.describe(signed)}")
    out.print(f"摘要 SHA-256 {signed['digest']}，签名有效")

@click.group(help="信用报告")
def reports() -> None:
    """Credit reports."""

@reports.command("issue", help="为企业出具自主查询报告或招投标专用版（计入其年度免费次数），写出 JSON 报告文件和/或 PDF")
@click.option("--uscc", required=True, help="企业的统一社会信用代码")
@click.option("--edition", type=click.Choice(["self", "bidding"]), default="self", show_default=True,
              help="self：自主查询版；bidding：招投标专用版（公开信息、信用等级及有效期、证书、名单与投标限制）")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="写出报告文件（含签名，可用 powercredit verify 核验）")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写出 PDF")
@click.option("--base-url", default=None, help="核验页面的站点地址（二维码）；缺省为 PC_ISSUER，未设置时 http://127.0.0.1:8000")
@pass_ctx
def reports_issue(ctx: Context, uscc: str, edition: str, json_out: Path | None, pdf_out: Path | None,
                  base_url: str | None) -> None:
    from app.archive.services import get_enterprise
    from app.core.signing import load_signing_keys
    from reports.models import KIND_LABELS, ReportKind
    from reports.pdf import render_pdf
    from reports.services import envelope_json, issue_self_report

    if json_out is None and pdf_out is None:
        fail("请至少指定 --json 或 --pdf")
    try:
        with ctx.db.transaction() as session:
            ent = get_enterprise(session, uscc)
            report, left = issue_self_report(session, load_signing_keys(ctx.settings), ent, None,
                                             ctx.settings.free_self_reports, actor="cli", kind=ReportKind(edition))
            site = base_url or ctx.settings.issuer or "http://127.0.0.1:8000"
            url = f"{site.rstrip('/')}/verify/{report.report_no}?digest={report.digest}"
            if json_out:
                json_out.write_text(envelope_json(report, url), encoding="utf-8")
            if pdf_out:
                pdf_out.write_bytes(render_pdf(json.loads(report.body), digest=report.digest, verify_url=url,
                                               kid=report.kid))
    except DomainError as exc:
        domain_error(exc)
        return
    out.print(f"已出具报告 {report.report_no}（{KIND_LABELS[report.kind]}，摘要 {report.digest}）；"
              f"{ent.name} 本年度剩余免费次数 {left.remaining} 次")
    for path in (json_out, pdf_out):
        if path:
            out.print(f"  已写出 {path}")
