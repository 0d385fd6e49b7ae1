"""The operator's pages (#28): the audit log in words, the ingestion batches grouped, the
supervision classes, and the users (created, disabled and enabled, passwords reset, sessions
ended) — operators only, every form with its CSRF token, every action audited."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path
from typing import Any

import pytest

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


# --- users ------------------------------------------------------------------------------------

def _signed_in(app: Any, username: str, password: str) -> Any:
    """Another browser, signed in as ``username``."""
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    resp = other.post("/login", data={"username": username, "password": password, "csrf_token": _token(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return other


def _form_token(client: Any, path: str = "/console/users/new") -> str:
    return _token(client.get(path).get_data(as_text=True))


def _events(db: Any, action: str) -> list[Any]:
    import sqlalchemy as sa

    from app.audit.models import AuditEvent

    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _one_time_password(page: str) -> str:
    found = re.search(r'<p class="one-time"><code>([a-z0-9-]+)</code></p>', page)
    assert found, page[:2000]
    return found.group(1)


@pytest.fixture
def institutions(db: Any, make_enterprise: Any) -> dict[str, Any]:
    from app.accounts.services import create_institution

    parent = make_enterprise(name="测试电力集团有限公司")
    return {
        "bank": create_institution(db, name="测试银行股份有限公司", licence_no="B-USERS-1"),
        "group": create_institution(db, name="测试电力集团", licence_no="G-USERS-1", kind="group", uscc=parent.uscc),
        "procurement": create_institution(db, name="测试招标采购中心", licence_no="P-USERS-1", kind="procurement"),
        "parent": parent,
    }


def test_operators_list_users_with_role_binding_status_and_last_sign_in(app: Any, client: Any, db: Any, login: Any,
                                                                        make_user: Any, make_enterprise: Any) -> None:
    from tests.conftest import PASSWORD

    ent = make_enterprise(name="列表测试电力有限公司")
    firm = make_user("firm", enterprise=ent, username="list-firm")
    firm.display_name = "列表企业用户"
    idle = make_user("bank", username="list-bank")
    idle.active = False
    db.flush()
    _signed_in(app, "list-firm", PASSWORD)
    login(make_user("operator", username="list-operator"))
    page = client.get("/console/users?q=list-")
    assert page.status_code == 200
    text = _text(page.get_data(as_text=True))
    assert "列表企业用户 list-firm 企业 列表测试电力有限公司 启用" in text
    assert "list-bank 金融机构 测试银行股份有限公司 已停用 从未登录 0" in text
    firm_row = text.split("list-firm", 1)[1].split("list-operator", 1)[0]
    assert "从未登录" not in firm_row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d 1", firm_row)  # signed in, 1 session
    only_disabled = _text(client.get("/console/users?q=list-&status=disabled").get_data(as_text=True))
    assert "list-bank" in only_disabled and "list-firm" not in only_disabled
    only_firms = _text(client.get("/console/users?q=list-&role=firm").get_data(as_text=True))
    assert "list-firm" in only_firms and "list-bank" not in only_firms
    assert "list-firm" not in _text(client.get("/console/users?q=100%25").get_data(as_text=True))  # % is a character
    for bad in ("role=king", "status=maybe", "q=" + "x" * 65, "page=0"):
        assert client.get(f"/console/users?{bad}", headers={"Accept": "text/html"}).status_code == 422, bad


def test_an_operator_creates_users_as_the_cli_does_with_a_one_time_password(app: Any, client: Any, db: Any,
                                                                            login: Any, make_user: Any,
                                                                            make_enterprise: Any,
                                                                            institutions: dict[str, Any]) -> None:
    from app.accounts.services import get_user

    ent = make_enterprise()
    login(make_user("operator", username="creator"))
    made = {
        "new-firm": {"role": "firm", "enterprise": ent.uscc.lower()},  # the USCC's case as typed
        "new-bank": {"role": "bank", "institution": "B-USERS-1"},
        "new-group": {"role": "group", "institution": "G-USERS-1"},
        "new-tenderer": {"role": "tenderer", "institution": "P-USERS-1"},
        "new-operator": {"role": "operator"},
    }
    for username, fields in made.items():
        resp = client.post("/console/users/new", data={"csrf_token": _form_token(client), "username": username,
                                                        "display_name": f"{username} 的姓名", **fields})
        assert resp.status_code == 200, username
        assert resp.headers["Cache-Control"] == "no-store"
        password = _one_time_password(resp.get_data(as_text=True))
        assert len(password) == 19 and "只显示这一次" in resp.get_data(as_text=True)
        user = get_user(db, username)
        assert str(user.role) == fields["role"]
        assert _signed_in(app, username, password).get("/api/v1/me").get_json()["username"] == username
    assert get_user(db, "new-firm").enterprise_id == ent.id
    group = get_user(db, "new-group")
    assert (group.institution_id, group.enterprise_id) == (institutions["group"].id, institutions["parent"].id)
    created = _events(db, "user.created")
    assert [e.subject_id for e in created] == list(made) and {e.actor for e in created} == {"user:creator"}
    assert created[0].detail == {"role": "firm", "enterprise": ent.uscc, "institution": None}
    assert not any(p in str(e.detail) for e in created for p in ("password",))


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"username": "bad name!", "role": "operator"}, "username", "用户名为 1–64 个"),
    ({"username": "12345", "role": "operator"}, "username", "不能全为数字"),
    ({"username": "creator", "role": "operator"}, "username", "已存在"),
    ({"username": "x-firm", "role": "firm"}, "enterprise", "企业用户须指定统一社会信用代码"),
    ({"username": "x-firm", "role": "firm", "enterprise": "911100000000000000"}, "enterprise", "没有"),
    ({"username": "x-bank", "role": "bank"}, "institution", "须选择所属金融机构"),
    ({"username": "x-bank", "role": "bank", "institution": "NO-SUCH"}, "institution", "NO-SUCH"),
    ({"username": "x-bank3", "role": "bank", "institution": "G-USERS-1"}, "institution", "不是电力集团或招标采购单位"),
    ({"username": "x-group", "role": "group", "institution": "B-USERS-1"}, "institution", "应为登记为电力集团"),
    ({"username": "x-tenderer", "role": "tenderer", "institution": "B-USERS-1"}, "institution", "招标采购单位"),
    ({"username": "x-op", "role": "operator", "institution": "B-USERS-1"}, "role", "不能绑定企业或机构"),
    ({"username": "x-firm2", "role": "firm", "enterprise": "911100000000000000", "institution": "B-USERS-1"},
     "institution", "企业用户不绑定机构"),
    ({"username": "x-bank2", "role": "bank", "institution": "B-USERS-1", "enterprise": "911100000000000000"},
     "enterprise", "金融机构用户不绑定企业"),
    ({"username": "x-none"}, "role", ""),
    ({"username": "x-long", "role": "operator", "display_name": "名" * 101}, "display_name", "至多 100 个字符"),
])
def test_a_refused_new_user_shows_the_error_next_to_its_field(client: Any, db: Any, login: Any, make_user: Any,
                                                              institutions: dict[str, Any], fields: dict[str, str],
                                                              field: str, message: str) -> None:
    import sqlalchemy as sa

    from app.accounts.models import User

    login(make_user("operator", username="creator"))
    before = db.scalar(sa.select(sa.func.count()).select_from(User))
    resp = client.post("/console/users/new", data={"csrf_token": _form_token(client), **fields})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    error = re.search(rf'<p class="err" id="{field}-err" role="alert">([^<]*)</p>', page)
    assert error and message in html.unescape(error.group(1)), page[page.find("<form"):][:3000]
    assert f'aria-describedby="{field}-err"' in page
    assert f'value="{html.escape(fields["username"])}"' in page  # what was typed stays
    assert db.scalar(sa.select(sa.func.count()).select_from(User)) == before
    assert not _events(db, "user.created")


def test_a_new_user_refused_on_several_fields_shows_every_error(client: Any, db: Any, login: Any,
                                                                 make_user: Any) -> None:
    """A name already taken and a bank user with no bank: both are said at once, each under
    its own field, so the operator does not fix one to be told of the next."""
    login(make_user("operator", username="creator"))
    resp = client.post("/console/users/new", data={"csrf_token": _form_token(client), "username": "creator",
                                                   "role": "bank"})
    assert resp.status_code == 422
    page = html.unescape(resp.get_data(as_text=True))
    assert re.search(r'<p class="err" id="username-err" role="alert">已存在', page)
    assert re.search(r'<p class="err" id="institution-err" role="alert">金融机构用户须选择所属金融机构', page)
    assert not _events(db, "user.created")
    # A malformed name (the form's own rule) and an unknown firm code (the bindings'): both.
    resp = client.post("/console/users/new", data={"csrf_token": _form_token(client), "username": "张 三!",
                                                   "role": "firm", "enterprise": "12345"})
    page = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 422 and 'id="username-err"' in page
    assert re.search(r'<p class="err" id="enterprise-err" role="alert">[^<]*没有统一社会信用代码为 12345 的企业', page)


def test_an_operator_disables_and_enables_a_user_from_the_page(app: Any, client: Any, db: Any, login: Any,
                                                               make_user: Any, make_enterprise: Any) -> None:
    from tests.conftest import PASSWORD

    target = make_user("firm", enterprise=make_enterprise(), username="to-disable")
    theirs = _signed_in(app, "to-disable", PASSWORD)
    operator = make_user("operator", username="disabler")
    login(operator)
    page = client.get("/console/users/to-disable").get_data(as_text=True)
    assert ">停用账号</button>" in page and "在线会话（1）" in page
    resp = client.post("/console/users/to-disable/disable", data={"csrf_token": _token(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/users/to-disable")
    db.refresh(target)
    assert target.active is False
    assert theirs.get("/api/v1/me").status_code == 401  # their session ended at once
    [event] = _events(db, "user.disabled")
    assert (event.actor, event.subject_id, event.detail) == ("user:disabler", "to-disable", {"ended_sessions": 1})
    page = client.get("/console/users/to-disable").get_data(as_text=True)
    assert "已停用" in _text(page) and "重新启用" in page
    assert client.post("/console/users/to-disable/enable", data={"csrf_token": _token(page)}).status_code == 302
    db.refresh(target)
    assert target.active is True and _events(db, "user.enabled")[0].actor == "user:disabler"
    # Not oneself.
    own = client.get("/console/users/disabler").get_data(as_text=True)
    assert ">停用账号</button>" not in own and ">重置密码</button>" not in own
    client.post("/console/users/disabler/disable", data={"csrf_token": _token(own)})
    db.refresh(operator)
    assert operator.active is True and len(_events(db, "user.disabled")) == 1


def test_an_operator_resets_a_password_shown_once_and_the_users_sessions_end(app: Any, client: Any, db: Any,
                                                                             login: Any, make_user: Any) -> None:
    from tests.conftest import PASSWORD

    make_user("bank", username="forgetful")
    first, second = _signed_in(app, "forgetful", PASSWORD), _signed_in(app, "forgetful", PASSWORD)
    login(make_user("operator", username="resetter"))
    page = client.get("/console/users/forgetful").get_data(as_text=True)
    resp = client.post("/console/users/forgetful/password", data={"csrf_token": _token(page)})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_data(as_text=True)
    password = _one_time_password(body)
    assert "原有的登录会话已全部结束（2 个）" in _text(body)
    assert first.get("/api/v1/me").status_code == 401 and second.get("/api/v1/me").status_code == 401
    assert _signed_in(app, "forgetful", password).get("/api/v1/me").status_code == 200
    old = app.test_client()
    resp = old.post("/login", data={"username": "forgetful", "password": PASSWORD,
                                    "csrf_token": _token(old.get("/login").get_data(as_text=True))})
    assert resp.status_code == 422  # the old password no longer works
    [event] = _events(db, "user.password_reset")
    assert (event.actor, event.subject_id, event.detail) == ("user:resetter", "forgetful", {"ended_sessions": 2})
    assert password not in client.get("/console/users/forgetful").get_data(as_text=True)  # shown once only
    assert password not in client.get("/console/audit").get_data(as_text=True)


def test_an_operator_sees_and_ends_a_users_sessions(app: Any, client: Any, db: Any, login: Any,
                                                    make_user: Any) -> None:
    import sqlalchemy as sa

    from app.accounts.models import UserSession
    from tests.conftest import PASSWORD

    target = make_user("bank", username="roaming")
    first, second, third = (_signed_in(app, "roaming", PASSWORD) for _ in range(3))
    login(make_user("operator", username="session-keeper"))
    page = client.get("/console/users/roaming").get_data(as_text=True)
    assert "在线会话（3）" in page
    ids = [s.id for s in db.scalars(sa.select(UserSession).where(UserSession.user_id == target.id)
                                    .order_by(UserSession.id))]
    resp = client.post(f"/console/users/roaming/sessions/{ids[0]}/end", data={"csrf_token": _token(page)})
    assert resp.status_code == 302
    assert first.get("/api/v1/me").status_code == 401 and second.get("/api/v1/me").status_code == 200
    [event] = _events(db, "session.revoked")
    assert (event.actor, event.subject_id, event.detail) == ("user:session-keeper", "roaming", {"session_id": ids[0]})
    ended = db.get(UserSession, ids[0])
    db.refresh(ended)
    assert ended.ended_reason == "revoked"
    # Another user's session id ends nothing.
    other = make_user("bank", username="bystander")
    _signed_in(app, "bystander", PASSWORD)
    [theirs] = db.scalars(sa.select(UserSession.id).where(UserSession.user_id == other.id)).all()
    client.post(f"/console/users/roaming/sessions/{theirs}/end", data={"csrf_token": _token(page)})
    assert db.scalar(sa.select(UserSession.ended_at).where(UserSession.id == theirs)) is None
    # All of them.
    resp = client.post("/console/users/roaming/sessions/end", data={"csrf_token": _token(page)})
    assert resp.status_code == 302
    assert second.get("/api/v1/me").status_code == 401 and third.get("/api/v1/me").status_code == 401
    assert _events(db, "session.revoked")[-1].detail == {"ended_sessions": 2}
    assert "没有在线的会话" in client.get("/console/users/roaming").get_data(as_text=True)


def test_an_operator_does_not_end_their_own_current_session_from_the_page(client: Any, db: Any, login: Any,
                                                                          make_user: Any) -> None:
    import sqlalchemy as sa

    from app.accounts.models import UserSession

    me = make_user("operator", username="self-keeper")
    login(me)
    page = client.get("/console/users/self-keeper").get_data(as_text=True)
    assert "本次会话" in page
    [mine] = db.scalars(sa.select(UserSession.id).where(UserSession.user_id == me.id)).all()
    client.post(f"/console/users/self-keeper/sessions/{mine}/end", data={"csrf_token": _token(page)})
    client.post("/console/users/self-keeper/sessions/end", data={"csrf_token": _token(page)})  # "the others"
    assert client.get("/api/v1/me").status_code == 200  # still signed in
    resp = client.post("/console/users/self-keeper/password", data={"csrf_token": _token(page)})
    assert resp.status_code == 302 and not _events(db, "user.password_reset")


USER_WRITES = ["/console/users/new", "/console/users/victim/disable", "/console/users/victim/enable",
               "/console/users/victim/password", "/console/users/victim/sessions/end",
               "/console/users/victim/sessions/1/end"]


def test_nobody_but_operators_reaches_the_users_pages(app: Any, client: Any, db: Any, login: Any, make_user: Any,
                                                      make_enterprise: Any, institutions: dict[str, Any]) -> None:
    import sqlalchemy as sa

    from app.accounts.models import User, UserSession
    from app.accounts.services import create_user
    from tests.conftest import PASSWORD

    victim = make_user("bank", username="victim")
    victims_browser = _signed_in(app, "victim", PASSWORD)
    data = {"username": "intruder-made", "role": "operator"}

    def unchanged() -> None:
        db.refresh(victim)
        assert victim.active is True
        assert victims_browser.get("/api/v1/me").status_code == 200  # no session of theirs ended
        assert db.scalar(sa.select(User.id).where(User.username == "intruder-made")) is None
        assert not (_events(db, "user.created") + _events(db, "user.disabled")
                    + _events(db, "user.password_reset") + _events(db, "session.revoked"))

    # Signed out: pages send to the sign-in; writes are refused (with or without a token).
    anon = app.test_client()
    for path in ("/console/users", "/console/users/new", "/console/users/victim"):
        resp = anon.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], path
    token = _token(anon.get("/login").get_data(as_text=True))
    for path in USER_WRITES:
        assert anon.post(path, data={**data, "csrf_token": token}).status_code == 401, path
        assert anon.post(path, data=data).status_code in (400, 401), path
    unchanged()

    # Every other role: 403, for pages and writes alike.
    others = [make_user("firm", enterprise=make_enterprise()), make_user("bank"),
              create_user(db, username="users-group", password=PASSWORD, role="group", institution_licence="G-USERS-1"),
              create_user(db, username="users-tenderer", password=PASSWORD, role="tenderer",
                          institution_licence="P-USERS-1")]
    for who in others:
        login(who)
        for path in ("/console/users", "/console/users/new", "/console/users/victim"):
            assert client.get(path).status_code == 403, (who.role, path)
        token = _token(client.get("/login").get_data(as_text=True))
        for path in USER_WRITES:
            assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, (who.role, path)
    unchanged()
    assert db.scalar(sa.select(sa.func.count()).select_from(UserSession).where(
        UserSession.user_id == victim.id, UserSession.ended_at.is_(None))) == 1


def test_every_users_form_needs_its_csrf_token(app: Any, client: Any, db: Any, login: Any, make_user: Any) -> None:
    from tests.conftest import PASSWORD

    victim = make_user("bank", username="victim")
    victims_browser = _signed_in(app, "victim", PASSWORD)
    login(make_user("operator", username="forgetful-operator"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN", None)  # a form post from another site carries none
    for path in USER_WRITES:
        for token in (None, "forged"):
            body = {"username": "csrf-made", "role": "operator", **({"csrf_token": token} if token else {})}
            assert client.post(path, data=body).status_code == 400, (path, token)
    db.refresh(victim)
    assert victim.active is True and victims_browser.get("/api/v1/me").status_code == 200
    assert not _events(db, "user.created") and not _events(db, "user.disabled")
    # Each of the pages' forms carries it.
    for path in ("/console/users/new", "/console/users/victim"):
        page = client.get(path).get_data(as_text=True)
        forms = re.findall(r"<form method=\"post\".*?</form>", page, re.S)
        assert forms and all('name="csrf_token"' in f for f in forms), path


# --- one's own password -----------------------------------------------------------------------

def test_a_user_changes_a_one_time_password_on_a_page(app: Any, client: Any, db: Any, login: Any,
                                                      make_user: Any, make_enterprise: Any) -> None:
    from tests.conftest import PASSWORD

    user = make_user("firm", enterprise=make_enterprise(), username="otp-holder")
    elsewhere = _signed_in(app, "otp-holder", PASSWORD)
    login(user)
    page = client.get("/account/password").get_data(as_text=True)
    refusals = [
        ({"current_password": PASSWORD, "new_password": "new-secret-2027", "confirm_password": "other-2027"},
         "confirm_password", "不一致"),
        ({"current_password": "wrong-password", "new_password": "new-secret-2027",
          "confirm_password": "new-secret-2027"}, "current_password", "当前密码不正确"),
        ({"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
         "new_password", "至少 10 个字符"),
        ({"current_password": PASSWORD, "new_password": PASSWORD, "confirm_password": PASSWORD},
         "new_password", "不能与当前密码相同"),
        ({"current_password": PASSWORD}, "new_password", "缺少"),
    ]
    for form, field, message in refusals:
        resp = client.post("/account/password", data={"csrf_token": _token(page), **form})
        assert resp.status_code == 422, form
        error = re.search(rf'<p class="err" id="{field}-err" role="alert">([^<]*)</p>', resp.get_data(as_text=True))
        assert error and message in html.unescape(error.group(1)), (form, resp.get_data(as_text=True)[-3000:])
    assert elsewhere.get("/api/v1/me").status_code == 200  # nothing changed yet
    assert not _events(db, "user.password_changed")
    resp = client.post("/account/password", data={"csrf_token": _token(page), "current_password": PASSWORD,
                                                  "new_password": "new-secret-2027",
                                                  "confirm_password": "new-secret-2027"})
    assert resp.status_code == 302
    assert client.get("/api/v1/me").status_code == 200  # this session stays
    assert elsewhere.get("/api/v1/me").status_code == 401  # the others end
    assert _signed_in(app, "otp-holder", "new-secret-2027").get("/api/v1/me").status_code == 200
    [event] = _events(db, "user.password_changed")
    assert (event.actor, event.detail) == ("user:otp-holder", {"ended_sessions": 1})


def test_the_password_page_needs_a_signed_in_user_and_its_csrf_token(app: Any, client: Any, db: Any, login: Any,
                                                                     make_user: Any) -> None:
    from tests.conftest import PASSWORD

    anon = app.test_client()
    resp = anon.get("/account/password", headers={"Accept": "text/html"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    token = _token(anon.get("/login").get_data(as_text=True))
    body = {"current_password": PASSWORD, "new_password": "new-secret-2027", "confirm_password": "new-secret-2027"}
    assert anon.post("/account/password", data={**body, "csrf_token": token}).status_code == 401
    login(make_user("bank", username="csrf-victim"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    assert client.post("/account/password", data=body).status_code == 400
    assert _signed_in(app, "csrf-victim", PASSWORD).get("/api/v1/me").status_code == 200  # unchanged
    assert not _events(db, "user.password_changed")


# --- a disabled account -------------------------------------------------------------------------

def test_a_disabled_account_is_told_so_only_with_its_password(app: Any, db: Any, make_user: Any,
                                                             make_enterprise: Any, login: Any, client: Any) -> None:
    """The right password of a disabled account: 403 and 「已被停用」; a wrong one reads as any
    other failure (nobody learns the account exists or is disabled); the audit log names each
    refusal in words."""
    from tests.conftest import PASSWORD

    user = make_user("firm", enterprise=make_enterprise(), username="gone-firm")
    user.active = False
    db.flush()
    other = app.test_client()
    token = _token(other.get("/login").get_data(as_text=True))
    wrong = other.post("/login", data={"username": "gone-firm", "password": "wrong-password-1", "csrf_token": token})
    assert wrong.status_code == 422
    assert "用户名或密码错误" in wrong.get_data(as_text=True) and "停用" not in wrong.get_data(as_text=True)
    right = other.post("/login", data={"username": "gone-firm", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 403 and "该账号已被停用" in right.get_data(as_text=True)
    assert other.get("/api/v1/me").status_code == 401  # not signed in
    assert [e.code for e in _events(db, "session.sign_in")] == ["bad_credentials", "account_disabled"]
    login(make_user("operator"))
    page = client.get("/console/audit?action=session.sign_in").get_data(as_text=True)
    assert "用户名或密码错误" in page and "账号已停用" in page


def test_a_one_time_password_must_be_changed_before_anything_else(app: Any, client: Any, db: Any, login: Any,
                                                                  make_user: Any, make_enterprise: Any) -> None:
    """A password the operator read out is known to two people: its holder, once signed in,
    is kept on the change-password page (the API: 403 password_change_required) until they
    set their own, then sent on to where they were going; a user who chose their password
    is never held."""
    from app.accounts.services import get_user
    from tests.conftest import PASSWORD

    make_user("firm", enterprise=make_enterprise(), username="newcomer")
    make_user("firm", enterprise=make_enterprise(), username="settled")
    login(make_user("operator", username="resetter"))
    page = client.get("/console/users/newcomer").get_data(as_text=True)
    one_time = _one_time_password(client.post("/console/users/newcomer/password",
                                              data={"csrf_token": _token(page)}).get_data(as_text=True))
    assert get_user(db, "newcomer").must_change_password is True

    browser = app.test_client()
    token = _token(browser.get("/login").get_data(as_text=True))
    resp = browser.post("/login", data={"username": "newcomer", "password": one_time, "csrf_token": token,
                                        "next": "/consents"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/consents"
    held = browser.get("/consents")
    assert held.status_code == 302 and held.headers["Location"] == "/account/password?next=/consents"
    for path in ("/", "/me/reports", "/console/users"):
        assert browser.get(path).headers.get("Location", "").startswith("/account/password"), path
    api = browser.get("/api/v1/consents")
    assert api.status_code == 403 and api.get_json()["code"] == "password_change_required"
    assert api.headers["Content-Type"].startswith("application/problem+json")
    me = browser.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["must_change_password"] is True
    form = browser.get("/account/password?next=%2Fconsents").get_data(as_text=True)
    assert "一次性密码" in form and 'name="next" value="/consents"' in form
    resp = browser.post("/account/password", data={"csrf_token": _token(form), "next": "/consents",
                                                   "current_password": one_time, "new_password": "my-own-secret-27",
                                                   "confirm_password": "my-own-secret-27"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/consents"
    assert browser.get("/consents").status_code == 200
    db.expire_all()
    assert get_user(db, "newcomer").must_change_password is False
    assert browser.get("/api/v1/me").get_json()["must_change_password"] is False

    # Someone who chose their own password goes straight where they were going.
    settled = _signed_in(app, "settled", PASSWORD)
    assert settled.get("/consents").status_code == 200 and settled.get("/api/v1/consents").status_code == 200
    # A next that leaves the site is ignored after the change too.
    login(make_user("operator", username="resetter2"))
    page = client.get("/console/users/settled").get_data(as_text=True)
    one_time = _one_time_password(client.post("/console/users/settled/password",
                                              data={"csrf_token": _token(page)}).get_data(as_text=True))
    settled = _signed_in(app, "settled", one_time)
    form = settled.get("/account/password").get_data(as_text=True)
    resp = settled.post("/account/password", data={"csrf_token": _token(form), "next": "//evil.example/x",
                                                   "current_password": one_time, "new_password": "settled-again-27",
                                                   "confirm_password": "settled-again-27"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"



def test_the_password_page_says_every_fault_at_once(app: Any, client: Any, login: Any, make_user: Any,
                                                    make_enterprise: Any) -> None:
    from tests.conftest import PASSWORD

    login(make_user("firm", enterprise=make_enterprise(), username="hasty"))
    page = client.get("/account/password").get_data(as_text=True)
    resp = client.post("/account/password", data={"csrf_token": _token(page), "current_password": PASSWORD,
                                                  "new_password": "short", "confirm_password": "shorter"})
    body = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 422
    assert re.search(r'id="new_password-err" role="alert">至少 10 个字符', body)
    assert re.search(r'id="confirm_password-err" role="alert">两次输入的新密码不一致', body)


def test_while_a_password_is_to_be_changed_the_page_shows_no_role_bar(app: Any, client: Any, db: Any, login: Any,
                                                                       make_user: Any, make_enterprise: Any) -> None:
    make_user("firm", enterprise=make_enterprise(), username="barless")
    login(make_user("operator", username="resetter3"))
    page = client.get("/console/users/barless").get_data(as_text=True)
    body = client.post("/console/users/barless/password", data={"csrf_token": _token(page)}).get_data(as_text=True)
    assert "首次登录后须先设置自己的密码" in body and "「修改密码」页" not in body
    held = _signed_in(app, "barless", _one_time_password(body))
    form = held.get("/account/password").get_data(as_text=True)
    assert 'class="role-nav"' not in form and "一次性密码" in form
    resp = held.post("/account/password", data={"csrf_token": _token(form), "current_password":
                                                 _one_time_password(body), "new_password": "barless-own-2027",
                                                 "confirm_password": "barless-own-2027"})
    assert resp.status_code == 302
    home = held.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'class="role-nav"' in home and "密码已修改。" in home and "0 个" not in home
