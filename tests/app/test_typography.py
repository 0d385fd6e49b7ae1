"""Codes, numbers and dates in table cells never break (``app/core/typography.py``): what the
filter wraps, what it leaves alone, and that every HTML page — and nothing else — gets it."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.typography import keep_tokens_whole
from tests.markup import unwrapped

NW = '<span class="nw">'


@pytest.mark.parametrize(("text", "kept"), [
    ("至 2026-11-18 10:00", ["2026-11-18"]),
    ("2026-11", ["2026-11"]),
    ("招标编号 ECP-ZB-2026-0042", ["ECP-ZB-2026-0042"]),
    ("浙能监罚〔2026〕31号", ["〔2026〕31号"]),
    ("第 1/2 页", ["1/2"]),
    ("AA → A", []),  # no digit
    ("and/or", []),
    ("PC20261118000123 与 91110000MA01ABCD2X", []),  # letters and digits only: they do not break
    ("https://bank.example/hooks/2026-11", []),  # a URL breaks at its slashes
    ("测试电力设备有限公司10000001", []),
])
def test_what_a_cell_keeps_whole(text: str, kept: list[str]) -> None:
    html = keep_tokens_whole(f"<table><tr><td>{text}</td></tr></table>")
    assert [part.split("</span>")[0] for part in html.split(NW)[1:]] == kept
    assert unwrapped(html) == f"<table><tr><td>{text}</td></tr></table>"


def test_only_cell_text_is_touched() -> None:
    html = ('<p>2026-11-18</p><table><caption>2026-11-18</caption><tr><th scope="row">2026-11</th>'
            '<td title="至 2026-11-18" data-x="a>b 2026-11-18">2026-11-18<textarea>2026-11-18</textarea>'
            '<select><option>2026-11-18</option></select><script>var d = "2026-11-18";</script>'
            '<!-- 2026-11-18 --></td></tr></table><p>2026-11-19</p>')
    out = keep_tokens_whole(html)
    assert out.count(NW) == 2  # the <th>'s month and the <td>'s own date
    assert f'<th scope="row">{NW}2026-11</span></th>' in out
    assert f'data-x="a>b 2026-11-18">{NW}2026-11-18</span><textarea>2026-11-18</textarea>' in out
    assert unwrapped(out) == html
    assert keep_tokens_whole("<p>2026-11-18</p>") == "<p>2026-11-18</p>"  # no table: unchanged


def test_every_html_page_and_nothing_else(client: Any, login: Any, make_user: Any, make_enterprise: Any) -> None:
    from app.core import clock

    ent = make_enterprise()
    login(make_user("operator"))
    users = client.get("/console/users")  # a table of users: the operator's own sign-in, today
    assert users.status_code == 200 and users.mimetype == "text/html"
    assert f"{NW}{clock.today().isoformat()}</span>" in users.get_data(as_text=True)
    api = client.get(f"/api/v1/enterprises/{ent.uscc}")
    assert api.mimetype == "application/json" and NW not in api.get_data(as_text=True)
    with client.get("/static/site.css") as css:  # a file, passed through untouched
        style = css.get_data(as_text=True)
    assert ".nw" in style and NW not in style
