"""``app.db.Prepared`` runs a Core SELECT straight on the cursor: the same rows as
SQLAlchemy's own execution (expanding lists, processed date parameters), and the engine's
statement listeners still see it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event

from app.archive.models import Enterprise
from app.db import Prepared, json_value

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

