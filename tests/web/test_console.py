"""The operator's console acts on exactly what it shows: publishing "all" of a filtered list
publishes that list's pending entries and no other."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

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
    resp = operator.post("/console/lists/publish", data=_all_form(page))
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


def _all_form(page: str) -> dict[str, str]:
    """The fields of the page's "publish all" form, as the browser would send them."""
    form = page.split('name="all" value="yes"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    return {"csrf_token": _token(page), "all": "yes", **fields}


def test_publish_all_publishes_what_the_page_showed_and_nothing_added_or_changed_since(demo_site: DemoSite) -> None:
    from app.oversight.models import EntryStatus, ListEntry

    operator = demo_site.client("operator")
    db = demo_site.app.extensions["pc_db"]
    name = "watch"

    def add_pending(s: Session) -> int:
        """One more pending entry on the list, as a refresh would add it."""
        model = s.scalars(sa.select(ListEntry).where(ListEntry.list_name == name).order_by(ListEntry.id)).first()
        assert model is not None
        added = ListEntry(list_name=model.list_name, enterprise_id=model.enterprise_id, status=EntryStatus.pending,
                          criteria_version=model.criteria_version, basis=model.basis, entered_on=model.entered_on)
        s.add(added)
        s.flush()
        return added.id

    with db.transaction() as s:  # at least two pending, whatever earlier tests published
        add_pending(s)
        add_pending(s)
    with db.session() as s:
        before = lists.counts(s)
    page = operator.get(f"/console/lists?list={name}").get_data(as_text=True)
    form = _all_form(page)
    assert form["expected"] == str(before[name]["pending"]) and form["list"] == name

    # Another operator publishes one of them meanwhile: the page's "all" is no longer what is
    # pending, so nothing is published and the operator is told to look again.
    with db.transaction() as s:
        first = lists.pending_ids(s, name)[0]
        lists.publish(s, [first], actor="user:another-operator")
    resp = operator.post("/console/lists/publish", data=form)
    assert resp.status_code == 302
    shown = operator.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已有变化" in shown and "未发布任何记录" in shown
    with db.session() as s:
        assert lists.counts(s)[name]["pending"] == before[name]["pending"] - 1

    # One entry published and an older one made pending again meanwhile: as many entries as
    # shown, but not the same ones — refused as well.
    page = operator.get(f"/console/lists?list={name}").get_data(as_text=True)
    form = _all_form(page)
    with db.transaction() as s:
        pending_now = lists.pending_ids(s, name)
        lists.publish(s, [pending_now[0]], actor="user:another-operator")
        older = s.scalars(sa.select(ListEntry).where(ListEntry.list_name == name, ListEntry.id < pending_now[-1],
                                                     ListEntry.status == EntryStatus.active)
                          .order_by(ListEntry.id)).first()
        assert older is not None
        older.status = EntryStatus.pending
        s.flush()
    with db.session() as s:
        count_before = lists.counts(s)[name]["pending"]
    assert count_before == int(form["expected"])
    resp = operator.post("/console/lists/publish", data=form)
    assert "未发布任何记录" in operator.get(resp.headers["Location"]).get_data(as_text=True)
    with db.session() as s:
        assert lists.counts(s)[name]["pending"] == count_before
        before = lists.counts(s)  # what the rest of the test starts from

    # A refresh adds an entry after the page was shown: "all" publishes the entries shown
    # and leaves the new one pending for review.
    page = operator.get(f"/console/lists?list={name}").get_data(as_text=True)
    form = _all_form(page)
    with db.transaction() as s:
        added_id = add_pending(s)
    resp = operator.post("/console/lists/publish", data=form)
    assert resp.status_code == 302
    with db.session() as s:
        assert lists.pending_ids(s, name) == [added_id]
        assert lists.counts(s)[name]["active"] == before[name]["active"] + before[name]["pending"]

    # A form without what the page showed publishes nothing.
    resp = operator.post("/console/lists/publish", data={"csrf_token": form["csrf_token"], "all": "yes", "list": name})
    assert resp.status_code == 302
    with db.session() as s:
        assert lists.pending_ids(s, name) == [added_id]
