"""The marketplace pages: the same schemas and services as the API, errors next to their
field with the typed values kept, the application screen's consent statement, the bank's
review with a report pulled under the application's consent, and who may see what."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.oauth.scopes import REPORT_SECTIONS
from consent.models import Consent, QueryLog
from marketplace.applications import APPLICATION_SCOPES, CONSENT_DAYS
from marketplace.models import Application, Offer, Product
from reports.models import Report
from tests.marketplace.conftest import product_body


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def form_post(client, path, data, with_token=True):
    """A page's form as a browser submits it (CSRF token in the form, no header)."""
    page_token = client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    try:
        body = dict(data)
        if with_token:
            body["csrf_token"] = page_token
        return client.post(path, data=body)
    finally:
        if page_token is not None:
            client.environ_base["HTTP_X_CSRFTOKEN"] = page_token


@pytest.fixture
def live(publish):
    return publish(name="电力信用快贷", min_grade="AA")


def test_the_public_product_pool_lists_live_products_and_names_a_bad_filter(client, live, sign_in, officer):
    assert client.post("/api/v1/products", json=product_body(name="尚未上架的草稿")).status_code == 201
    anon = client.application.test_client()
    page = text(anon.get("/products"))
    assert "电力信用快贷" in page and "尚未上架的草稿" not in page
    detail = anon.get(f"/products/{live['product_no']}")
    assert detail.status_code == 200 and "登录" in text(detail)
    bad = anon.get("/products?amount=abc")
    assert bad.status_code == 422 and 'id="amount-err"' in text(bad) and "应为数字金额" in text(bad)


def test_the_application_screen_states_the_consent_and_applying_creates_exactly_one(client, db, live, sign_in,
                                                                                 graded_firm):
    ent, user = graded_firm("AA")
    sign_in(user)
    screen = client.get(f"/products/{live['product_no']}/apply")
    page = text(screen)
    assert screen.status_code == 200
    assert "贷款申请审查" in page and f"{CONSENT_DAYS} 日" in page and "测试银行股份有限公司" in page
    for scope in APPLICATION_SCOPES:
        assert REPORT_SECTIONS[scope] in page
    path = f"/products/{live['product_no']}/apply"
    # Not agreeing: refused, nothing created, the typed values kept.
    refused = form_post(client, path, {"amount": "600000", "term_months": "12", "purpose": "购置检修设备"})
    assert refused.status_code == 422
    assert "请阅读并勾选同意上述授权" in text(refused) and 'value="600000"' in text(refused)
    # An amount outside the product: the error next to the field.
    too_much = form_post(client, path, {"amount": "99000000", "term_months": "12", "purpose": "购置检修设备",
                                        "agree": "yes"})
    assert too_much.status_code == 422 and 'id="amount-err"' in text(too_much)
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.enterprise_id == ent.id)) == 0
    done = form_post(client, path, {"amount": "600000", "term_months": "12", "purpose": "购置检修设备", "agree": "yes"})
    assert done.status_code == 302
    app = db.scalar(sa.select(Application).where(Application.enterprise_id == ent.id))
    assert done.headers["Location"].endswith(f"/applications/{app.application_no}")
    consents = db.scalars(sa.select(Consent).where(Consent.enterprise_id == ent.id)).all()
    assert [c.id for c in consents] == [app.consent_pk] and str(consents[0].purpose) == "loan_application"
    assert "已提交" in text(client.get(done.headers["Location"]))
    # Now in progress: the firm's product list and the application screen point to it.
    mine = text(client.get("/me/marketplace"))
    assert "已有在办申请：" in mine and app.application_no in mine
    again = text(client.get(path))
    assert "已有该产品的在办申请" in again and app.application_no in again


def test_a_form_post_without_the_csrf_token_is_refused(client, db, live, sign_in, graded_firm):
    ent, user = graded_firm("AA")
    sign_in(user)
    resp = form_post(client, f"/products/{live['product_no']}/apply",
                     {"amount": "600000", "term_months": "12", "purpose": "x", "agree": "yes"}, with_token=False)
    assert resp.status_code == 400
    assert db.scalar(sa.select(sa.func.count()).select_from(Application).where(Application.enterprise_id == ent.id)) == 0


@pytest.fixture
def applied(client, live, sign_in, graded_firm):
    ent, user = graded_firm("AA")
    sign_in(user)
    resp = client.post("/api/v1/applications", json={"product_no": live["product_no"], "amount": "500000",
                                                     "term_months": 12, "purpose": "采购光伏组件"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["application_no"], ent, user


def test_the_bank_reviews_on_its_page_with_a_report_pulled_under_the_consent(client, db, applied, sign_in, officer):
    no, ent, user = applied
    sign_in(officer)
    page = text(client.get(f"/applications/{no}"))
    assert "开始审核" in page and "获取最新信用报告" in page and "尚未获取报告" in page
    pulled = form_post(client, f"/applications/{no}/report", {})
    assert pulled.status_code == 302
    report = db.scalar(sa.select(Report).where(Report.enterprise_id == ent.id))
    assert report.kind == "institution" and report.user_id == officer.id and report.client_pk is None
    assert sorted(report.sections) == sorted(APPLICATION_SCOPES)
    log = db.scalar(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id))
    assert log.user_id == officer.id and str(log.purpose) == "loan_application"
    assert db.scalar(sa.select(Consent.use_count).where(Consent.id == report.consent_pk)) == 1
    shown = text(client.get(f"/applications/{no}"))
    assert report.report_no in shown and ent.name in shown and "纳税信息" in shown
    # Showing it is a read, audited like the API's.
    reads = db.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == "report.read",
                                                          AuditEvent.subject_id == report.report_no)).all()
    assert {"format": "html", "uscc": ent.uscc} in reads
    # The firm sees the access in its query log.
    sign_in(user)
    assert "测试银行股份有限公司" in text(client.get("/consents"))


def test_steps_on_the_page_by_the_right_party_with_errors_next_to_the_field(client, db, applied, sign_in, officer):
    no, _, user = applied
    sign_in(user)
    assert form_post(client, f"/applications/{no}/step/review", {}).status_code == 403
    sign_in(officer)
    assert form_post(client, f"/applications/{no}/step/review", {}).status_code == 302
    bad = form_post(client, f"/applications/{no}/step/approve",
                    {"offered_amount": "400000", "offered_rate": "9.000", "offered_term_months": "12"})
    page = text(bad)
    assert bad.status_code == 422 and 'id="approve-offered_rate-err"' in page and 'value="9.000"' in page
    ok = form_post(client, f"/applications/{no}/step/approve",
                   {"offered_amount": "400000", "offered_rate": "4.350", "offered_term_months": "12"})
    assert ok.status_code == 302
    again = form_post(client, f"/applications/{no}/step/review", {})  # not from "approved"
    assert again.status_code == 409 and "不能开始审核" in text(again)
    reject = form_post(client, f"/applications/{no}/step/reject", {"reason": "x"})
    assert reject.status_code == 409
    sign_in(user)
    assert form_post(client, f"/applications/{no}/step/accept", {}).status_code == 302
    status = db.scalar(sa.select(Application.status).where(Application.application_no == no))
    assert str(status) == "accepted"


def test_another_bank_sees_nothing_and_cannot_pull(client, db, applied, sign_in, make_user):
    no, ent, _ = applied
    other = make_user("bank")
    sign_in(other)
    assert client.get(f"/applications/{no}").status_code == 404
    assert form_post(client, f"/applications/{no}/report", {}).status_code == 404
    assert client.post(f"/api/v1/applications/{no}/report").status_code == 404
    assert no not in text(client.get("/applications"))
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.enterprise_id == ent.id)) == 0


def test_the_officer_pull_api_and_its_refusals(client, db, applied, sign_in, officer):
    no, ent, user = applied
    sign_in(user)
    assert client.post(f"/api/v1/applications/{no}/report").status_code == 403  # the firm is not the bank
    sign_in(officer)
    resp = client.post(f"/api/v1/applications/{no}/report")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["report"]["subject"]["uscc"] == ent.uscc and body["report"]["kind"] == "institution"
    listed = client.get(f"/api/v1/applications/{no}/reports").get_json()
    assert [r["report_no"] for r in listed] == [body["report"]["report_no"]]
    # The firm revokes the consent: the bank's next pull is refused and audited.
    consent_id = db.scalar(sa.select(Consent.consent_id).join(Application, Application.consent_pk == Consent.id)
                           .where(Application.application_no == no))
    sign_in(user)
    assert client.post(f"/api/v1/consents/{consent_id}/revoke", json={}).status_code == 200
    sign_in(officer)
    refused = client.post(f"/api/v1/applications/{no}/report")
    assert refused.status_code == 403 and refused.get_json()["code"] == "consent_revoked"
    flash = client.get(form_post(client, f"/applications/{no}/report", {}).headers["Location"])
    assert "未能获取报告" in text(flash)
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.enterprise_id == ent.id)) == 1


def test_a_closed_application_pulls_nothing(client, db, applied, sign_in, officer):
    no, ent, user = applied
    sign_in(user)
    assert client.post(f"/api/v1/applications/{no}/withdraw", json={}).status_code == 200
    sign_in(officer)
    resp = client.post(f"/api/v1/applications/{no}/report")
    assert resp.status_code == 409 and resp.get_json()["code"] == "application_closed"
    assert "获取最新信用报告" not in text(client.get(f"/applications/{no}"))


def test_a_bank_creates_edits_and_publishes_a_product_on_its_pages(client, db, sign_in, officer, make_user):
    sign_in(officer)
    fields = {"name": "绿电快贷", "type": "credit_loan", "min_grade": "AA", "amount_min": "100000",
              "amount_max": "2000000", "rate_min": "3.200", "rate_max": "99", "term_min": "1", "term_max": "24",
              "repayment_methods": ["on_demand"], "collateral": "none", "segments": ["generation", "supplier"],
              "provinces": ["33"], "requirements.min_tax_grade": "B", "requirements.no_dishonest": "yes",
              "grade_terms.AAA.rate_discount": "0.300", "grade_terms.AAA.deposit_ratio": "0.1"}
    capped = form_post(client, "/bank/products/new", fields)
    assert capped.status_code == 422 and 'id="rate_max-err"' in text(capped) and "12.000%" in text(capped)
    assert 'value="绿电快贷"' in text(capped) and 'value="generation" checked' in text(capped)
    bad_terms = form_post(client, "/bank/products/new", {**fields, "rate_max": "5.5",
                                                          "grade_terms.AAA.deposit_ratio": "3"})
    assert bad_terms.status_code == 422 and 'id="grade_terms-AAA-deposit_ratio-err"' in text(bad_terms)
    assert db.scalar(sa.select(sa.func.count()).select_from(Product).where(Product.name == "绿电快贷")) == 0
    made = form_post(client, "/bank/products/new", {**fields, "rate_max": "5.5"})
    assert made.status_code == 302
    product = db.scalar(sa.select(Product).where(Product.name == "绿电快贷"))
    assert str(product.status) == "draft" and product.segments == ["generation", "supplier"]
    assert product.requirements == {"min_tax_grade": "B", "no_dishonest": True}
    assert product.grade_terms == {"AAA": {"rate_discount": "0.300", "deposit_ratio": "0.100"}}
    edit = client.get(f"/bank/products/{product.product_no}/edit")
    assert 'value="绿电快贷"' in text(edit) and 'name="requirements.no_dishonest" value="yes" checked' in text(edit)
    edited = form_post(client, f"/bank/products/{product.product_no}/edit", {**fields, "rate_max": "5.5",
                                                                             "name": "绿电快贷二期"})
    assert edited.status_code == 302
    assert form_post(client, f"/bank/products/{product.product_no}/status", {"status": "live"}).status_code == 302
    db.refresh(product)
    assert product.name == "绿电快贷二期" and str(product.status) == "live"
    assert "绿电快贷二期" in text(client.get("/products"))
    # Another bank may neither edit nor change it.
    sign_in(make_user("bank"))
    assert client.get(f"/bank/products/{product.product_no}/edit").status_code == 403
    assert form_post(client, f"/bank/products/{product.product_no}/edit", fields).status_code == 403
    assert form_post(client, f"/bank/products/{product.product_no}/status", {"status": "paused"}).status_code == 403
    db.refresh(product)
    assert product.name == "绿电快贷二期" and str(product.status) == "live"


def test_the_firms_page_matches_and_its_discoverable_switch(client, db, publish, sign_in, graded_firm):
    publish(name="AAA 专享贷", min_grade="AAA")
    publish(name="AA 普惠贷", min_grade="AA")
    ent, user = graded_firm("AA")
    sign_in(user)
    page = text(client.get("/me/marketplace"))
    eligible, near = page.split('id="near"')
    assert "AA 普惠贷" in eligible and "AAA 专享贷" not in eligible
    assert "AAA 专享贷" in near and "要求信用等级 AAA 及以上，当前 AA" in near
    assert "未开启" in page
    assert form_post(client, "/me/marketplace/discoverable", {"discoverable": "true"}).status_code == 302
    assert client.get("/api/v1/me/marketplace-profile").get_json() == {"discoverable": True}


def test_the_bank_offers_from_its_list_and_the_firm_accepts_on_its_page(client, db, publish, sign_in, officer,
                                                                      graded_firm):
    product = publish(min_grade="AA")
    ent, user = graded_firm("AA")
    hidden, _ = graded_firm("AAA")
    sign_in(user)
    assert client.put("/api/v1/me/marketplace-profile", json={"discoverable": True}).status_code == 200
    sign_in(officer)
    listing = text(client.get(f"/bank/products/{product['product_no']}/firms"))
    assert ent.uscc in listing and hidden.uscc not in listing
    path = f"/bank/products/{product['product_no']}/offer"
    assert ent.name in text(client.get(f"{path}?uscc={ent.uscc}"))
    until = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    hidden_try = form_post(client, path, {"uscc": hidden.uscc, "credit_limit": "800000", "rate": "4.000",
                                          "term_months": "12", "valid_until": until})
    assert hidden_try.status_code == 422 and "没有允许主动授信的该企业" in text(hidden_try)
    assert hidden.name not in text(hidden_try)
    sent = form_post(client, path, {"uscc": ent.uscc, "credit_limit": "800000", "rate": "4.000",
                                    "term_months": "12", "valid_until": until})
    assert sent.status_code == 302
    offer = db.scalar(sa.select(Offer).where(Offer.enterprise_id == ent.id))
    sign_in(user)
    page = text(client.get(f"/offers/{offer.offer_no}"))
    assert "接受邀约即授权该机构查询本企业信用报告" in page
    no_agree = form_post(client, f"/offers/{offer.offer_no}/accept", {"purpose": "补充流动资金"})
    assert no_agree.status_code == 422
    db.refresh(offer)
    assert str(offer.status) == "sent"
    accepted = form_post(client, f"/offers/{offer.offer_no}/accept", {"purpose": "补充流动资金", "agree": "yes"})
    assert accepted.status_code == 302 and "/applications/app_" in accepted.headers["Location"]
    db.refresh(offer)
    assert str(offer.status) == "accepted"
    assert form_post(client, f"/offers/{offer.offer_no}/decline", {}).status_code == 409


def test_the_stats_page_shows_the_apis_figures(client, applied, sign_in, officer):
    no, _, _ = applied
    sign_in(officer)
    api = client.get("/api/v1/marketplace/stats?by=bank").get_json()
    page = text(client.get("/marketplace/stats?by=bank"))
    assert f"<strong>{api['total']['applications']}</strong>" in page
    for group in api["groups"]:
        assert group["label"] in page
    assert "<svg" in page and "数据表" in page
    bad = client.get("/marketplace/stats?from=2026-13")
    assert bad.status_code == 422 and 'id="from-err"' in text(bad)


def test_every_marketplace_page_of_each_role_renders(client, applied, sign_in, officer, live):
    no, _, user = applied
    pages = {
        user: ["/me/marketplace", "/applications", f"/applications/{no}", "/offers", "/products",
               f"/products/{live['product_no']}", f"/products/{live['product_no']}/apply", "/marketplace/stats"],
        officer: ["/bank/products", "/bank/products/new", f"/bank/products/{live['product_no']}/edit",
                  f"/bank/products/{live['product_no']}/firms", f"/bank/products/{live['product_no']}/offer",
                  "/applications", f"/applications/{no}", "/offers", f"/products/{live['product_no']}"],
    }
    for who, paths in pages.items():
        sign_in(who)
        for path in paths:
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.status_code)
            assert re.search(r"<h1>", resp.get_data(as_text=True)), path
    sign_in(user)
    for path in ("/bank/products", "/bank/products/new", f"/bank/products/{live['product_no']}/firms"):
        assert client.get(path).status_code == 403, path


def test_a_rate_discount_reads_as_banks_state_it(client, publish):
    made = publish(name="等级优惠贷", grade_terms={"AAA": {"rate_discount": "0.300"}, "AA": {"rate_discount": "0.15"}})
    page = text(client.application.test_client().get(f"/products/{made['product_no']}"))
    assert "下浮 0.3 个百分点（30 个基点）" in page and "下浮 0.15 个百分点（15 个基点）" in page
    assert "0.300" not in page
