"""The operator's pages (#28): the audit log in words, the ingestion batches grouped, the
supervision classes, and the users (created, disabled and enabled, passwords reset, sessions
ended) — operators only, every form with its CSRF token, every action audited."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path
from typing import Any

from app.audit import services as audit
from app.audit.web import ACTION_LABELS, SUBJECT_LABELS

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"\A[a-z_]+\.[a-z_]+\Z")
# Helpers whose string arguments name the action they audit.
AUDITING_HELPERS = {"audited", "_audit_oauth_failure", "_attempt"}


def _text(page: str) -> str:
    """What a reader sees: the page without its tags, attributes and scripts."""
    body = page.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


# --- the audit log ----------------------------------------------------------------------------

def _recorded_action_codes() -> set[str]:
    """Every action code written as a literal where the code base records an event: the
    action of ``record(session, actor, ACTION, …)``, ``action=``/``audit_as=`` (``Pending``,
    ``refuse_later``) and the helpers that audit a view's refusals."""
    found: set[str] = set()

    def literals(node: ast.AST) -> set[str]:  # a constant, or either branch of ``a if c else b``
        if isinstance(node, ast.IfExp):
            return literals(node.body) | literals(node.orelse)
        return {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and ACTION.match(node.value) else set()

    for package in ("app", "consent", "reports", "marketplace"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name == "record" and len(node.args) >= 3:
                    found |= literals(node.args[2])
                for kw in node.keywords:
                    if kw.arg in ("action", "audit_as"):
                        found |= literals(kw.value)
                if name in AUDITING_HELPERS:
                    for arg in node.args:
                        found |= literals(arg)
    return found


def _computed_action_codes() -> set[str]:
    """The action codes the code base builds from a status or a verb (f-strings)."""
    from app.certificates.models import CertificateStatus
    from app.monitoring.models import EndpointStatus
    from app.oversight.models import RepairStatus
    from consent.models import ConsentStatus
    from consent.services import FIRM_TRANSITIONS
    from marketplace.models import ApplicationStatus, OfferStatus
    from reports.services import AUDIT_ACTIONS

    return {
        *(f"consent.{str(s).lower()}" for s in ConsentStatus),  # consent.services: each status reached
        *(f"consent.{a}" for a in (*FIRM_TRANSITIONS, "approve", "reject")),  # consent.web: a firm's refused action
        *(f"certificate.{s}" for s in CertificateStatus),
        "certificate.restored", "certificate.reviewed",
        *(f"application.{s}" for s in ApplicationStatus),
        *(f"offer.{s}" for s in (OfferStatus.accepted, OfferStatus.declined, OfferStatus.withdrawn)),
        *(f"repair.{s}" for s in (RepairStatus.approved, RepairStatus.rejected)),
        *(f"list.{k}" for k in ("entered", "exited", "published", "cancelled")),
        *(f"webhook.endpoint_{s}" for s in EndpointStatus),
        *AUDIT_ACTIONS.values(),
        "demo.seeded",
    }


def test_every_action_the_code_base_records_has_a_chinese_label() -> None:
    literal = _recorded_action_codes()
    assert {"session.sign_in", "report.read", "gate.access", "oauth.token", "consent.grant"} <= literal  # the scan finds them
    missing = sorted((literal | _computed_action_codes()) - ACTION_LABELS.keys())
    assert not missing, f"审计操作缺少中文名称（app/audit/web.py ACTION_FAMILIES）：{missing}"
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in ACTION_LABELS.values())


def test_the_audit_log_reads_in_words(client: Any, db: Any, login: Any, make_user: Any) -> None:
    operator = make_user("operator", username="op-reader")
    operator.display_name = "王审计"
    firm_user = make_user("bank", username="officer-li")
    firm_user.display_name = "李信贷"
    db.flush()
    rid = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    # As consent's services write them: the firm's user by id, from None, reason None.
    audit.record(db, f"user:{firm_user.id}", "consent.active", subject_type="consent", subject_id="cst_words1",
                 detail={"from": None, "to": "ACTIVE", "reason": None}, request_id=rid)
    audit.record(db, "user:officer-li", "consent.active", subject_type="consent", subject_id="cst_words2",
                 detail={"from": "PENDING", "to": "ACTIVE", "reason": "企业同意"})
    audit.record(db, "job:certificates.advance", "certificate.suspended", subject_type="certificate",
                 subject_id="PCC2026WORDS", detail={"from": "issued", "to": "suspended", "reason": "等级下降",
                                                    "cause": "evaluation"})
    audit.record(db, "ip:10.1.2.3", "session.sign_in", outcome="refused", code="bad_credentials",
                 subject_type="user", subject_id="nobody")
    db.flush()
    login(operator)
    page = client.get("/console/audit?per_page=10")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    text = _text(body)
    assert "None" not in text and "user:" not in text and "job:" not in text
    assert "新建，状态为 生效中" in text  # from None, reason None: no "None" anywhere
    assert "由 待企业确认 变为 生效中，原因：企业同意" in text
    assert "由 有效 变为 暂停，原因：等级下降" in text and "起因 评价结果" in text
    assert len(re.findall(r"李信贷\s*（金融机构）", text)) == 2  # named by id (consent) and by username alike
    assert "系统" in text and "未登录的访问者" in text
    assert "授权生效" in text and "暂停证书" in text and "登录" in text
    for code in ("consent.active", "certificate.suspended", "session.sign_in"):
        assert f">{code}<" not in body  # the code is a title and a filter, not the cell's text
    # The request id: its first eight characters, the whole one in the title and the filter.
    assert re.search(rf'title="请求编号 {rid}[^"]*">{rid[:8]}</a>', body)
    assert f"?request_id={rid}" in body
    assert client.get(f"/console/audit?request_id={rid}").get_data(as_text=True).count("cst_words1") >= 1


def test_the_audit_log_filters_by_family_and_by_a_rows_action(client: Any, db: Any, login: Any,
                                                              make_user: Any) -> None:
    audit.record(db, "system", "client.register", subject_type="oauth_client", subject_id="pc_filter")
    audit.record(db, "system", "session.sign_out", subject_type="user", subject_id="someone")
    db.flush()
    login(make_user("operator"))
    page = client.get("/console/audit?action=client")
    text = _text(page.get_data(as_text=True))
    assert "登记 OAuth 客户端" in text and "退出登录" not in text
    assert '<option value="client" selected>接口客户端</option>' in page.get_data(as_text=True)
    one = client.get("/console/audit?action=client.register").get_data(as_text=True)
    assert '<option value="client.register" selected>登记 OAuth 客户端</option>' in one
    kinds = client.get("/console/audit?subject_type=oauth_client").get_data(as_text=True)
    assert f'<option value="oauth_client" selected>{SUBJECT_LABELS["oauth_client"]}</option>' in kinds


def test_only_operators_read_the_audit_page(client: Any, db: Any, login: Any, make_user: Any,
                                            make_enterprise: Any) -> None:
    signed_out = client.get("/console/audit", headers={"Accept": "text/html"})
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    for who in (make_user("firm", enterprise=make_enterprise()), make_user("bank")):
        login(who)
        assert client.get("/console/audit").status_code == 403


# --- the ingestion batches --------------------------------------------------------------------

def _runs(db: Any, make_provider: Any) -> tuple[Any, Any, list[Any]]:
    """Batches newest last: A×5 rows, then A, A, A (one row each), B (one row), A, A (one row
    each), B×2 rows — after anything else in the database."""
    import datetime as dt

    from app.archive.models import IngestionRun
    from app.core import clock

    a, b = make_provider(code="prov-signing"), make_provider(code="prov-other")
    made = []
    for i, (provider, total) in enumerate([(a, 5), (a, 1), (a, 1), (a, 1), (b, 1), (a, 1), (a, 1), (b, 2)]):
        run = IngestionRun(provider_id=provider.id, source="api", filename=f"在线签署 cmt_{i}" if total == 1 else None,
                           started_at=clock.now() + dt.timedelta(days=1, minutes=i), total=total, accepted=total,
                           committed=True)
        db.add(run)
        made.append(run)
    db.flush()
    return a, b, made


def _listed(page: str) -> list[str]:
    """The page's lines by their first cell: ``#12`` or ``#3–#5``."""
    return re.findall(r'<td class="nowrap" data-label="批次"><a href="[^"]*">(#\d+(?:–#\d+)?)</a>', page)


def test_consecutive_one_row_batches_of_a_provider_show_as_one_line(client: Any, db: Any, login: Any,
                                                                    make_user: Any, make_provider: Any) -> None:
    a, b, runs = _runs(db, make_provider)
    ids = [r.id for r in runs]
    login(make_user("operator"))
    page = client.get("/console/ingestion?per_page=5").get_data(as_text=True)
    assert _listed(page) == [f"#{ids[7]}", f"#{ids[5]}–#{ids[6]}", f"#{ids[4]}", f"#{ids[1]}–#{ids[3]}", f"#{ids[0]}"]
    assert "3 个单行批次" in page and "2 个单行批次" in page
    # Every batch stays reachable: a collapsed line links to its batches, one by one.
    link = html.unescape(re.search(rf'<a href="([^"]*)">#{ids[1]}–#{ids[3]}</a>', page).group(1))  # type: ignore[union-attr]
    assert f"provider={a.code}" in link and "size=single" in link
    batches = client.get(link).get_data(as_text=True)
    assert _listed(batches) == [f"#{ids[3]}", f"#{ids[2]}", f"#{ids[1]}"]
    assert "返回全部批次" in batches
    # One by one on request; by size.
    assert _listed(client.get("/console/ingestion?per_page=8&each=true").get_data(as_text=True)) == [
        f"#{i}" for i in reversed(ids)]
    assert _listed(client.get("/console/ingestion?per_page=3&size=multi").get_data(as_text=True))[:2] == [
        f"#{ids[7]}", f"#{ids[0]}"]
    singles = _listed(client.get(f"/console/ingestion?size=single&provider={a.code}").get_data(as_text=True))
    assert singles == [f"#{i}" for i in (ids[6], ids[5], ids[3], ids[2], ids[1])]
    # One provider's batches: its one-row batches are consecutive there, one line.
    assert _listed(client.get(f"/console/ingestion?provider={a.code}").get_data(as_text=True)) == [
        f"#{ids[1]}–#{ids[6]}", f"#{ids[0]}"]


def test_the_batches_page_refuses_bad_filters_with_a_page_not_an_error(client: Any, db: Any, login: Any,
                                                                       make_user: Any) -> None:
    login(make_user("operator"))
    for query in ("size=huge", "first=abc", "last=0", "each=perhaps"):
        resp = client.get(f"/console/ingestion?{query}", headers={"Accept": "text/html"})
        assert resp.status_code == 422, query


# --- supervision classes ----------------------------------------------------------------------

def _evaluated(db: Any, ent: Any, grade: str, score: str, supervision_class: str | None) -> None:
    import secrets
    from decimal import Decimal

    from app.core import clock
    from app.scoring.models import Evaluation

    db.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0", as_of=clock.today(),
                      score=Decimal(score) if supervision_class else None, grade=grade,
                      uncapped_grade=grade if supervision_class else None, supervision_class=supervision_class,
                      explanation={}, inputs_digest=secrets.token_hex(32), record_count=3, current=True))


def test_operators_see_firms_by_supervision_class(client: Any, db: Any, login: Any, make_user: Any,
                                                  make_enterprise: Any) -> None:
    low = make_enterprise(name="丁类低分电力有限公司", segment="generation")
    high = make_enterprise(name="丁类高分电力有限公司", segment="generation")
    retail = make_enterprise(name="丁类售电有限公司", segment="retail")
    a_firm = make_enterprise(name="甲类电力有限公司", segment="generation")
    _evaluated(db, low, "C", "21.50", "D")
    _evaluated(db, high, "CCC", "48.00", "D")
    _evaluated(db, retail, "CC", "30.00", "D")
    _evaluated(db, a_firm, "AAA", "95.00", "A")
    _evaluated(db, make_enterprise(name="不予评级有限公司"), "NR", "0", None)
    db.flush()
    login(make_user("operator"))

    page = client.get("/console/supervision")  # D (重点监管) first
    assert page.status_code == 200
    text = _text(page.get_data(as_text=True))
    assert "D 类（重点监管） 3 家" in text and "A 类（绿色通道） 1 家" in text and "B 类（常规监管） 0 家" in text
    order = [text.index(n) for n in ("丁类低分电力有限公司", "丁类售电有限公司", "丁类高分电力有限公司")]
    assert order == sorted(order)  # lowest scores first
    assert "甲类电力有限公司" not in text and "不予评级有限公司" not in text
    assert "21.50" in text and "发电" in text and "售电" in text and low.uscc in text

    by_segment = _text(client.get("/console/supervision?class=D&segment=generation").get_data(as_text=True))
    assert "丁类低分电力有限公司" in by_segment and "丁类售电有限公司" not in by_segment
    assert "D 类（重点监管） 2 家" in by_segment and "A 类（绿色通道） 1 家" in by_segment

    a_page = client.get("/console/supervision?class=A").get_data(as_text=True)
    assert "甲类电力有限公司" in a_page and "丁类低分电力有限公司" not in a_page
    assert 'aria-current="page">A 类（绿色通道）' in a_page

    paged = client.get("/console/supervision?class=D&per_page=2&page=2").get_data(as_text=True)
    assert "丁类高分电力有限公司" in paged and "丁类低分电力有限公司" not in paged

    for bad in ("class=E", "segment=moon", "page=0", "per_page=1000"):
        assert client.get(f"/console/supervision?{bad}", headers={"Accept": "text/html"}).status_code == 422, bad


def test_only_operators_see_the_supervision_page(client: Any, db: Any, login: Any, make_user: Any,
                                                 make_enterprise: Any) -> None:
    signed_out = client.get("/console/supervision", headers={"Accept": "text/html"})
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    for who in (make_user("firm", enterprise=make_enterprise()), make_user("bank")):
        login(who)
        assert client.get("/console/supervision").status_code == 403
