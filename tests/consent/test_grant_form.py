"""The terms form (the firm's /consents/grant, the officer's /consents/request) as a new user
reads it: the sections the purpose may cover, those it reads ticked and why; the fetching
that suits the purpose by default, each choice explained; 「每 [个月] 至多 [10] 次」; the
required fields marked and, left empty, named next to them; of the power groups only the
firm's own."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from app.accounts.models import Institution
from app.accounts.services import create_institution, create_user
from app.archive.relations import Filer, file_relations
from app.oauth.scopes import REPORT_SECTIONS
from consent.models import Consent, FetchType, PeriodUnit, Purpose, terms_for
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of, refusals


def _institution(db: Any, kind: str, uscc: str | None = None, name: str | None = None) -> Institution:
    n = secrets.token_hex(4).upper()
    return create_institution(db, name=name or f"某{kind}单位{n}", licence_no=f"F{n}", kind=kind, uscc=uscc)


@pytest.fixture
def tenderer(db: Any) -> Institution:
    return _institution(db, "procurement", name=f"某集团电子商务采购平台{secrets.token_hex(3)}")


def _page(client: Any, licence_no: str) -> str:
    resp = client.get(f"/consents/grant?institution={licence_no}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1000]
    return resp.get_data(as_text=True)


def _boxes(html: str) -> dict[str, bool]:
    """The section checkboxes offered, and whether each is ticked."""
    return {m.group(1): "checked" in m.group(2)
            for m in re.finditer(r'<input type="checkbox" name="scopes" value="([^"]+)"([^>]*)>', html)}


def _checked_radio(html: str, name: str) -> list[str]:
    return re.findall(rf'<input type="radio" name="{name}" value="([^"]+)" checked', html)


def _selected(html: str, select: str) -> list[str]:
    block = re.search(rf'<select id="{select}" name="{select}".*?</select>', html, re.S)
    assert block, html[:2000]
    return re.findall(r'<option value="([^"]*)" selected', block.group())


def _value(html: str, name: str) -> str:
    m = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', html) or \
        re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', html)
    assert m, name
    return m.group(1)


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _form(html: str, licence_no: str, **changes: Any) -> dict[str, Any]:
    """The page's form as the browser would send it (its defaults), with ``changes``."""
    form: dict[str, Any] = {
        "csrf_token": csrf_of(html), "institution": licence_no, "purpose": _selected(html, "purpose")[0],
        "scopes": [k for k, ticked in _boxes(html).items() if ticked], "data_from": "2024-01-01",
        "data_to": dt.date.today().isoformat(), "valid_until": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
        "fetch_type": _checked_radio(html, "fetch_type")[0], "frequency_unit": (_selected(html, "frequency_unit")
                                                                                 or [""])[0],
        "frequency_value": _value(html, "frequency_value"), "data_life_unit": _selected(html, "data_life_unit")[0],
        "data_life_value": _value(html, "data_life_value")}
    form.update(changes)
    return form


# --- 1. the sections: those the purpose may cover, those it reads ticked, and why ---------------

def test_a_tenderer_is_offered_only_what_a_screening_reads_ticked_and_told_why(tenderer, firm, client, login) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    assert _boxes(html) == {"licence_penalty": True, "judicial": True}
    for absent in ("纳税信息", "信贷记录", "电费缴纳与用电", "查询记录"):
        assert absent not in _boxes(html) and f"> {absent}</label>" not in html
    assert "投标资格审查只用到「司法信息」" in _text(html) and "不能授予招标采购单位" in _text(html)


@pytest.mark.parametrize("extra", ["tax", "query_records", "evaluation"])
def test_the_grant_form_refuses_a_tenderer_more_sections(extra, tenderer, firm, client, login, db) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    resp = client.post("/consents/grant", data=_form(html, tenderer.licence_no, scopes=["judicial", extra]))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="scopes-err"' in page, page[:2000]
    assert f"不能包含「{REPORT_SECTIONS[extra]}」" in _text(page)
    assert _boxes(page) == {"licence_penalty": False, "judicial": True}  # what was sent, less what is not offered
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    assert [e.action for e in refusals(db, "scope_not_permitted")] == ["consent.grant"]


def test_a_lender_is_offered_every_section_none_ticked(bank, firm, client, login) -> None:
    login(firm.user)
    html = _page(client, bank.institution.licence_no)
    assert _boxes(html) == dict.fromkeys(REPORT_SECTIONS, False)
    assert "只授予其审查确实需要的部分" in _text(html)


def test_a_groups_form_ticks_what_its_dashboard_reads(firm, client, login, db, make_enterprise) -> None:
    parent = make_enterprise()
    file_relations(db, Filer(operator="test"), [{"parent_uscc": parent.uscc, "child_uscc": firm.enterprise.uscc,
                                                  "kind": "wholly_owned", "valid_from": "2020-01-01"}])
    group = _institution(db, "group", uscc=parent.uscc)
    login(firm.user)
    html = _page(client, group.licence_no)
    assert [k for k, ticked in _boxes(html).items() if ticked] == ["evaluation"] and len(_boxes(html)) == 18
    assert _checked_radio(html, "fetch_type") == ["periodic"]
    assert (_selected(html, "frequency_unit"), _value(html, "frequency_value")) == (["day"], "50")


# --- 3. fetching: the purpose's default, each choice explained -------------------------------------

def test_a_tenderers_consent_is_periodic_by_default_and_lasts_beyond_one_screening(tenderer, firm, client, login,
                                                                                    db) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    assert _checked_radio(html, "fetch_type") == ["periodic"]
    assert (_selected(html, "frequency_unit"), _value(html, "frequency_value")) == (["month"], "10")
    text = _text(html)
    assert "一次性：机构只能使用一次，用后即失效。" in text and "定期（限频）：有效期内可多次使用" in text
    assert "每筛查一次投标人就使用一次授权" in text and "第一次筛查后即用完" in text
    resp = client.post("/consents/grant", data=_form(html, tenderer.licence_no))  # the defaults, as they stand
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    granted = db.scalars(sa.select(Consent)).one()
    assert (granted.purpose, granted.scopes, granted.fetch_type) == (
        Purpose.bid_qualification, ["judicial", "licence_penalty"], FetchType.periodic)
    assert (granted.frequency_unit, granted.frequency_value) == (PeriodUnit.month, 10)


def test_a_lenders_form_starts_one_time_and_says_when_periodic_suits(bank, firm, client, login) -> None:
    login(firm.user)
    html = _page(client, bank.institution.licence_no)
    assert _checked_radio(html, "fetch_type") == ["one_time"] and _value(html, "frequency_value") == ""
    assert "贷后管理：在授权有效期内持续查看" in _text(html)
    assert terms_for(Purpose.post_loan_monitoring).fetch_type == FetchType.periodic


# --- 4. the frequency reads 每 [个月] 至多 [10] 次 ---------------------------------------------------

def test_the_frequency_reads_as_a_sentence(tenderer, firm, client, login) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    block = re.search(r"<legend>定期查询的频率.*?</fieldset>", html, re.S)
    assert block, html[:3000]
    order = [block.group().index(part) for part in
             ("<span>每</span>", 'id="frequency_unit"', "<span>至多</span>", 'id="frequency_value"', "<span>次</span>")]
    assert order == sorted(order)
    assert re.search(r"每 天 周 个月 年 至多 次", _text(block.group()))
    assert 'placeholder="至多次数"' not in html


# --- 2. required fields: marked, and named when left empty -----------------------------------------

def test_required_fields_are_marked(tenderer, firm, client, login) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    for field, label in (("data_from", "数据范围起"), ("data_to", "数据范围止"), ("valid_until", "授权截止日期")):
        assert re.search(rf'<label for="{field}">{label} <span class="muted">（必填）</span>', html), field
        assert re.search(rf'<input id="{field}" name="{field}"[^>]* required', html), field
    for legend in ("查询内容", "查询方式", "机构可保存数据的期限"):
        assert f"<legend>{legend} <span class=\"muted\">（必填）</span></legend>" in html
    assert "查询方式为定期时必填" in html


def test_missing_dates_are_named_next_to_their_fields(tenderer, firm, client, login, db) -> None:
    login(firm.user)
    html = _page(client, tenderer.licence_no)
    resp = client.post("/consents/grant", data=_form(html, tenderer.licence_no, data_from="", data_to="",
                                                     valid_until="", frequency_value=""))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for field, words in (("data_from", "数据范围起"), ("data_to", "数据范围止"), ("valid_until", "授权截止日期"),
                         ("frequency_value", "每个周期至多查询的次数")):
        err = re.search(rf'<p class="err" id="{field}-err" role="alert">([^<]*)</p>', page)
        assert err and words in err.group(1) and err.group(1).startswith("缺少必填字段："), (field, page[:3000])
        assert f'aria-describedby="{field}-err"' in page
    assert "缺少必填字段。" not in page  # never the bare message
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0


def test_the_officers_form_names_a_missing_date_too(bank, firm, client, login, db) -> None:
    officer = create_user(db, username=f"officer-{secrets.token_hex(3)}", password=PASSWORD, role="bank",
                          institution_licence=bank.institution.licence_no)
    login(officer)
    html = client.get(f"/consents/request?uscc={firm.enterprise.uscc}").get_data(as_text=True)
    assert re.search(r'<label for="data_from">数据范围起 <span class="muted">（必填）</span>', html)
    form = {"csrf_token": csrf_of(html), "uscc": firm.enterprise.uscc, "purpose": "loan_application",
            "scopes": ["identity"], "data_to": "2025-12-31", "valid_until": (dt.date.today() + dt.timedelta(days=30))
            .isoformat(), "fetch_type": "one_time", "data_life_unit": "month", "data_life_value": ""}
    page = client.post("/consents/request", data=form).get_data(as_text=True)
    assert re.search(r'id="data_from-err" role="alert">缺少必填字段：数据范围起', page), page[:3000]
    assert re.search(r'id="data_life_value-err" role="alert">缺少必填字段：机构可保存数据的期限', page)


# --- 5. of the power groups, only the firm's own ---------------------------------------------------

@pytest.fixture
def groups(db: Any, firm: Any, make_enterprise: Any) -> tuple[Institution, Institution]:
    """The firm's own power group (holding it through an intermediate firm) and another."""
    top, mid, other = make_enterprise(), make_enterprise(), make_enterprise()
    file_relations(db, Filer(operator="test"), [
        {"parent_uscc": top.uscc, "child_uscc": mid.uscc, "kind": "controlling", "share": "60",
         "valid_from": "2020-01-01"},
        {"parent_uscc": mid.uscc, "child_uscc": firm.enterprise.uscc, "kind": "wholly_owned",
         "valid_from": "2020-01-01"}])
    return (_institution(db, "group", uscc=top.uscc, name=f"本集团{secrets.token_hex(3)}"),
            _institution(db, "group", uscc=other.uscc, name=f"他集团{secrets.token_hex(3)}"))


def test_the_grant_page_offers_only_the_firms_own_groups(groups, bank, tenderer, firm, client, login) -> None:
    own, other = groups
    login(firm.user)
    first = client.get("/consents/grant").get_data(as_text=True)
    assert f'<option value="{own.licence_no}"' in first and own.name in first
    assert other.licence_no not in first and other.name not in first
    assert bank.institution.licence_no in first and tenderer.licence_no in first


def test_a_firm_in_no_group_is_offered_none(firm, client, login, db, make_enterprise) -> None:
    stranger = _institution(db, "group", uscc=make_enterprise().uscc)
    login(firm.user)
    first = client.get("/consents/grant").get_data(as_text=True)
    assert '<optgroup label="电力集团">' not in first and stranger.licence_no not in first


def test_another_group_named_all_the_same_is_refused(groups, firm, client, login, db) -> None:
    own, other = groups
    login(firm.user)
    resp = client.get(f"/consents/grant?institution={other.licence_no}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="institution-err"' in page and 'name="purpose"' not in page
    assert f"本企业不是「{other.name}」的子公司" in _text(page)
    own_page = _page(client, own.licence_no)
    posted = client.post("/consents/grant", data=_form(own_page, other.licence_no, scopes=["evaluation"]))
    assert posted.status_code == 422 and 'id="institution-err"' in posted.get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    assert [e.action for e in refusals(db, "validation_failed")] == ["consent.grant"]
    granted = client.post("/consents/grant", data=_form(own_page, own.licence_no))
    assert granted.status_code == 302, granted.get_data(as_text=True)[:2000]
    assert db.scalars(sa.select(Consent)).one().institution_id == own.id
