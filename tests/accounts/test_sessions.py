"""Sessions live on the server: signing out ends them (a cookie copied before is worthless),
a password change ends the other sessions, an operator disabling a user ends all of them,
and idle and absolute timeouts end them whatever the cookie says."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import time_machine
from click.testing import CliRunner

from app.accounts.models import UserSession
from app.core import clock
from tests.conftest import PASSWORD


def copy_cookie(app, source, name: str = "session"):  # noqa: ANN001, ANN201
    """Another browser holding the same session cookie (stolen, or copied by hand)."""
    other = app.test_client()
    cookie = source.get_cookie(name)
    assert cookie is not None
    other.set_cookie(name, cookie.value)
    return other


def test_a_cookie_copied_before_signing_out_is_refused_after(app, client, login, make_user, db):
    user = make_user("operator")
    login(user)
    thief = copy_cookie(app, client)
    assert thief.get("/api/v1/me").status_code == 200  # the same session, before sign-out
    assert client.post("/logout", data={"csrf_token": _token(client)}).status_code == 302
    assert client.get("/api/v1/me").status_code == 401
    assert thief.get("/api/v1/me").status_code == 401  # ended on the server, not just forgotten
    [row] = db.scalars(sa.select(UserSession).where(UserSession.user_id == user.id)).all()
    assert row.ended_reason == "logout" and row.ended_at is not None
    assert len(row.token_hash) == 64  # only the token's hash is stored


def _token(client) -> str:  # noqa: ANN001
    import re

    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return found.group(1) if found else client.environ_base.get("HTTP_X_CSRFTOKEN", "")


def test_a_password_change_ends_the_other_sessions(app, client, login, make_user):
    user = make_user("operator")
    login(user)
    other = app.test_client()
    _sign_in(other, user.username)
    assert other.get("/api/v1/me").status_code == 200
    sessions = client.get("/api/v1/me/sessions").get_json()["items"]
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    wrong = client.post("/api/v1/me/password", json={"current_password": "nope", "new_password": "x" * 12})
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["errors"]
    short = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and "new_password" in short.get_json()["errors"]
    done = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "a-new-passphrase"})
    assert done.status_code == 200 and done.get_json() == {"changed": True, "ended_sessions": 1}
    assert other.get("/api/v1/me").status_code == 401  # the other browser is signed out
    assert client.get("/api/v1/me").status_code == 200  # the one that changed it stays in


def test_a_password_change_needs_the_csrf_token(app, make_user):
    user = make_user("operator")
    browser = app.test_client()
    _sign_in(browser, user.username)
    refused = browser.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "x" * 12})
    assert refused.status_code == 400 and refused.get_json()["code"] == "csrf_failed"


def _sign_in(browser, username: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    import re

    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = browser.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def test_an_operator_disabling_a_user_ends_their_sessions(app, client, login, make_user, make_enterprise, db):
    firm_user = make_user("firm", make_enterprise())
    browser = app.test_client()
    _sign_in(browser, firm_user.username)
    assert browser.get("/api/v1/me").status_code == 200
    login(make_user("firm", make_enterprise()))
    assert client.post(f"/api/v1/users/{firm_user.username}/disable").status_code == 403  # not an operator
    client.get("/logout")
    operator = make_user("operator")
    login(operator)
    body = client.post(f"/api/v1/users/{firm_user.username}/disable").get_json()
    assert body == {"username": firm_user.username, "active": False, "ended_sessions": 1}
    assert browser.get("/api/v1/me").status_code == 401
    again = app.test_client()
    page = again.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = again.post("/login", data={"username": firm_user.username, "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 403 and "该账号已被停用" in refused.get_data(as_text=True)  # its own password
    assert again.get("/api/v1/me").status_code == 401
    assert client.post(f"/api/v1/users/{operator.username}/disable").get_json()["code"] == "cannot_disable_self"
    assert client.post("/api/v1/users/nobody/disable").status_code == 404
    assert client.post(f"/api/v1/users/{firm_user.username}/enable").get_json()["active"] is True
    _sign_in(again, firm_user.username)
    assert again.get("/api/v1/me").status_code == 200


def test_an_idle_session_ends_and_a_busy_one_ends_at_its_absolute_timeout(app, make_user):
    user = make_user("operator")
    browser = app.test_client()
    start = clock.now()
    with time_machine.travel(start, tick=False):
        _sign_in(browser, user.username)
    # Used every 20 minutes: never idle for 30 (the default), so it lasts until 12 hours.
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert browser.get("/api/v1/me").status_code == 200, minutes
    with time_machine.travel(start + dt.timedelta(hours=12), tick=False):
        assert browser.get("/api/v1/me").status_code == 401  # the absolute timeout
    idle = app.test_client()
    with time_machine.travel(start, tick=False):
        _sign_in(idle, user.username)
    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        assert idle.get("/api/v1/me").status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=29 + 30), tick=False):
        assert idle.get("/api/v1/me").status_code == 401  # 30 minutes without a request


def test_cookies_are_secure_behind_tls(database_url, tmp_path, make_user, db):
    from app import create_app

    secure = create_app({"database_url": database_url, "instance_path": tmp_path, "secret_key": "k" * 32,
                         "testing": True, "secure_cookies": True})
    secure.extensions["pc_db"].bind_to(db.connection())
    browser = secure.test_client()
    page = browser.get("/login", base_url="https://localhost")
    assert "Secure" in page.headers.get("Set-Cookie", "") and "HttpOnly" in page.headers.get("Set-Cookie", "")


def test_the_cli_resets_a_password_and_disables_a_user(fresh_databases, tmp_path, monkeypatch):
    import os

    from app.accounts.services import get_user
    from app.cli import main
    from app.core.db import Database

    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    assert runner.invoke(main, ["users", "add", "--username", "op1", "--role", "operator",
                                "--password", "a-long-password"]).exit_code == 0
    reset = runner.invoke(main, ["users", "set-password", "op1", "--password", "another-long-one"])
    assert reset.exit_code == 0 and "结束登录会话 0 个" in reset.output
    disabled = runner.invoke(main, ["users", "disable", "op1"])
    assert disabled.exit_code == 0 and "已停用 op1" in disabled.output
    missing = runner.invoke(main, ["users", "disable", "nobody"])
    assert missing.exit_code != 0 and "nobody" in missing.output
    # --temporary: a password handed over, to be changed at the next sign-in; without it, not.
    made = runner.invoke(main, ["users", "add", "--username", "op2", "--role", "operator",
                                "--password", "handed-over-2027", "--temporary"])
    assert made.exit_code == 0 and "首次登录须修改密码" in made.output
    reset = runner.invoke(main, ["users", "set-password", "op1", "--password", "handed-over-2028", "--temporary"])
    assert reset.exit_code == 0 and "下次登录须修改密码" in reset.output
    database = Database(os.environ["DATABASE_URL"])
    try:
        with database.transaction() as session:
            assert get_user(session, "op1").must_change_password and get_user(session, "op2").must_change_password
        again = runner.invoke(main, ["users", "set-password", "op1", "--password", "chosen-by-op1-2028"])
        assert again.exit_code == 0 and "须修改" not in again.output
        with database.transaction() as session:
            assert not get_user(session, "op1").must_change_password
    finally:
        database.dispose()


def test_sign_ins_sign_outs_and_password_changes_are_audited(app, client, login, make_user, db):
    from app.audit.models import AuditEvent

    user = make_user("operator")
    failed = app.test_client()
    page = failed.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    failed.post("/login", data={"username": user.username, "password": "wrong-password", "csrf_token": token})
    login(user)
    client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "a-new-passphrase"})
    client.post("/logout", data={"csrf_token": _token(client)})
    db.expire_all()
    events = [(e.action, e.outcome, e.code) for e in db.scalars(
        sa.select(AuditEvent).where(AuditEvent.subject_type == "user", AuditEvent.subject_id == user.username)
        .order_by(AuditEvent.id))]
    assert events == [("session.sign_in", "refused", "bad_credentials"), ("session.sign_in", "ok", None),
                      ("user.password_changed", "ok", None), ("session.sign_out", "ok", None)]


def test_a_browser_whose_session_ended_is_told_why_once(app, db, make_user, make_enterprise):
    """A session ended elsewhere (a password reset, an operator, idleness) sends the browser to
    sign in with the reason in words, once; signing out says nothing more than 已退出登录."""
    from app.accounts.models import User
    from app.accounts.services import end_user_sessions, get_user, reset_password

    make_user("firm", enterprise=make_enterprise(), username="ended-1")
    html = {"Accept": "text/html"}
    current = [PASSWORD]

    def browser_then(end, said: str) -> None:  # noqa: ANN001
        browser = app.test_client()
        _sign_in(browser, "ended-1", current[0])
        assert browser.get("/consents", headers=html).status_code == 200
        end()
        db.commit()
        resp = browser.get("/consents", headers=html)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
        assert said in browser.get(resp.headers["Location"]).get_data(as_text=True)
        assert said not in browser.get("/login").get_data(as_text=True)  # said once

    def reset() -> None:
        current[0] = reset_password(db, get_user(db, "ended-1"))[0]

    browser_then(reset, "密码已修改，此前的登录已结束")
    # (the handed-over password would hold the next browser on the change page: set as chosen)
    db.execute(sa.update(User).where(User.username == "ended-1").values(must_change_password=False))
    db.commit()
    browser_then(lambda: end_user_sessions(db, get_user(db, "ended-1")), "平台运营人员结束了您的登录")
    browser = app.test_client()
    _sign_in(browser, "ended-1", current[0])
    with time_machine.travel(clock.now() + dt.timedelta(hours=3), tick=False):
        resp = browser.get("/consents", headers=html)
        assert resp.status_code == 302
        assert "一段时间没有操作" in browser.get(resp.headers["Location"]).get_data(as_text=True)
        assert "一段时间没有操作" not in browser.get("/login").get_data(as_text=True)
    # Signing out oneself is 已退出登录, and nothing is said at the next sign-in.
    browser = app.test_client()
    _sign_in(browser, "ended-1", current[0])
    out = browser.post("/logout", data={"csrf_token": _token(browser)})
    assert out.status_code == 302
    page = browser.get("/login").get_data(as_text=True)
    assert "已退出登录" in page and not any(w in page for w in ("此前的登录已结束", "运营人员结束", "自动结束"))
