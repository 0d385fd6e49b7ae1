"""The site in a real browser: Debian's Chromium driven by Playwright against the seeded
demo on a live HTTP port.  A firm signs in, downloads its PDF report and revokes a consent;
a bank creates a product and takes an application from the firm's consent screen to the
disbursement; the public searches a firm; pages fit 375 px; the keyboard reaches the content.
Screenshots of each step go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, expect

from consent.models import Consent, ConsentStatus
from marketplace.models import Application, ApplicationStatus
from tests.web.conftest import DemoSite, Shots, open_as


def demo_firm(site: DemoSite) -> tuple[str, str]:
    m = re.search(r"演示企业（账号 firm）：(.+?)，统一社会信用代码 (\w{18})", site.seed_output)
    assert m, site.seed_output
    return m.group(1), m.group(2)


def test_a_firm_signs_in_downloads_its_pdf_report_and_revokes_a_consent(demo_site: DemoSite, browser: Browser,
                                                                         tmp_path: Path) -> None:
    shots = Shots(demo_site.backend, "firm")
    name, uscc = demo_firm(demo_site)
    page = open_as(browser, demo_site, "firm")
    expect(page.locator("main h1")).to_have_text(name)
    expect(page.locator(".big-grade .grade")).to_have_text(re.compile(r"^(AAA|AA|A|BBB|BB|B|CCC|CC|C)$"))
    expect(page.get_by_role("heading", name="等级历史")).to_be_visible()
    shots.take(page, "home")

    page.locator("nav.role-nav").get_by_role("link", name="我的信用报告").click()
    remaining = page.locator("main").inner_text()
    left_before = int(re.search(r"剩余 (\d+) 次", remaining).group(1))  # type: ignore[union-attr]
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))  # it asks before spending a free report
    page.get_by_role("button", name="出具新的自主查询报告").click()
    expect(page.locator(".flash")).to_be_visible()
    assert asked and "使用一次本年度免费报告次数" in asked[0]
    expect(page.locator("main")).to_contain_text(f"剩余 {left_before - 1} 次")
    shots.take(page, "reports")
    with page.expect_download() as download:
        page.locator("main table a", has_text="PDF").first.click()
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert name in text and uscc in text

    page.locator("nav.role-nav").get_by_role("link", name="授权与查询记录").click()
    row = page.locator("main table tbody tr", has=page.locator("button[data-action=revoke]")).first
    # The id's first characters show; the whole is the link's title (and on the consent's page).
    consent_id = row.locator("a[title]").first.get_attribute("title")
    assert consent_id and row.locator("code").first.inner_text() == f"{consent_id[:10]}…"
    this_row = page.locator("main table tbody tr", has=page.locator(f'a[title="{consent_id}"]'))
    expect(row.locator("button[data-action=revoke]")).to_have_class("danger")
    # Dismissing the confirmation changes nothing …
    page.once("dialog", lambda d: d.dismiss())
    row.locator("button[data-action=revoke]").click()
    expect(this_row).not_to_contain_text("已撤销")
    # … accepting it revokes.
    page.once("dialog", lambda d: d.accept())
    this_row.locator("button[data-action=revoke]").click()
    expect(page.locator(".flash")).to_contain_text("已撤销")
    expect(this_row).to_contain_text("已撤销")
    shots.take(page, "consent-revoked")
    with demo_site.app.extensions["pc_db"].session() as s:
        assert s.scalar(sa.select(Consent.status).where(Consent.consent_id == consent_id)) == ConsentStatus.revoked
    page.context.close()


def test_a_bank_creates_a_product_and_takes_an_application_to_disbursement(demo_site: DemoSite,
                                                                            browser: Browser) -> None:
    shots = Shots(demo_site.backend, "bank")
    firm_name, _ = demo_firm(demo_site)
    product_name = f"浏览器测试信用贷{demo_site.backend}"
    bank = open_as(browser, demo_site, "bank")
    bank.locator("nav.role-nav").get_by_role("link", name="产品管理").click()
    bank.get_by_role("link", name="发布新产品").click()
    bank.fill("#name", product_name)
    bank.select_option("#min_grade", "AA")
    bank.fill("#amount_min", "100000")
    bank.fill("#amount_max", "50000")  # below the minimum: refused, the error next to the range
    bank.fill("#rate_min", "3.50")
    bank.fill("#rate_max", "6.00")
    bank.fill("#term_min", "6")
    bank.fill("#term_max", "36")
    bank.locator("input[name=repayment_methods]").first.check()
    bank.get_by_role("button", name="保存为草稿").click()
    expect(bank.locator("#amount_min-err")).to_have_text("金额下限不能高于上限。")
    expect(bank.locator("#amount_min")).to_have_attribute("aria-invalid", "true")
    expect(bank.locator("#name")).to_have_value(product_name)  # what was typed is kept
    expect(bank.locator("#rate_max")).to_have_value("6.00")
    shots.take(bank, "product-error")
    bank.fill("#amount_max", "3000000")
    bank.get_by_role("button", name="保存为草稿").click()
    expect(bank.locator("main h1")).to_have_text(product_name)
    bank.locator("main form", has=bank.locator("input[name=status][value=live]")).locator("button").click()
    expect(bank.locator(".flash")).to_be_visible()
    shots.take(bank, "product-live")

    firm = open_as(browser, demo_site, "firm")
    firm.goto("/products")
    firm.get_by_role("link", name=product_name).click()
    firm.get_by_role("link", name="申请该产品").click()
    notice = firm.locator("section.notice")
    expect(notice).to_contain_text("中国工商银行")  # the consent screen names the bank …
    expect(notice).to_contain_text("30")  # … how long
    expect(notice).to_contain_text("贷款")  # … and for what
    firm.fill("#amount", "500000")
    firm.fill("#term_months", "12")
    firm.fill("#purpose", "采购风机备品备件")
    firm.get_by_role("button", name="提交申请并授权").click()  # without ticking the consent
    expect(firm.locator("#agree-err")).to_be_visible()
    expect(firm.locator("#purpose")).to_have_value("采购风机备品备件")
    shots.take(firm, "consent-screen")
    firm.locator("input[name=agree]").check()
    firm.get_by_role("button", name="提交申请并授权").click()
    expect(firm.locator("main")).to_contain_text("已提交")
    application_no = firm.url.rstrip("/").rsplit("/", 1)[1]
    assert application_no.startswith("app_")
    shots.take(firm, "submitted")

    bank.goto(f"/applications/{application_no}")
    bank.locator("button[data-action=review]").click()
    expect(bank.locator("main dd .status")).to_have_text("审核中")
    bank.locator("#pull-report").click()
    expect(bank.locator("article.report-doc")).to_contain_text(firm_name)  # the report, inline
    shots.take(bank, "review-with-report")
    bank.locator("button[data-action=approve]").click()
    expect(bank.locator("main dd .status")).to_have_text("已批准")

    firm.reload()
    firm.locator("button[data-action=accept]").click()
    expect(firm.locator("main dd .status")).to_have_text("企业已接受")

    bank.reload()
    bank.locator("button[data-action=disburse]").click()
    expect(bank.locator("main dd .status")).to_have_text("已放款")
    timeline = bank.locator("ol.timeline")
    for step in ("审核中", "已批准", "企业已接受", "已放款"):
        expect(timeline).to_contain_text(step)
    shots.take(bank, "disbursed")

    with demo_site.app.extensions["pc_db"].session() as s:
        app = s.scalar(sa.select(Application).where(Application.application_no == application_no))
        assert app is not None and app.status == ApplicationStatus.disbursed
        assert app.consent.status == ConsentStatus.active and str(app.consent.purpose) == "loan_application"
    firm.goto("/consents")
    expect(firm.locator("main table tbody tr", has_text="贷款").first).to_be_visible()
    bank.context.close()
    firm.context.close()


def test_the_public_searches_a_firm(demo_site: DemoSite, browser: Browser) -> None:
    shots = Shots(demo_site.backend, "public")
    name, uscc = demo_firm(demo_site)
    page = open_as(browser, demo_site, None)
    page.goto("/")
    page.fill("#q", name[:4])
    page.locator("form.searchbar button").click()
    shots.take(page, "results")
    page.get_by_role("link", name=name).click()
    expect(page.locator("main h1")).to_have_text(name)
    expect(page.locator("main")).to_contain_text(uscc)
    expect(page.locator("#grade").locator("xpath=..").locator(".grade")).to_be_visible()
    assert "legal_rep" not in page.content() and "身份证" not in page.inner_text("main")
    shots.take(page, "profile")
    page.context.close()


PAGES_375 = {
    None: ["/", "/enterprises?q=电力", "/lists/watch", "/credit-index", "/products", "/marketplace/stats"],
    "firm": ["/", "/me/reports", "/consents", "/me/marketplace", "/applications", "/me/objections"],
    "bank": ["/", "/bank/products", "/bank/products/new", "/applications", "/bank/reports"],
    "operator": ["/", "/console/objections", "/console/ingestion", "/console/lists"],
}


@pytest.mark.parametrize("role", list(PAGES_375), ids=["public", "firm", "bank", "operator"])
def test_pages_are_readable_at_375_px(demo_site: DemoSite, browser: Browser, role: str | None) -> None:
    shots = Shots(demo_site.backend, f"375-{role or 'public'}")
    page = open_as(browser, demo_site, role, width=375)
    too_wide = []
    for path in PAGES_375[role]:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 375:
            too_wide.append(f"{path}: {width}px")
        shots.take(page, re.sub(r"[^a-z0-9]+", "-", path).strip("-") or "home")
    assert not too_wide, too_wide
    page.context.close()


def test_the_keyboard_reaches_the_content_and_the_navigation(demo_site: DemoSite, browser: Browser) -> None:
    page = open_as(browser, demo_site, "firm")
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#main$"), timeout=5000)  # the fragment is followed asynchronously
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    # From the top, Tab walks the navigation, and Enter follows a link.
    page.goto("/")
    names: list[str] = []
    while len(names) < 25 and "工作台" not in names:  # the public links, the user menu, then the role's
        page.keyboard.press("Tab")
        names.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "信用名单" in names and "工作台" in names
    assert names.index("信用名单") < names.index("工作台")
    page.goto("/")
    for _ in range(names.index("信用名单") + 1):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/lists")
    page.context.close()
