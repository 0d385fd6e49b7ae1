"""``app.core.db.Prepared`` runs a Core SELECT straight on the cursor: the same rows as
SQLAlchemy's own execution (expanding lists, processed date parameters), and the engine's
statement listeners still see it."""

from __future__ import annotations

import datetime as dt
import sqlite3

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

from app.archive.models import Enterprise
from app.core.db import Prepared, json_value

STMT = (sa.select(Enterprise.id, Enterprise.uscc, sa.type_coerce(Enterprise.founded_on, sa.String()))
        .where(Enterprise.id.in_(sa.bindparam("ids", expanding=True)),
               Enterprise.founded_on <= sa.bindparam("before"))
        .order_by(Enterprise.id))


def test_the_same_rows_as_sqlalchemy_with_lists_and_dates(db, make_enterprise):
    old = [make_enterprise(founded_on=f"201{i}-01-01") for i in range(3)]
    young = make_enterprise(founded_on="2024-06-01")
    db.flush()
    prepared = Prepared(STMT)
    for ids, before in (([e.id for e in (*old, young)], dt.date(2020, 1, 1)), ([young.id], dt.date(2025, 1, 1)),
                        ([old[0].id, young.id], dt.date(2010, 6, 1))):
        params = {"ids": ids, "before": before}
        expected = [tuple(r) for r in db.connection().execute(STMT, params)]
        got = [(i, u, d if isinstance(d, str) else d.isoformat()) for i, u, d in prepared.rows(db, params)]
        assert got == [(i, u, d if isinstance(d, str) else d.isoformat()) for i, u, d in expected]
    assert [r[0] for r in prepared.rows(db, {"ids": [e.id for e in old], "before": dt.date(2011, 12, 31)})] == \
        [old[0].id, old[1].id]


def test_listeners_see_the_statement_and_json_reads_on_both_backends(db, make_enterprise):
    ent = make_enterprise()
    db.flush()
    seen = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        rows = Prepared(sa.select(Enterprise.uscc).where(Enterprise.id == sa.bindparam("id"))).rows(db, {"id": ent.id})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert rows == [(ent.uscc,)] and any("enterprise" in s.lower() for s in seen)
    assert json_value('{"a": [1, 2]}') == {"a": [1, 2]} and json_value({"a": 1}) == {"a": 1}



def test_time_parameters_are_processed_as_sqlalchemy_does_at_the_boundary(db, make_enterprise):
    """An aware UTC time compared with a stored one: the same rows as SQLAlchemy's execution,
    the equal time included or excluded exactly as ``<`` and ``>=`` say (on SQLite the
    parameter must be stored text's twin, not the driver's own rendering of a datetime)."""
    ents = [make_enterprise() for _ in range(3)]
    db.flush()
    stamps = [dt.datetime(2026, 5, 1, 8, 0, 0, 250000 * i, tzinfo=dt.UTC) for i in range(3)]
    for ent, at in zip(ents, stamps, strict=True):
        ent.created_at = at
    db.flush()
    ids = [e.id for e in ents]
    stmt = (sa.select(Enterprise.id).where(Enterprise.id.in_(sa.bindparam("ids", expanding=True)),
                                           Enterprise.created_at >= sa.bindparam("since"),
                                           Enterprise.created_at < sa.bindparam("before"))
            .order_by(Enterprise.id))
    prepared = Prepared(stmt)
    for since, before in ((stamps[0], stamps[2]), (stamps[1], stamps[1]), (stamps[1], stamps[2] + dt.timedelta(1)),
                          (stamps[0].astimezone(dt.timezone(dt.timedelta(hours=8))), stamps[1])):
        params = {"ids": ids, "since": since, "before": before}
        expected = [r[0] for r in db.connection().execute(stmt, params)]
        assert [r[0] for r in prepared.rows(db, params)] == expected
    assert [r[0] for r in prepared.rows(db, {"ids": ids, "since": stamps[0], "before": stamps[2]})] == ids[:2]
    assert prepared.rows(db, {"ids": ids, "since": stamps[1], "before": stamps[1]}) == []


def test_fixed_lists_and_values_in_the_statement_and_lists_of_every_length(db, make_enterprise):
    """Literal lists and values written into the statement stay as they are, and a plan learnt
    for one length of a list is never used for another."""
    ents = [make_enterprise() for _ in range(4)]
    db.flush()
    stmt = (sa.select(Enterprise.id, sa.literal("x").label("tag"))
            .where(Enterprise.id.in_(sa.bindparam("ids", expanding=True)),
                   Enterprise.uscc.in_([e.uscc for e in ents[:3]]), Enterprise.name != "nobody")
            .order_by(Enterprise.id))
    prepared = Prepared(stmt)
    ids = [e.id for e in ents]
    for chosen in (ids, ids[:1], ids[1:3], [], ids[::-1], ids[:1], ids):
        params = {"ids": chosen}
        expected = [tuple(r) for r in db.connection().execute(stmt, params)]
        assert [tuple(r) for r in prepared.rows(db, params)] == expected
        assert [r[0] for r in expected] == sorted(set(chosen) & set(ids[:3]))


def test_plans_for_many_list_lengths_are_bounded_and_still_right(db, make_enterprise):
    from app.core.db import _MAX_PLANS

    ents = [make_enterprise() for _ in range(3)]
    db.flush()
    prepared = Prepared(sa.select(Enterprise.id).where(Enterprise.id.in_(sa.bindparam("ids", expanding=True)))
                        .order_by(Enterprise.id))
    ids = [e.id for e in ents]
    for n in range(1, _MAX_PLANS + 20):
        assert [r[0] for r in prepared.rows(db, {"ids": [*ids, *range(-n, -1)]})] == ids
    assert len(prepared._plans) <= _MAX_PLANS
    assert [r[0] for r in prepared.rows(db, {"ids": ids[:1]})] == ids[:1]


def test_a_batch_gives_each_statement_its_rows_in_order_and_runs_them_one_after_another(db, make_enterprise):
    """``run_batch`` (one round trip on PostgreSQL): the rows of each statement as if run
    alone, and a statement sees what the ones before it in the batch wrote."""
    from app.archive.models import DataProvider
    from app.core.db import run_batch

    ents = [make_enterprise() for _ in range(3)]
    db.flush()
    by_id = Prepared(sa.select(Enterprise.uscc).where(Enterprise.id == sa.bindparam("id")))
    insert = Prepared.insert_returning_id(DataProvider, ("code", "name", "kind", "categories", "active", "created_at"))
    count = Prepared(sa.select(sa.func.count()).select_from(DataProvider).where(DataProvider.code == sa.bindparam("code")))
    got = run_batch(db, [
        (by_id, {"id": ents[2].id}), (count, {"code": "batch-probe"}),
        (insert, {"code": "batch-probe", "name": "批量探针", "kind": "grid_company", "categories": ["utility"],
                  "active": True, "created_at": dt.datetime.now(dt.UTC)}),
        (count, {"code": "batch-probe"}), (by_id, {"id": ents[0].id}), (by_id, {"id": -1}),
    ])
    assert got[0] == [(ents[2].uscc,)] and got[4] == [(ents[0].uscc,)] and got[5] == []
    assert got[1] == [(0,)] and got[3] == [(1,)]  # the INSERT ran between the two counts
    assert isinstance(got[2][0][0], int)
    assert run_batch(db, []) == []


def test_an_error_in_a_batch_is_raised(db, make_enterprise):
    """A statement that fails in a batch (here the second of two rows with one code) raises
    as it would alone; nothing after it is taken for a result."""
    import pytest

    from app.archive.models import DataProvider
    from app.core.db import run_batch

    ent = make_enterprise()
    db.flush()
    by_id = Prepared(sa.select(Enterprise.uscc).where(Enterprise.id == sa.bindparam("id")))
    insert = Prepared.insert_returning_id(DataProvider, ("code", "name", "kind", "categories", "active", "created_at"))
    row = {"code": "dup-probe", "name": "重复探针", "kind": "grid_company", "categories": ["utility"], "active": True,
           "created_at": dt.datetime.now(dt.UTC)}
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)) as raised:  # the driver's own error
        run_batch(db, [(by_id, {"id": ent.id}), (insert, row), (insert, row), (by_id, {"id": ent.id})])
    assert "unique" in str(raised.value).lower()
