"""Every page reachable from each role's home renders for the demo data: a crawl follows
every same-site link (each kind of page up to a few times), and asserts no 4xx/5xx, that
every page has the layout and that every form field has a label."""

from __future__ import annotations

from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.web.conftest import DEMO_PASSWORD, DemoSite

PER_ENDPOINT = 3  # distinct URLs crawled per kind of page (a firm's profile, a product, …)
SKIP_PREFIXES = ("/api/docs", "/static/", "/api/openapi.json")

# The pages the issue lists, by role: the crawl must reach each of them from the home page.
EXPECTED = {
    None: {"web.home", "web.search", "web.enterprise", "oversight_web.lists_home", "oversight_web.public_list",
           "oversight_web.credit_index", "marketplace_web.products", "marketplace_web.product",
           "marketplace_web.stats_page", "accounts.login"},
    "firm": {"web.home", "web.records", "reports_web.my_reports", "consent_web.consents", "consent_web.grant",
             "oversight_web.my_objections", "oversight_web.my_objection", "oversight_web.my_lists",
             "oversight_web.my_commitments", "oversight_web.my_notices", "marketplace_web.my_marketplace",
             "marketplace_web.application_list", "marketplace_web.application", "marketplace_web.offer_list",
             "marketplace_web.offer", "reports.MyReportPdf", "reports.MyReport"},
    "bank": {"web.home", "consent_web.consents", "reports_web.bank_reports", "reports_web.bank_report",
             "reports.InstitutionReportPdf", "marketplace_web.bank_products", "marketplace_web.product_new",
             "marketplace_web.product_edit", "marketplace_web.eligible_firms", "marketplace_web.application_list",
             "marketplace_web.application", "marketplace_web.offer_list", "marketplace_web.offer",
             "marketplace_web.stats_page"},
    "operator": {"web.home", "oversight_web.console_objections", "oversight_web.console_objection",
                 "oversight_web.console_repairs", "oversight_web.console_repair", "oversight_web.console_lists",
                 "oversight_web.console_providers", "oversight_web.console_institutions",
                 "oversight_web.console_ingestion", "oversight_web.console_ingestion_run",
                 "oversight_web.console_evaluations", "scoring_web.console_validation", "web.records"},
}


class Page(HTMLParser):
    """Links, and form fields with whether each has a label."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.fields: list[tuple[str, str | None, bool]] = []  # (tag, id, labelled by aria or wrapping)
        self.label_for: set[str] = set()
        self.in_label = 0
        self.has_main = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"] or "")
        elif tag == "main":
            self.has_main = True
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.fields.append((tag, a.get("id"), bool(a.get("aria-label") or a.get("aria-labelledby"))
                                or self.in_label > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label = max(0, self.in_label - 1)

    def unlabelled(self) -> list[str]:
        return [f"{tag}#{id_}" for tag, id_, ok in self.fields if not ok and (id_ is None or id_ not in self.label_for)]


def crawl(site: DemoSite, role: str | None) -> dict[str, list[str]]:
    client = site.client(role)
    adapter = site.app.url_map.bind("localhost")
    seen: set[str] = set()
    per_endpoint: dict[str, list[str]] = {}
    queue = deque(["/"])
    failures: list[str] = []
    while queue:
        url = queue.popleft()
        path = urlsplit(url).path
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except (NotFound, MethodNotAllowed):
            failures.append(f"{url}: no such page (linked from a page)")
            continue
        if len(per_endpoint.setdefault(endpoint, [])) >= PER_ENDPOINT:
            continue
        per_endpoint[endpoint].append(url)
        resp = client.get(url)
        if resp.status_code >= 400:
            failures.append(f"{url}: {resp.status_code}")
            continue
        if resp.status_code in (301, 302, 303):
            failures.append(f"{url}: redirected to {resp.headers['Location']}")
            continue
        if resp.mimetype != "text/html":
            continue  # a PDF or a JSON download: fetched, not parsed
        page = Page()
        page.feed(resp.get_data(as_text=True))
        if not page.has_main:
            failures.append(f"{url}: not in the site layout")
        if page.unlabelled():
            failures.append(f"{url}: fields without a label {page.unlabelled()}")
        for href in page.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc not in ("", "localhost") or parts.scheme not in ("", "http"):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local.startswith(SKIP_PREFIXES) or local in seen:
                continue
            seen.add(local)
            queue.append(local)
    assert not failures, "\n".join(failures)
    return per_endpoint


@pytest.mark.parametrize("role", [None, "firm", "bank", "operator"], ids=["public", "firm", "bank", "operator"])
def test_every_page_reachable_from_the_home_renders(demo_site: DemoSite, role: str | None) -> None:
    visited = crawl(demo_site, role)
    missing = EXPECTED[role] - set(visited)
    assert not missing, f"not reachable from the {role or 'public'} home: {sorted(missing)}"


def test_a_page_that_needs_sign_in_sends_the_browser_to_sign_in_and_back(demo_site: DemoSite) -> None:
    anon = demo_site.client(None)
    resp = anon.get("/me/reports?page=1", headers={"Accept": "text/html"})
    assert resp.status_code == 302
    # An API client is not redirected: it gets the problem document.
    api = anon.get("/api/v1/me/report", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.mimetype == "application/problem+json"
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/me/reports?page=1"]
    # Signing in there comes back to the page asked for.
    form = anon.get(resp.headers["Location"]).get_data(as_text=True)
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert 'name="next" value="/me/reports?page=1"' in form
    back = anon.post("/login", data={"username": "firm", "password": DEMO_PASSWORD, "csrf_token": token,
                                     "next": "/me/reports?page=1"})
    assert back.status_code == 302 and back.headers["Location"] == "/me/reports?page=1"
    # A signed-in user without the role is refused, not sent to sign in.
    bank = demo_site.client("bank")
    refused = bank.get("/me/reports", headers={"Accept": "text/html"})
    assert refused.status_code == 403 and "text/html" in refused.content_type
