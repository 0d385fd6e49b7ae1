"""The pages: the firm's application and status, the operators' review queue and actions, the
results in their notice period with the objection form, the public profile; forms show errors
next to their field; who may open what."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine

from app.certificates import services
from app.core import clock
from tests.certificates.conftest import days, reload
from tests.consent.conftest import csrf_of
from tests.markup import unwrapped


def page(client: Any, path: str, status: int = 200) -> str:
    resp = client.get(path)
    assert resp.status_code == status, (path, resp.status_code, resp.get_data(as_text=True)[:400])
    return unwrapped(resp.get_data(as_text=True))


def post(client: Any, path: str, data: dict[str, str], form_page: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_of(page(client, form_page))})


def test_a_firm_applies_on_its_page_and_follows_it(client, db, make_enterprise, grade, firm_user, sign_in):
    ent = make_enterprise()
    grade(ent, "AA")
    sign_in(firm_user(ent))
    html = page(client, "/me/certificates")
    assert "申报信用等级证书" in html and "公示期 7 天" in html and "尚未申报" in html
    refused = post(client, "/me/certificates", {}, "/me/certificates")
    assert refused.status_code == 422 and "申报须作出承诺" in refused.get_data(as_text=True)
    done = post(client, "/me/certificates", {"declaration": "yes"}, "/me/certificates")
    assert done.status_code == 302
    number = re.search(r"/me/certificates/(PCC\w+)", done.headers["Location"]).group(1)
    detail = page(client, f"/me/certificates/{number}")
    assert "已申报" in detail and "撤回申报" in detail and "状态历史" in detail
    assert "已有进行中的申报" in page(client, "/me/certificates")  # the form gives way to the application
    again = post(client, "/me/certificates", {"declaration": "yes"}, "/me/certificates")
    assert again.status_code == 409 and "同一时间只能有一件申报" in again.get_data(as_text=True)
    out = post(client, f"/me/certificates/{number}/withdraw", {"reason": "补充材料"}, f"/me/certificates/{number}")
    assert out.status_code == 302 and "已撤回" in page(client, f"/me/certificates/{number}")


def test_an_ineligible_firm_reads_why_on_the_form(client, db, make_enterprise, grade, firm_user, sign_in):
    ent = make_enterprise()
    grade(ent, "NR")
    sign_in(firm_user(ent))
    resp = post(client, "/me/certificates", {"declaration": "yes"}, "/me/certificates")
    assert resp.status_code == 422 and "不予评级" in resp.get_data(as_text=True)


def test_the_firm_downloads_its_certificate_from_its_page(client, db, issued, sign_in):
    cert, _, user = issued("AAA")
    sign_in(user)
    html = page(client, "/me/certificates")
    assert "本企业的证书" in html and f"/api/v1/certificates/{cert.certificate_no}/pdf" in html
    assert "届满前 90 日内（2029-08-19 起）可申请换证" in html and 'name="declaration"' not in html
    assert client.get(f"/api/v1/certificates/{cert.certificate_no}/pdf").mimetype == "application/pdf"
    detail = page(client, f"/me/certificates/{cert.certificate_no}")
    assert "公开核验" in detail and cert.digest in detail and "撤回申报" not in detail


def test_an_operator_reviews_objections_and_issues_from_the_console(client, db, applied, publicized, person, operator,
                                                                     sign_in):
    waiting, _, _ = applied("A")
    cert, ent, _ = publicized("AA", days_ago=8)
    with time_machine.travel(clock.now() - days(7), tick=False):  # within the notice period
        o = services.object_to(db, person("bank"), cert.certificate_no, "请核查该企业的纳税记录")
    sign_in(operator)
    html = page(client, "/console/certificates")
    assert waiting.certificate_no in html and "待处理的异议" in html and o.objection_no in html
    assert cert.certificate_no in page(client, "/console/certificates?status=publicized")
    evaluated = post(client, f"/console/certificates/{waiting.certificate_no}/evaluate", {},
                     f"/console/certificates/{waiting.certificate_no}")
    assert evaluated.status_code == 302 and reload(db, waiting).status == "publicized"
    detail = page(client, f"/console/certificates/{cert.certificate_no}")
    assert "1 件待处理" in detail and "请核查该企业的纳税记录" in detail
    assert re.search(r'<button type="submit" disabled>发证</button>', detail)  # not while an objection is open
    blocked = post(client, f"/console/certificates/{cert.certificate_no}/issue", {}, f"/console/certificates/{cert.certificate_no}")
    assert blocked.status_code == 409 and "有待处理的异议" in blocked.get_data(as_text=True)
    missing = post(client, f"/console/certificate-objections/{o.objection_no}/resolve", {"outcome": "dismissed"},
                   f"/console/certificates/{cert.certificate_no}")
    assert missing.status_code == 422 and "缺少必填字段" in missing.get_data(as_text=True)
    resolved = post(client, f"/console/certificate-objections/{o.objection_no}/resolve",
                    {"outcome": "dismissed", "resolution": "纳税等级为税务机关公布的 A 级"},
                    f"/console/certificates/{cert.certificate_no}")
    assert resolved.status_code == 302
    issued = post(client, f"/console/certificates/{cert.certificate_no}/issue", {}, f"/console/certificates/{cert.certificate_no}")
    assert issued.status_code == 302 and reload(db, cert).status == "issued"
    empty = post(client, f"/console/certificates/{cert.certificate_no}/suspend", {"reason": ""},
                 f"/console/certificates/{cert.certificate_no}")
    body = empty.get_data(as_text=True)
    assert empty.status_code == 422 and 'id="suspend-reason-err"' in body and "缺少必填字段" in body
    revoked = post(client, f"/console/certificates/{cert.certificate_no}/revoke", {"reason": "企业注销登记"},
                   f"/console/certificates/{cert.certificate_no}")
    assert revoked.status_code == 302 and reload(db, cert).status == "revoked"
    assert "已是最终状态" in page(client, f"/console/certificates/{cert.certificate_no}")


def test_results_in_notice_are_public_and_people_signed_in_object_on_their_page(client, db, publicized, person,
                                                                                 sign_in):
    cert, ent, user = publicized("AA")
    listed = page(client, "/certificates/publicity")
    assert ent.name in listed and cert.certificate_no in listed
    anonymous = page(client, f"/certificates/publicity/{cert.certificate_no}")
    assert "请先" in anonymous and "登录" in anonymous and 'name="text"' not in anonymous
    sign_in(user)
    assert "不能对本企业的结果提出异议" in page(client, f"/certificates/publicity/{cert.certificate_no}")
    sign_in(person("tenderer"))
    path = f"/certificates/publicity/{cert.certificate_no}"
    empty = post(client, f"{path}/objections", {"text": "  "}, path)
    assert empty.status_code == 422 and 'id="text-err"' in empty.get_data(as_text=True)
    done = post(client, f"{path}/objections", {"text": "该企业在我单位招标中有串标记录"}, path)
    assert done.status_code == 302
    html = page(client, path)
    assert "我提出的异议" in html and "该企业在我单位招标中有串标记录" in html and "待处理" in html
    assert "您对该评价结果已有待处理的异议" in html and 'name="text"' not in html  # one open objection per person


def test_a_result_whose_notice_ended_is_listed_as_awaiting_issue_without_an_objection_link(
        client, db, publicized, person, sign_in):
    """Past its 公示 (an objection still open keeps it from issue), the result stays listed but
    is marked 「公示已结束，待发证」, and no longer invites an objection."""
    cert, ent, _ = publicized("AA")
    sign_in(person("tenderer"))

    def row() -> str:
        [found] = [r for r in re.findall(r"<tr>(.*?)</tr>", page(client, "/certificates/publicity"), re.S)
                   if cert.certificate_no in r]
        return found

    assert "与提出异议" in row() and "公示已结束" not in row()
    with time_machine.travel(cert.notice_until + dt.timedelta(seconds=1), tick=False):
        assert "公示已结束，待发证" in row() and "与提出异议" not in row()
        assert 'name="text"' not in page(client, f"/certificates/publicity/{cert.certificate_no}")


def test_the_public_profile_lists_the_firms_certificates(client, db, issued, operator):
    cert, ent, _ = issued("AA")
    html = page(client, f"/enterprises/{ent.uscc}")
    assert "信用等级证书" in html and cert.certificate_no in html and "有效" in html and "2029-11-17" in html
    services.suspend(db, operator, cert.certificate_no, "核查中")
    html = page(client, f"/enterprises/{ent.uscc}")
    assert "暂停" in html and "核查中" in html


@pytest.mark.parametrize("role", ["bank", "tenderer", "firm"])
def test_the_console_is_for_operators(client, db, person, make_enterprise, grade, firm_user, sign_in, role):
    if role == "firm":
        ent = make_enterprise()
        who = firm_user(ent)
    else:
        who = person(role)
    sign_in(who)
    assert client.get("/console/certificates").status_code == 403
    if role != "firm":
        assert client.get("/me/certificates").status_code == 403


def test_anonymous_visitors_are_asked_to_sign_in(client, db):
    for path in ("/me/certificates", "/console/certificates"):
        assert client.get(path).status_code in (302, 401), path
    assert client.get("/certificates/publicity").status_code == 200
    assert client.get("/certificates/verify").status_code == 200
    assert client.get("/certificates/publicity/PCC2026AAAAAAAAAAAA").status_code == 404


@pytest.mark.parametrize("end", ["upheld", "withdrawn"])
def test_the_objector_and_the_firm_see_how_a_result_ended_the_public_does_not(client, db, publicized, person, operator,
                                                                              make_enterprise, grade, firm_user, sign_in,
                                                                              end):
    """Rejected (an objection upheld) or withdrawn, a result is no longer public: the publicity
    page, like verification, is 404 to everyone else. Whoever objected, the firm and operators
    still open it and read the outcome (the reason only for the firm and operators: it may be
    another objector's resolution)."""
    cert, ent, user = publicized("AA")
    path = f"/certificates/publicity/{cert.certificate_no}"
    objector, bystander = person("bank"), person("tenderer")
    o = services.object_to(db, objector, cert.certificate_no, "该企业有未结清的电费欠费")
    if end == "upheld":
        services.resolve_objection(db, operator, o.objection_no, "upheld", "经核查属实，欠费 3 个月")
        outcome = "未通过，不予发证"
    else:
        services.withdraw(db, user, cert.certificate_no, "材料需补充")
        outcome = "企业已撤回申报"
    reason = reload(db, cert).status_reason

    assert client.get(path).status_code == 404  # anonymous
    assert client.get(f"/verify/{cert.certificate_no}?format=json").status_code == 404
    assert cert.certificate_no not in page(client, "/certificates/publicity")
    sign_in(bystander)
    assert client.get(path).status_code == 404

    sign_in(objector)
    html = page(client, path)
    assert outcome in html and "该评价结果已不再公示" in html and 'name="text"' not in html
    assert "我提出的异议" in html and "该企业有未结清的电费欠费" in html
    if end == "upheld":
        assert "异议成立" in html and "处理说明：经核查属实，欠费 3 个月" in html
    else:  # ended with the application, not judged: never 「异议不成立」
        assert "已终结（企业撤回申报）" in html and "撤回申报，异议随之终结，未作核查结论" in html
        assert "异议不成立" not in html and "处理说明" not in html
    assert reason not in html  # the result's own reason is the firm's and operators'
    mine = client.get(f"/api/v1/certificate-objections/{o.objection_no}").get_json()
    assert (mine["status"], mine["status_label"]) == (
        ("upheld", "异议成立") if end == "upheld" else ("closed", "已终结（企业撤回申报）"))
    assert (mine["certificate_status"], mine["certificate_status_label"]) == (
        ("rejected", "未通过") if end == "upheld" else ("withdrawn", "已撤回"))
    listed = client.get("/api/v1/certificate-objections").get_json()["items"]
    assert [i["certificate_status"] for i in listed] == [mine["certificate_status"]]

    sign_in(user)
    html = page(client, path)
    assert outcome in html and reason in html and f"/me/certificates/{cert.certificate_no}" in html
    sign_in(operator)
    assert reason in page(client, path)
    console = page(client, f"/console/certificates/{cert.certificate_no}")
    if end == "withdrawn":
        assert "<strong>已终结（企业撤回申报）</strong>" in console and "异议不成立" not in console.split('id="objections"')[1].split("</section>")[0]
    closed = client.get("/api/v1/certificate-objections", query_string={"status": "closed"}).get_json()["items"]
    assert [i["objection_no"] for i in closed] == ([o.objection_no] if end == "withdrawn" else [])


def test_an_application_never_published_has_no_publicity_page_even_for_its_firm(client, db, applied, sign_in):
    cert, _, user = applied("AA")
    sign_in(user)
    assert client.get(f"/certificates/publicity/{cert.certificate_no}").status_code == 404


def test_the_operators_note_is_kept_and_shown_in_the_history(client, db, applied, publicized, operator, sign_in):
    waiting, _, user = applied("AA")
    cert, _, _ = publicized("AA", days_ago=8)
    sign_in(operator)
    path = f"/console/certificates/{waiting.certificate_no}"
    done = post(client, f"{path}/evaluate", {"note": "材料齐全，按当前等级公示"}, path)
    assert done.status_code == 302 and reload(db, waiting).status == "publicized"
    assert "说明：材料齐全，按当前等级公示" in page(client, path)
    other = f"/console/certificates/{cert.certificate_no}"
    done = post(client, f"{other}/issue", {"note": "<b>核对无误</b>"}, other)
    assert done.status_code == 302 and reload(db, cert).status == "issued"
    html = page(client, other)
    assert "说明：&lt;b&gt;核对无误&lt;/b&gt;" in html  # escaped, as all typed text
    blank = post(client, f"{other}/issue", {"note": ""}, other)  # an empty note is none (and issuing twice a 409)
    assert blank.status_code == 409
    sign_in(user)
    assert "说明：材料齐全，按当前等级公示" in page(client, f"/me/certificates/{waiting.certificate_no}")


def test_the_console_names_who_made_each_change(client, db, make_enterprise, grade, keys, make_user, sign_in):
    """People by display name and role, the daily job as the system: never 「user:…」 or 「job:…」."""
    from app.accounts.services import create_user
    from tests.conftest import PASSWORD

    ent = make_enterprise()
    grade(ent, "AA")
    firm = create_user(db, username="firm-91330102mat0n2ek3f", password=PASSWORD, role="firm",
                       enterprise_uscc=ent.uscc, display_name="李华")
    operator = create_user(db, username="sme2", password=PASSWORD, role="operator", display_name="王敏")
    with time_machine.travel(clock.now() - days(8), tick=False):
        cert = services.apply(db, firm)
        services.evaluate(db, cert.certificate_no, services.actor_of(operator))
    services.issue(db, keys, cert.certificate_no, "job:certificates.advance")
    services.grades_changed(db, [{"enterprise_id": ent.id, "new_grade": "BBB"}])  # suspended by the rule
    sign_in(operator)
    html = page(client, f"/console/certificates/{cert.certificate_no}")
    history = html.split("<caption>状态历史</caption>", 1)[1]
    for who in ("李华（企业）", "王敏（征信机构）", "系统（每日任务）", "系统（信用等级变化）"):
        assert f"<td>{who}</td>" in history, who
    assert "user:" not in history and "job:" not in history and "system:" not in history
    events = client.get(f"/api/v1/certificates/{cert.certificate_no}/history").get_json()["events"]
    assert [(e["actor"], e["actor_label"]) for e in events] == [
        ("user:firm-91330102mat0n2ek3f", "李华（企业）"), ("user:sme2", "王敏（征信机构）"),
        ("job:certificates.advance", "系统（每日任务）"), ("system:grade", "系统（信用等级变化）")]
    assert services.actor_labels(db, ["user:nobody-here", "system:black_list", "cli", "client:bank-1", "system"]) == {
        "user:nobody-here": "用户 nobody-here", "system:black_list": "系统（列入黑名单）",
        "cli": "系统（命令行手动运行每日任务）", "client:bank-1": "机构系统（接口）", "system": "系统"}


@pytest.mark.parametrize(("schedule", "said"), [
    (None, "系统每天 00:15（北京时间）自动处理"),
    ("30 1 * * *", "系统每天 01:30（北京时间）自动处理"),
    ("0 */6 * * *", "系统按运维设定的时间自动处理"),
    ("", "系统每日的自动处理（到期、复核、公示期满发证）目前未开启"),
])
def test_the_console_words_the_rule_and_the_daily_work_for_an_operator(client, app, db, operator, sign_in,
                                                                        monkeypatch, schedule, said):
    """No configuration or job names as headlines: the rule's name only as a muted hint."""
    import dataclasses

    if schedule is not None:
        now = app.extensions["pc_settings"]
        monkeypatch.setitem(app.extensions, "pc_settings",
                            dataclasses.replace(now, job_schedule={"certificates.advance": schedule}))
    sign_in(operator)
    html = page(client, "/console/certificates")
    assert "<summary>现行证书规则</summary>" in html and "公示期 7 天" in html
    assert said in html
    assert "certificates.advance" not in html and "powercredit" not in html
    assert html.count("PC_CERTIFICATE_RULES") == 1 and '<p class="muted">规则由平台运维配置（配置项 PC_CERTIFICATE_RULES）' in html


def test_the_firms_list_gives_a_notice_period_only_while_the_result_is_in_it(client, db, publicized, person, operator,
                                                                             sign_in):
    """Rejected during its notice (an objection upheld), a result was never valid and its notice
    was cut short: 「—」, not a period it did not run."""
    cert, _, user = publicized("AA")
    sign_in(user)
    def row() -> str:
        [found] = [r for r in re.findall(r"<tr>(.*?)</tr>", page(client, "/me/certificates"), re.S)
                   if cert.certificate_no in r]
        return found

    assert "公示 2026-11-18" in row() and "至 2026-11-24 23:59" in row()
    o = services.object_to(db, person("bank"), cert.certificate_no, "有异议")
    services.resolve_objection(db, operator, o.objection_no, "upheld", "经核查属实")
    rejected = row()
    assert "未通过" in rejected and "公示" not in rejected and rejected.rstrip().endswith("<td>—</td>"), rejected
