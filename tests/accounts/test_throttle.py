"""Sign-in throttling per account (beside the form's per-address limit): a guesser at one
address is held back after 5 failures, a guesser spread over many after 20 — but never the
account's own people at an address they use, and every hold expires."""

from __future__ import annotations

import datetime as dt
import re

import time_machine

from app.core import clock
from tests.conftest import PASSWORD


def attempt(app, username: str, password: str, address: str = "198.51.100.7"):  # noqa: ANN001, ANN201
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_five_failures_from_one_address_hold_that_address_back(app, make_user):
    user = make_user("operator")
    start = clock.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert attempt(app, user.username, "wrong-password").status_code == 422
        held = attempt(app, user.username, PASSWORD)  # even the right password, from there
        assert held.status_code == 429 and 0 < int(held.headers["Retry-After"]) <= 15 * 60
        assert "登录失败次数过多" in held.get_data(as_text=True)
        assert attempt(app, user.username, PASSWORD, address="203.0.113.9").status_code == 302  # elsewhere: fine
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        assert attempt(app, user.username, PASSWORD).status_code == 302  # the hold expired


def test_a_success_clears_its_address(app, make_user):
    user = make_user("operator")
    for _ in range(4):
        attempt(app, user.username, "wrong-password")
    assert attempt(app, user.username, PASSWORD).status_code == 302
    for _ in range(4):
        assert attempt(app, user.username, "wrong-password").status_code == 422  # counting from zero again


def test_a_spread_out_guesser_cannot_lock_out_the_accounts_own_addresses(app, make_user):
    user = make_user("operator")
    office = "192.0.2.10"
    assert attempt(app, user.username, PASSWORD, address=office).status_code == 302  # the firm's usual address
    for n in range(20):
        attempt(app, user.username, "wrong-password", address=f"198.51.100.{n + 1}")
    stranger = attempt(app, user.username, PASSWORD, address="203.0.113.50")
    assert stranger.status_code == 429  # new addresses wait
    assert attempt(app, user.username, PASSWORD, address=office).status_code == 302  # the office never does


def test_an_unknown_username_is_throttled_the_same_way(app):
    for _ in range(5):
        assert attempt(app, "no-such-user", "whatever-password").status_code == 422
    assert attempt(app, "no-such-user", "whatever-password").status_code == 429


def test_guessing_the_current_password_in_a_session_is_throttled_too(client, login, make_user):
    user = make_user("operator")
    login(user)
    for _ in range(5):
        wrong = client.post("/api/v1/me/password", json={"current_password": "guess-guess", "new_password": "x" * 12})
        assert wrong.status_code == 422
    held = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "y" * 12})
    assert held.status_code == 429 and held.get_json()["code"] == "too_many_attempts" and held.headers["Retry-After"]


def test_guessing_the_current_password_on_the_page_is_throttled_alike(client, login, make_user):
    user = make_user("operator")
    login(user)
    form = {"current_password": "guess-guess", "new_password": "x" * 12, "confirm_password": "x" * 12}
    for _ in range(5):
        wrong = client.post("/account/password", data=form)
        assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    held = client.post("/account/password", data={**form, "current_password": PASSWORD})
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
    assert "密码验证失败次数过多" in held.get_data(as_text=True)
    assert client.post("/api/v1/me/password", json={"current_password": PASSWORD,
                                                    "new_password": "y" * 12}).status_code == 429  # one count
