"""What a person reads (#28, second trial): no raw identifiers, field paths or English where
words belong — an error page names the field in Chinese, a session's browser is named, the
operator's seventeen pages sit in four menus, the public is not told to run a command, a
firm sent by a bank's link is told why it must sign in."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest

from app.accounts.agents import describe_agent
from tests.web.conftest import DEMO_PASSWORD, DemoSite


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize(("agent", "said"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36", "Chrome 120 · Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Edg/120.0.2210.61", "Edge 120 · Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "Safari 17 · iPhone"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121 · Linux"),
    ("Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.0.0 Mobile "
     "Safari/537.36 MicroMessenger/8.0.44", "微信 8 · Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
     "Safari/605.1.15", "Safari 17 · macOS"),
    ("curl/8.5.0", "程序：curl 8.5.0"),
    ("python-requests/2.31.0", "程序：Python requests 2.31.0"),
    (None, "—"),
    ("", "—"),
    ("SomeScanner", "SomeScanner"),
    ("x" * 60, "x" * 39 + "…"),
])
def test_a_sessions_browser_is_named_in_a_few_words(agent: str | None, said: str) -> None:
    assert describe_agent(agent) == said


def test_an_error_page_names_the_field_in_words(demo_site: DemoSite) -> None:
    operator = demo_site.client("operator")
    resp = operator.get("/console/ingestion?page=abc", headers={"Accept": "text/html"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "页码（page）" in _text(page) and "query.page" not in page
    # A page that shows its filters again says what is wrong with a value it has no box for.
    resp = demo_site.client(None).get("/products?page=abc", headers={"Accept": "text/html"})
    assert resp.status_code == 422 and "页码（page）：" in _text(resp.get_data(as_text=True))


def test_the_operators_pages_sit_in_four_menus(demo_site: DemoSite) -> None:
    operator = demo_site.client("operator")
    page = operator.get("/console/audit").get_data(as_text=True)
    nav = page.split('class="role-nav"', 1)[1].split("</nav>", 1)[0]
    menus = re.findall(r'<details class="menu">\s*<summary( class="current")?>([^<]+)', nav)
    assert [m[1] for m in menus] == ["待办", "数据与评价", "监管", "机构与业务"]
    assert [bool(m[0]) for m in menus] == [False, False, True, False]  # 审计日志 is under 监管
    links = re.findall(r'<a href="([^"]+)"', nav)
    assert len(links) == 17 and len(set(links)) == 17
    assert "/console/users" in links and "/console/supervision" in links
    for path in links:
        assert operator.get(path).status_code == 200, path


@pytest.mark.parametrize("role", ["firm", "bank", "group", "operator"])
def test_no_navigation_says_webhook_in_english(demo_site: DemoSite, role: str) -> None:
    page = demo_site.client(role).get("/", follow_redirects=True).get_data(as_text=True)
    nav = page.split('class="role-nav"', 1)[1].split("</nav>", 1)[0]
    assert "Webhook" not in nav and "预警推送" in nav


def test_the_audit_page_says_what_it_guarantees_before_how(demo_site: DemoSite) -> None:
    page = demo_site.client("operator").get("/console/audit").get_data(as_text=True)
    intro, technical = page.split("<summary>技术说明</summary>", 1)
    assert "事后任何改写或删除" in intro and "RFC 9162" not in intro and "RFC 9162" in technical


def test_the_public_profile_and_the_batches_show_no_internal_numbers(demo_site: DemoSite) -> None:
    public = demo_site.client(None)
    listed = public.get("/lists/red").get_data(as_text=True)
    uscc = re.search(r'href="/enterprises/(\w{18})"', listed).group(1)  # type: ignore[union-attr]
    profiles = [public.get(f"/enterprises/{code}").get_data(as_text=True)
                for code in dict.fromkeys(re.findall(r'href="/enterprises/(\w{18})"', listed))]
    assert uscc and any("信用承诺" in p and "签署" in p for p in profiles)
    assert not any(re.search(r"cmt_\w+", p) for p in profiles)
    batches = demo_site.client("operator").get("/console/ingestion").get_data(as_text=True)
    assert "demo-seed" not in batches and "演示数据" in batches
    assert not re.search(r">[^<]*obj_\w+", batches)  # an objection's number only in a link's address and title
    assert re.search(r'异议更正（<a href="/console/objections/obj_\w+" title="obj_\w+">查看异议</a>）', batches)


def test_the_verification_page_does_not_send_the_public_to_a_command(demo_site: DemoSite) -> None:
    public = demo_site.client(None)
    page = public.get("/verify").get_data(as_text=True)
    assert "powercredit verify" not in page and "输入上面印的编号与摘要" in _text(page)
    anchor = re.search(r'href="/docs/integration#([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert f'id="{anchor}"' in public.get("/docs/integration").get_data(as_text=True)


def test_a_firm_sent_by_a_banks_link_is_told_why_it_must_sign_in(demo_site: DemoSite) -> None:
    client_id = re.search(r"金融机构 \S+ 客户端：client_id=(\S+)", demo_site.seed_output).group(1)  # type: ignore[union-attr]
    waiting = re.search(r"(cst_\w+)（待企业确认", demo_site.seed_output).group(1)  # type: ignore[union-attr]

    def sign_in_page(**params: str) -> str:
        browser = demo_site.client(None)
        resp = browser.get("/oauth/authorize?" + urlencode({"response_type": "code", **params}))
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
        return _text(browser.get(resp.headers["Location"]).get_data(as_text=True))

    login = sign_in_page(client_id=client_id, consent_id=waiting)
    assert "请求您的企业授权" in login and "由您决定同意或拒绝" in login
    bank = re.search(r"「([^」]+)」请求您的企业授权", login).group(1)  # type: ignore[union-attr]
    assert bank.endswith(("分行", "公司", "银行")) and bank != "一家机构"
    # The institution is named only for a consent this client asked for and that waits: not
    # for a bare client id, nor for words put in the address.
    assert "「一家机构」请求您的企业授权" in sign_in_page(client_id=client_id)
    assert "「一家机构」请求您的企业授权" in sign_in_page(client_id=client_id, consent_id="cst_nosuchconsent")
    login = sign_in_page(client_id="中国人民银行总行", consent_id=waiting)
    assert "「一家机构」请求您的企业授权" in login and "中国人民银行总行」" not in login


def test_a_capped_grade_is_marked_where_firms_are_ordered_by_score(demo_site: DemoSite) -> None:
    operator = demo_site.client("operator")
    page = operator.get("/console/supervision?class=D").get_data(as_text=True)
    assert "封顶" in page and re.search(r"封顶（原 (AAA|AA|A|BBB|BB|B|CCC|CC)）", page)


def test_session_browsers_are_named_on_a_users_page(demo_site: DemoSite) -> None:
    operator = demo_site.client("operator")
    other = demo_site.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    other.post("/login", data={"username": "bank", "password": DEMO_PASSWORD, "csrf_token": token},
               headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"})
    page = operator.get("/console/users/bank").get_data(as_text=True)
    assert "Firefox 121 · Linux" in page and 'title="Mozilla/5.0 (X11' in page


def _authorize_url(demo_site: DemoSite) -> str:
    client_id = re.search(r"金融机构 \S+ 客户端：client_id=(\S+)", demo_site.seed_output).group(1)  # type: ignore[union-attr]
    return "/oauth/authorize?" + urlencode({"response_type": "code", "client_id": client_id})


def test_the_reason_to_sign_in_stays_after_a_wrong_password(demo_site: DemoSite) -> None:
    browser = demo_site.client(None)
    login = browser.get(_authorize_url(demo_site)).headers["Location"]
    page = browser.get(login).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    nxt = re.search(r'name="next" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    wrong = browser.post("/login", data={"username": "firm", "password": "not-the-password", "csrf_token": token,
                                         "next": html.unescape(nxt)})
    text = _text(wrong.get_data(as_text=True))
    assert wrong.status_code == 422 and "用户名或密码错误" in text and "请求您的企业授权" in text
    # Another page's sign-in does not borrow it.
    assert "请求您的企业授权" not in _text(browser.get("/login?next=/consents").get_data(as_text=True))


def test_a_bank_officer_on_a_firms_link_is_told_whose_account_it_needs(demo_site: DemoSite) -> None:
    from tests.consent.conftest import pkce

    seed = demo_site.seed_output
    client_id, callback = re.search(r"金融机构 \S+ 客户端：client_id=(\S+) client_secret=\S+ 回调=(\S+)",  # type: ignore[union-attr]
                                    seed).groups()
    consent_id = re.search(r"(cst_\w+)（待企业确认", seed).group(1)  # type: ignore[union-attr]
    _, challenge = pkce()
    link = "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "state": "st-1",
        "code_challenge": challenge, "code_challenge_method": "S256", "consent_id": consent_id})
    bank = demo_site.client("bank")
    resp = bank.get(link)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 403 and "须以企业账号处理" in _text(page) and "银行信贷经理" in _text(page)
    assert "退出并以企业账号登录" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    nxt = html.unescape(re.search(r'name="next" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    out = bank.post("/logout", data={"csrf_token": token, "next": nxt})
    assert out.status_code == 302 and out.headers["Location"].startswith("/login?next=/oauth/authorize?response_type")
    # A next leaving the site is not followed.
    bank = demo_site.client("bank")
    token = re.search(r'name="csrf_token" value="([^"]+)"',  # type: ignore[union-attr]
                      bank.get("/consents").get_data(as_text=True)).group(1)
    assert bank.post("/logout", data={"csrf_token": token, "next": "//evil.example/"}).headers["Location"] == "/"


def test_the_firms_home_puts_what_to_act_on_before_the_factors(demo_site: DemoSite) -> None:
    firm = demo_site.client("firm")
    home = firm.get("/").get_data(as_text=True)
    assert home.index('class="tiles"') < home.index('id="why-h"') < home.index("等级历史")
    waiting = re.search(r"待确认 <strong>(\d+)</strong>", home).group(1)  # type: ignore[union-attr]
    assert waiting != "0" and f"答复 {waiting} 项授权申请" in home and 'href="/consents?status=PENDING"' in home
    listing = firm.get("/consents").get_data(as_text=True)
    rows = re.findall(r"<tr( class=\"waiting\")?>\s*<td class=\"nowrap\" data-label=\"授权编号\">", listing)
    assert rows and all(rows[: int(waiting)]) and not any(rows[int(waiting):])  # waiting ones first, marked
    reports = firm.get("/me/reports").get_data(as_text=True)
    assert re.search(r'<code class="hash">[0-9a-f]{64}</code>', reports)  # the whole digest, to copy
