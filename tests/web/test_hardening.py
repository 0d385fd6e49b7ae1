"""Browser hardening: no page can be framed, scripts and styles only from this site, Secure
cookies behind TLS (tests/accounts/test_sessions.py), and the instance folder and the SQLite
database readable by their owner only."""

from __future__ import annotations

import os
import re
import stat

import pytest

from app.core.headers import CSP
from tests.consent.conftest import bank, firm  # noqa: F401 (fixtures)


@pytest.mark.parametrize("path", ["/", "/login", "/scorecards", "/oauth/authorize", "/api/v1/scorecards",
                                  "/no-such-page"])
def test_every_response_forbids_framing(client, path):
    resp = client.get(path)
    policy = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_the_consent_screen_cannot_be_framed_and_runs_no_inline_script(bank, firm, client, login):  # noqa: F811
    from tests.consent.conftest import pkce

    consent = bank.request_consent(firm.enterprise.uscc)
    login(firm.user)
    _, challenge = pkce()
    from urllib.parse import urlencode

    page = client.get("/oauth/authorize?" + urlencode(bank.authorize_params(consent["consent_id"], challenge)))
    assert page.status_code == 200 and page.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    html = page.get_data(as_text=True)
    assert "<script>" not in html and 'style="' not in html  # nothing the policy would block


def test_only_the_api_documentation_may_run_its_inline_boot_script(client):
    docs = client.get("/api/docs")
    assert "'unsafe-inline'" in docs.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]


def test_the_instance_folder_and_the_sqlite_database_are_the_owners_only(tmp_path):
    from app import create_app

    instance = tmp_path / "fresh" / "instance"
    database = instance / "powercredit.db"
    app = create_app({"instance_path": instance, "database_url": f"sqlite:///{database}", "testing": True})
    with app.extensions["pc_db"].engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (id INTEGER)")
    app.extensions["pc_db"].dispose()
    assert stat.S_IMODE(os.stat(instance).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(database).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(instance / "secret_key").st_mode) == 0o600


def test_no_page_needs_an_inline_handler_the_policy_would_block():
    """Confirmations are data attributes read by /static/confirm.js: no on…= handler anywhere."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    handlers = [f"{path.relative_to(root)}: {m.group(0)}"
                for folder in ("app", "reports", "marketplace", "consent")
                for path in (root / folder).rglob("*.html")
                for m in re.finditer(r"\son[a-z]+=", path.read_text("utf-8"))]
    assert handlers == []


def test_the_favicon_is_served_and_linked_from_every_page(client):
    with client.get("/favicon.ico") as resp:
        assert resp.status_code == 200 and resp.mimetype == "image/vnd.microsoft.icon"
        assert resp.get_data()[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
        assert "max-age=86400" in resp.headers["Cache-Control"]
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in page


def test_the_navigation_marks_the_firms_records_not_the_public_search(client, login, make_user, make_enterprise):
    ent = make_enterprise()
    login(make_user("firm", enterprise=ent))
    page = client.get(f"/enterprises/{ent.uscc}/records").get_data(as_text=True)
    current = re.findall(r'<a href="([^"]+)" aria-current="page">([^<]+)</a>', page)
    assert current == [(f"/enterprises/{ent.uscc}/records", "信用档案")]
    search = client.get("/enterprises?q=x").get_data(as_text=True)
    assert re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', search) == ["企业信用查询"]



def test_one_navigation_link_is_current_where_one_link_lies_under_another(client, db, login):
    """On /procurement/screenings/new only 新建筛查 is current, not 投标人信用筛查 too."""
    from tests.procurement.conftest import make_tender

    tender = make_tender(db, client)
    login(tender.user)
    current = r'<a href="[^"]+" aria-current="page">([^<]+)</a>'
    assert re.findall(current, client.get("/procurement/screenings/new").get_data(as_text=True)) == ["新建筛查"]
    assert re.findall(current, client.get("/procurement/screenings").get_data(as_text=True)) == ["投标人信用筛查"]
