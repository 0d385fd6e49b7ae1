"""The operator's console acts on exactly what it shows: publishing "all" of a filtered list
publishes that list's pending entries and no other."""

from __future__ import annotations

from app.oversight import lists
from tests.web.conftest import DemoSite


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_publishing_all_of_a_filtered_list_publishes_only_that_list(demo_site: DemoSite) -> None:
    operator = demo_site.client("operator")
    with demo_site.app.extensions["pc_db"].session() as s:
        before = lists.counts(s)
    name = max(("red", "black", "watch"), key=lambda n: before[n]["pending"])
    others = {n: before[n]["pending"] for n in ("red", "black", "watch") if n != name}
    assert before[name]["pending"] > 0 and sum(others.values()) > 0, before  # the demo leaves changes pending
    page = operator.get(f"/console/lists?list={name}").get_data(as_text=True)
    assert "全部发布（" in page and f"{before[name]['pending']} 项" in page
    resp = operator.post("/console/lists/publish", data={"csrf_token": _token(page), "all": "yes", "list": name})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"list={name}")
    with demo_site.app.extensions["pc_db"].session() as s:
        after = lists.counts(s)
    assert after[name]["pending"] == 0
    assert after[name]["active"] == before[name]["active"] + before[name]["pending"]
    assert {n: after[n]["pending"] for n in others} == others  # the other lists untouched
    # Nothing selected, nothing published.
    page = operator.get("/console/lists").get_data(as_text=True)
    resp = operator.post("/console/lists/publish", data={"csrf_token": _token(page)})
    assert resp.status_code == 302
    with demo_site.app.extensions["pc_db"].session() as s:
        assert lists.counts(s) == after
