"""Enterprise relations (集团与子公司): history, the rules (no self, no loop, share), the
provider's batch (whole or refused whole), the operator's commands, and the hierarchy reads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.archive.models import EnterpriseRelation, RelationKind
from app.archive.relations import Filer, add_relation, end_relation, file_relations
from app.archive.services import group_parents, subsidiaries
from app.core import clock
from app.core.errors import InvalidInput

OPERATOR = Filer(operator="test")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rel(parent, child, kind="controlling", share="51", valid_from="2020-01-01", **kw):
    row = {"parent_uscc": parent.uscc, "child_uscc": child.uscc, "kind": kind, "valid_from": valid_from, **kw}
    if share is not None:
        row["share"] = share
    return row


@pytest.fixture
def tree(db, make_enterprise):
    """group → a, b (level 1); a → a1 (level 2); a1 → a11 (level 3)."""
    firms = {name: make_enterprise() for name in ("group", "a", "b", "a1", "a11", "other")}
    file_relations(db, OPERATOR, [
        _rel(firms["group"], firms["a"], "wholly_owned", None),
        _rel(firms["group"], firms["b"], "controlling", "60"),
        _rel(firms["a"], firms["a1"], "minority", "30.5"),
        _rel(firms["a1"], firms["a11"], "controlling", "75"),
    ])
    return firms


def test_subsidiaries_at_every_level_with_their_direct_parent(db, tree):
    subs = {s.uscc: s for s in subsidiaries(db, tree["group"].id)}
    assert set(subs) == {tree[n].uscc for n in ("a", "b", "a1", "a11")}
    assert subs[tree["a"].uscc].level == 1 and subs[tree["a"].uscc].kind == RelationKind.wholly_owned
    assert subs[tree["a"].uscc].share == Decimal(100)
    assert subs[tree["a1"].uscc].level == 2 and subs[tree["a1"].uscc].parent_id == tree["a"].id
    assert subs[tree["a1"].uscc].share == Decimal("30.5")
    assert subs[tree["a11"].uscc].level == 3
    assert subsidiaries(db, tree["a11"].id) == []


def test_group_parents_are_every_ancestor_nearest_first(db, tree):
    assert group_parents(db, tree["a11"].id) == [tree["a1"].id, tree["a"].id, tree["group"].id]
    assert group_parents(db, tree["group"].id) == []
    assert group_parents(db, tree["other"].id) == []


def test_a_change_ends_the_old_row_and_adds_a_new_one(db, tree):
    out = file_relations(db, OPERATOR, [_rel(tree["group"], tree["b"], "controlling", "80", valid_from="2024-06-01")])
    assert (out.added, out.ended) == (1, 1)
    rows = db.scalars(sa.select(EnterpriseRelation).where(EnterpriseRelation.child_id == tree["b"].id)
                      .order_by(EnterpriseRelation.valid_from)).all()
    assert [(r.share, r.valid_from, r.valid_to) for r in rows] == [
        (Decimal("60"), dt.date(2020, 1, 1), dt.date(2024, 6, 1)), (Decimal("80"), dt.date(2024, 6, 1), None)]
    assert rows[0].ended_by == "operator:test"
    # As of a day before the change, the old share; after, the new.
    before = {s.uscc: s for s in subsidiaries(db, tree["group"].id, as_of=dt.date(2024, 5, 31))}
    assert before[tree["b"].uscc].share == Decimal("60")
    after = {s.uscc: s for s in subsidiaries(db, tree["group"].id, as_of=dt.date(2024, 6, 1))}
    assert after[tree["b"].uscc].share == Decimal("80")
    assert tree["b"].uscc not in {s.uscc for s in subsidiaries(db, tree["group"].id, as_of=dt.date(2019, 12, 31))}


def test_a_resent_batch_changes_nothing(db, tree):
    before = db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation))
    out = file_relations(db, OPERATOR, [_rel(tree["group"], tree["b"], "controlling", "60.00")])
    assert (out.added, out.ended, out.unchanged) == (0, 0, 1)
    assert db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation)) == before


def test_ending_a_relation_keeps_it_and_drops_the_branch(db, tree):
    rel = db.scalar(sa.select(EnterpriseRelation).where(EnterpriseRelation.child_id == tree["a1"].id))
    end_relation(db, OPERATOR, rel.id, clock.today())
    assert rel.valid_to == clock.today()
    assert {s.uscc for s in subsidiaries(db, tree["group"].id)} == {tree["a"].uscc, tree["b"].uscc}
    with pytest.raises(InvalidInput) as exc:
        end_relation(db, OPERATOR, rel.id, clock.today())
    assert "relation" in exc.value.errors


def _wrong_check(uscc: str) -> str:
    """The same code with another check character: well formed, and refused by its check."""
    return uscc[:17] + ("0" if uscc[17] != "0" else "1")


@pytest.mark.parametrize(("row", "field"), [
    (lambda t: _rel(t["a"], t["a"]), "child_uscc"),  # self
    (lambda t: _rel(t["a11"], t["group"]), "child_uscc"),  # a loop through three levels
    (lambda t: _rel(t["a1"], t["a"]), "child_uscc"),  # a direct loop
    (lambda t: _rel(t["group"], t["other"], "controlling", "0"), "share"),
    (lambda t: _rel(t["group"], t["other"], "controlling", "100.5"), "share"),
    (lambda t: _rel(t["group"], t["other"], "controlling", "abc"), "share"),
    (lambda t: _rel(t["group"], t["other"], "wholly_owned", "90"), "share"),
    (lambda t: _rel(t["group"], t["other"], "controlling", None), "share"),
    (lambda t: _rel(t["group"], t["other"], "subsidiary", "50"), "kind"),
    (lambda t: _rel(t["group"], t["other"], valid_from="2020-01-01", valid_to="2019-01-01"), "valid_to"),
    (lambda t: {**_rel(t["group"], t["other"]), "parent_uscc": _wrong_check(t["group"].uscc)}, "parent_uscc"),
    (lambda t: {**_rel(t["group"], t["other"]), "parent_uscc": "not-a-code"}, "parent_uscc"),
    (lambda t: {**_rel(t["group"], t["other"]), "colour": "red"}, "colour"),
])
def test_refused_rows_name_row_and_field_and_write_nothing(db, tree, row, field):
    before = db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation))
    good = _rel(tree["b"], tree["other"], "minority", "10")
    with pytest.raises(InvalidInput) as exc:
        file_relations(db, OPERATOR, [good, row(tree)])
    assert exc.value.code == "batch_refused"
    assert f"rows[1].{field}" in exc.value.errors, exc.value.errors
    db.rollback()  # as the request's or command's transaction does
    assert db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation)) <= before


def test_the_database_refuses_what_the_service_would(db, tree):
    with pytest.raises(sa.exc.IntegrityError), db.begin_nested():
        db.add(EnterpriseRelation(parent_id=tree["a"].id, child_id=tree["a"].id, kind="minority",
                                  share=Decimal(10), valid_from=dt.date(2020, 1, 1), operator="x"))
        db.flush()
    with pytest.raises(sa.exc.IntegrityError), db.begin_nested():
        db.add(EnterpriseRelation(parent_id=tree["a"].id, child_id=tree["other"].id, kind="wholly_owned",
                                  share=Decimal(60), valid_from=dt.date(2020, 1, 1), operator="x"))
        db.flush()


# --- the provider's batch API ----------------------------------------------------------------

def test_provider_batch_is_written_whole(client, db, tree, make_provider, make_client, token_for):
    oc, secret = make_client(make_provider())
    body = [_rel(tree["b"], tree["other"], "minority", "10"),
            _rel(tree["group"], tree["b"], "controlling", "70", valid_from="2025-01-01")]
    resp = client.post("/api/v1/enterprise-relations/batches", json=body, headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert (data["total"], data["added"], data["ended"]) == (2, 2, 1)
    assert data["relations"][0]["filed_by"].startswith("provider:")
    assert data["relations"][1]["share"] == "70.0000"


def test_provider_batch_with_a_bad_row_is_refused_whole(client, db, tree, make_provider, make_client, token_for):
    oc, secret = make_client(make_provider())
    before = db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation))
    body = [_rel(tree["b"], tree["other"], "minority", "10"), _rel(tree["a11"], tree["a"])]
    resp = client.post("/api/v1/enterprise-relations/batches", json=body, headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert "rows[1].child_uscc" in resp.get_json()["errors"]
    assert db.scalar(sa.select(sa.func.count()).select_from(EnterpriseRelation)) == before


@pytest.mark.parametrize("body", [{"not": "a list"}, [], ["a string"], [[1, 2]]])
def test_provider_batch_malformed_bodies_are_problems(client, make_provider, make_client, token_for, body):
    oc, secret = make_client(make_provider())
    resp = client.post("/api/v1/enterprise-relations/batches", json=body, headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


def test_provider_batch_needs_a_provider_token(client, tree, make_client, token_for, login, make_user):
    assert client.post("/api/v1/enterprise-relations/batches", json=[]).status_code == 401
    oc, secret = make_client(None)
    resp = client.post("/api/v1/enterprise-relations/batches", json=[_rel(tree["b"], tree["other"])],
                       headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 422 and resp.get_json()["code"] == "not_a_provider"


def test_operators_list_relations(client, tree, login, make_user):
    login(make_user("operator"))
    resp = client.get(f"/api/v1/enterprise-relations?uscc={tree['a'].uscc}")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert {(i["parent_uscc"], i["child_uscc"]) for i in items} == {
        (tree["group"].uscc, tree["a"].uscc), (tree["a"].uscc, tree["a1"].uscc)}


def test_a_firm_may_not_list_relations(client, tree, login, make_user):
    login(make_user("firm", tree["a"]))
    assert client.get("/api/v1/enterprise-relations").status_code == 403


# --- the operator's commands ------------------------------------------------------------------

def test_relations_commands(fresh_databases, tmp_path, monkeypatch):
    from app.archive.services import load_enterprise, register_enterprise
    from app.archive.uscc import make_uscc
    from app.cli import main
    from app.core.crypto import FieldCipher, KeyRing
    from app.core.db import Database

    url = fresh_databases.new()
    database = Database(url)
    codes = [make_uscc("9", "1", "110105", f"6000000{i}") for i in range(3)]
    with database.transaction() as session:
        for i, code in enumerate(codes):
            register_enterprise(session, FieldCipher(KeyRing.generate()),
                                load_enterprise({"uscc": code, "name": f"某电力公司{i}", "segment": "generation"}))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    group, mid, leaf = codes
    runner = CliRunner()
    try:
        res = runner.invoke(main, ["relations", "add", "--parent", group, "--child", mid, "--kind", "wholly_owned",
                                   "--from", "2021-03-01"])
        assert res.exit_code == 0, res.output
        assert "关系 #" in res.output
        res = runner.invoke(main, ["relations", "add", "--parent", mid, "--child", leaf, "--kind", "minority",
                                   "--share", "20", "--from", "2021-03-01"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(main, ["relations", "add", "--parent", leaf, "--child", group, "--kind", "minority",
                                   "--share", "20"])
        assert res.exit_code == 1 and "循环持股" in res.output
        res = runner.invoke(main, ["relations", "list", "--uscc", leaf])
        assert res.exit_code == 0 and mid in res.output and "共 1 项" in res.output
        file = tmp_path / "rels.ndjson"
        row = {"parent_uscc": mid, "child_uscc": leaf, "kind": "controlling", "share": "55",
               "valid_from": "2023-01-01"}
        file.write_text(json.dumps(row) + "\n", encoding="utf-8")
        res = runner.invoke(main, ["relations", "import", str(file)])
        assert res.exit_code == 0, res.output
        assert "新增 1，结束 1" in res.output
        with database.transaction() as session:
            rel_id = session.scalar(sa.select(EnterpriseRelation.id).where(
                EnterpriseRelation.share == 55, EnterpriseRelation.valid_to.is_(None)))
        res = runner.invoke(main, ["relations", "end", str(rel_id), "--on", "2024-01-01"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(main, ["relations", "end", str(rel_id)])
        assert res.exit_code == 1 and "已结束" in res.output
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps([row, {**row, "child_uscc": mid}]), encoding="utf-8")
        res = runner.invoke(main, ["relations", "import", str(bad)])
        assert res.exit_code == 1 and "rows[1].child_uscc" in res.output
    finally:
        database.dispose()


def test_add_relation_names_the_field(db, tree):
    with pytest.raises(InvalidInput) as exc:
        add_relation(db, OPERATOR, parent_uscc=tree["a"].uscc, child_uscc=tree["other"].uscc, kind="minority",
                     share="150", valid_from="2020-01-01")
    assert "share" in exc.value.errors
