"""The demo site: the demo seeded once per backend (``tests/conftest.py::demo``, as a new
user gets it), served for the browser tests on a real HTTP port, and signed-in test clients
per role for the crawl; Debian's Chromium driven by Playwright, pages opened as a role, and
their screenshots (``test-artifacts/screenshots/``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import DEMO_PASSWORD, Demo

ROLES = ("firm", "bank", "operator")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class DemoSite:
    backend: str
    app: Flask
    url: str  # the live server's base URL
    seed_output: str

    def client(self, role: str | None) -> FlaskClient:
        """A test client signed in as the demo user of ``role`` (None: the public)."""
        client = self.app.test_client()
        if role is not None:
            page = client.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            resp = client.post("/login", data={"username": role, "password": DEMO_PASSWORD, "csrf_token": token})
            assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client


@pytest.fixture(scope="session")
def demo_site(demo: Demo) -> Iterator[DemoSite]:
    url, instance, backend = demo.url, demo.instance, demo.backend
    app = create_app({"database_url": url, "instance_path": instance, "secret_key": "demo-site-key",
                      "testing": True})
    app.config["WTF_CSRF_SSL_STRICT"] = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DemoSite(backend, app, f"http://127.0.0.1:{server.server_port}", demo.output)
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["pc_db"].dispose()


CHROMIUM = "/usr/bin/chromium"
# As root in a container with a closed network: no sandbox, and no background connections.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (scripts/system-deps.sh test installs it)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Shots:
    def __init__(self, backend: str, test: str) -> None:
        self.prefix = f"{backend}-{test}"
        self.n = 0

    def take(self, page: Page, what: str) -> None:
        self.n += 1
        page.screenshot(path=str(SCREENSHOTS / f"{self.prefix}-{self.n:02d}-{what}.png"), full_page=True)


def open_as(browser: Browser, site: DemoSite, role: str | None, width: int = 1280) -> Page:
    context = browser.new_context(base_url=site.url, viewport={"width": width, "height": 900}, accept_downloads=True,
                                  locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    if role is not None:
        page.goto("/login")
        page.fill("#username", role)
        page.fill("#password", DEMO_PASSWORD)
        page.click("main button[type=submit]")
        expect(page.locator("nav.role-nav")).to_be_visible()
    return page
