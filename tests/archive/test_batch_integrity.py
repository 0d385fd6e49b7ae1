"""Issue #25, items 1–3: a batch is written whole or not at all, whatever its size or framing;
whatever a refused row holds, its refusal is recorded; and every batch leaves an
``ingestion_run``, a batch refused whole included — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import DechunkedInput
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from app.archive.ingestion import FILENAME_CHARS, ingest_records
from app.archive.ingestion_results import BATCH_ROW, ERROR_FIELDS
from app.archive.models import CreditRecord, DataProvider, IngestionRefusal, IngestionRun

BATCH = "/api/v1/records/batch"
TYPES = {"json": "application/json", "ndjson": "application/x-ndjson"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _limits(app: Flask, monkeypatch: pytest.MonkeyPatch, **limits: int) -> None:
    monkeypatch.setitem(app.extensions, "pc_settings", dataclasses.replace(app.extensions["pc_settings"], **limits))


def _body(fmt: str, rows: list[Any]) -> bytes:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode()
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _chunked(data: bytes, size: int = 1000) -> bytes:
    """``data`` in HTTP/1.1 chunked transfer coding, as a client sends it on the wire."""
    out = io.BytesIO()
    for start in range(0, len(data), size):
        part = data[start:start + size]
        out.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    out.write(b"0\r\n\r\n")
    return out.getvalue()


def _post(client: FlaskClient, data: bytes, headers: dict[str, str], *, chunked: bool,
          wire: io.BytesIO | None = None, query: str = "") -> TestResponse:
    """POST a batch with a ``Content-Length``, or chunked as a WSGI server hands a chunked
    request on (gunicorn, werkzeug's own): no ``CONTENT_LENGTH``, the body de-chunked from
    the wire as it is read, and ``wsgi.input_terminated`` set."""
    if not chunked:
        return client.post(BATCH + query, data=data, headers=headers)
    environ = EnvironBuilder(path=BATCH, query_string=query.lstrip("?"), method="POST",
                             headers={**headers, "Transfer-Encoding": "chunked"}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    wire = wire if wire is not None else io.BytesIO(_chunked(data))
    environ["wsgi.input"] = DechunkedInput(wire)
    environ["wsgi.input_terminated"] = True
    return client.open(Request(environ))


@pytest.fixture
def provider_token(make_provider, make_client, token_for) -> tuple[DataProvider, str]:
    provider = make_provider()
    oc, secret = make_client(provider)
    return provider, token_for(oc, secret)


def _records(db: Session, provider: DataProvider) -> int:
    return int(db.scalar(sa.select(sa.func.count()).select_from(CreditRecord)
                         .where(CreditRecord.provider_id == provider.id)) or 0)


def _runs(db: Session, provider: DataProvider) -> list[IngestionRun]:
    db.expire_all()
    return list(db.scalars(sa.select(IngestionRun).where(IngestionRun.provider_id == provider.id)
                           .order_by(IngestionRun.id)))


def _refusals(db: Session, run: IngestionRun) -> list[IngestionRefusal]:
    return list(db.scalars(sa.select(IngestionRefusal).where(IngestionRefusal.run_id == run.id)
                           .order_by(IngestionRefusal.row_index)))


def _refused_whole(db: Session, provider: DataProvider, total: int = 0) -> dict[str, list[str]]:
    """The one run the provider has, refused whole: its reason (the refusal at row -1)."""
    [run] = _runs(db, provider)
    assert (run.committed, run.total, run.accepted, run.corrected, run.unchanged) == (False, total, 0, 0, 0)
    assert run.finished_at is not None and run.source == "api"
    [refusal] = _refusals(db, run)
    assert (refusal.row_index, refusal.provider_ref) == (BATCH_ROW, None)
    assert refusal.errors["_batch"]
    return refusal.errors


# --- item 1: over the limit, however framed, nothing is written ---------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize("fmt", ["ndjson", "json"])
@pytest.mark.parametrize("over", ["one byte", "twice"])
def test_a_body_over_the_limit_is_refused_whole_and_writes_nothing(app, client, db, make_enterprise, provider_token,
                                                                   rows, monkeypatch, fmt, chunked, over):
    """A chunked NDJSON body used to be cut at the limit and the rows read so far committed;
    now any body past the limit is a 413 problem, and no record is written."""
    provider, token = provider_token
    ent = make_enterprise()
    data = _body(fmt, [rows.utility(ent.uscc, f"u-{i}") for i in range(20)])
    limit = len(data) - 1 if over == "one byte" else len(data) // 2
    _limits(app, monkeypatch, max_batch_bytes=limit)
    resp = _post(client, data, {**_auth(token), "Content-Type": TYPES[fmt]}, chunked=chunked)
    assert resp.status_code == 413, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["code"] == "request_entity_too_large"
    assert str(limit) in problem["detail"] and "整批未写入" in problem["detail"]
    assert _records(db, provider) == 0
    assert any(str(limit) in m for m in _refused_whole(db, provider)["_batch"])


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_a_body_exactly_at_the_limit_is_read_whole(app, client, db, make_enterprise, provider_token, rows,
                                                   monkeypatch, fmt, chunked):
    provider, token = provider_token
    ent = make_enterprise()
    data = _body(fmt, [rows.utility(ent.uscc, f"u-{i}") for i in range(20)])
    _limits(app, monkeypatch, max_batch_bytes=len(data))
    resp = _post(client, data, {**_auth(token), "Content-Type": TYPES[fmt]}, chunked=chunked)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["accepted"], resp.get_json()["refused"]) == (20, 0)
    assert _records(db, provider) == 20


def test_a_refused_chunked_body_is_drained_so_the_client_reads_the_413(app, client, db, provider_token, rows,
                                                                      monkeypatch):
    """A server that closes a socket with unread data resets it, and the client, still sending,
    loses the 413: what is left of a body up to twice the limit is read and dropped first;
    beyond that it is left unread (the worker is not held by an endless upload)."""
    provider, token = provider_token
    headers = {**_auth(token), "Content-Type": TYPES["ndjson"]}
    line = (json.dumps(rows.utility("91110000053621038D", "u-1")) + "\n").encode()
    _limits(app, monkeypatch, max_batch_bytes=10_000)
    for size, drained in ((15_000, True), (200_000, False)):
        data = line * (size // len(line))
        wire = io.BytesIO(_chunked(data))
        assert _post(client, data, headers, chunked=True, wire=wire).status_code == 413
        if drained:
            assert wire.tell() == len(wire.getvalue())  # read to the last chunk
        else:
            assert wire.tell() < 30_000 + 64 * 1024  # the limit, as much again, a read's worth
    assert _records(db, provider) == 0


def test_ndjson_lines_break_at_newlines_only(client, db, make_enterprise, provider_token, rows):
    """A JSON string may hold U+2028 or U+0085 unescaped: the line is not broken there (which
    ``str.splitlines`` does), and CRLF line ends are fine."""
    provider, token = provider_token
    ent = make_enterprise()
    lines = [json.dumps(rows.contract(ent.uscc, "c-1", subject="甲\u2028乙\u0085丙\x0c丁"), ensure_ascii=False),
             json.dumps(rows.contract(ent.uscc, "c-2"))]
    resp = client.post(BATCH, data="\r\n".join(lines).encode(),
                       headers={**_auth(token), "Content-Type": TYPES["ndjson"]})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["accepted"], resp.get_json()["refused"]) == (2, 0), resp.get_json()
    record = db.scalar(sa.select(CreditRecord).where(CreditRecord.provider_id == provider.id,
                                                     CreditRecord.provider_ref == "c-1"))
    assert record is not None and record.payload["subject"] == "甲\u2028乙\u0085丙\x0c丁"


# --- item 2: a refused row is refused, and recorded, whatever it holds --------------------------


def test_an_over_long_provider_ref_is_one_refused_row(client, db, make_enterprise, provider_token, rows):
    """It used to make the batch a 500 on PostgreSQL (the refusal overflowed its column)."""
    provider, token = provider_token
    ent = make_enterprise()
    long_ref = "R" * 300
    resp = client.post(BATCH, json=[rows.utility(ent.uscc, long_ref), rows.utility(ent.uscc, "ok-1")],
                       headers=_auth(token))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert (data["accepted"], data["refused"], data["committed"]) == (1, 1, True)
    refused = data["rows"][0]
    assert refused["errors"] == {"provider_ref": ["长度为 300，超过 128 位的上限（应为 1–128 位字母、数字或 ._:/- ）。"]}
    assert refused["provider_ref"] == "R" * 127 + "…"  # cut to what is recorded, and marked
    [run] = _runs(db, provider)
    [refusal] = _refusals(db, run)
    assert (refusal.row_index, refusal.provider_ref) == (0, "R" * 127 + "…")
    assert _records(db, provider) == 1


def test_an_over_long_provider_ref_refuses_an_all_or_nothing_batch_cleanly(client, db, make_enterprise,
                                                                           provider_token, rows):
    provider, token = provider_token
    ent = make_enterprise()
    resp = client.post(BATCH + "?mode=all_or_nothing", json=[rows.utility(ent.uscc, "ok-1"),
                                                            rows.utility(ent.uscc, "R" * 129)], headers=_auth(token))
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "batch_refused"
    assert list(resp.get_json()["errors"]) == ["rows[1].provider_ref"]
    assert _records(db, provider) == 0


def test_whatever_a_refused_row_holds_its_refusal_is_stored(client, db, make_enterprise, provider_token, rows):
    """U+0000 (PostgreSQL refuses it in text and jsonb) and lone surrogates (no encoding stores
    them) in a reference, in an unknown field's name and in a message quoting a value; a name
    of 10,000 characters; 500 unknown fields.  Each is one refused row, the same on both
    backends; the good row is written."""
    provider, token = provider_token
    ent = make_enterprise()
    good = rows.utility(ent.uscc, "ok-1")
    text = "[" + ",".join([
        json.dumps({**rows.utility(ent.uscc, "nul-ref"), "provider_ref": "a\u0000b"}),
        json.dumps({**rows.utility(ent.uscc, "nul-key"), "x\u0000y": 1}),
        json.dumps(rows.utility(ent.uscc, "a\ud800b")),  # json.dumps writes the lone surrogate as \\ud800
        json.dumps({**rows.utility(ent.uscc, "sur-key"), "\udfff": 1}),
        json.dumps({**rows.utility(ent.uscc, "nul-uscc"), "uscc": "91440101MA5CJQ4N5\u0000"}),
        json.dumps({**rows.utility(ent.uscc, "long-key"), "k" * 10_000: 1}),
        json.dumps({**rows.utility(ent.uscc, "many-keys"), **{f"extra_{i}": i for i in range(500)}}),
        json.dumps(good),
    ]) + "]"
    resp = client.post(BATCH, data=text.encode(), headers={**_auth(token), "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.get_data()[:500]
    data = resp.get_json()
    assert (data["accepted"], data["refused"]) == (1, 7)
    by_index = {r["index"]: r for r in data["rows"]}
    assert "provider_ref" in by_index[0]["errors"] and by_index[0]["provider_ref"] == "a\ufffdb"
    assert "x\ufffdy" in by_index[1]["errors"]
    assert by_index[2]["provider_ref"] == "a\ufffdb"
    assert "\ufffd" in by_index[3]["errors"]
    assert "\ufffd" in by_index[4]["errors"]["uscc"][0]  # the message names the character it refuses
    [long_key] = [k for k in by_index[5]["errors"] if k.startswith("kkk")]
    assert len(long_key) == 200 and long_key.endswith("…")
    assert len(by_index[6]["errors"]) == ERROR_FIELDS
    assert by_index[6]["errors"]["_row"] == [f"另有 {500 - ERROR_FIELDS + 1} 个字段的错误未列出。"]
    [run] = _runs(db, provider)
    stored = _refusals(db, run)
    assert [r.row_index for r in stored] == list(range(7))
    for refusal, shown in zip(stored, data["rows"], strict=False):
        assert (refusal.provider_ref, refusal.errors) == (shown["provider_ref"], shown["errors"])
        assert refusal.provider_ref is None or len(refusal.provider_ref) <= 128
        assert "\x00" not in json.dumps(refusal.errors, ensure_ascii=False)
    assert _records(db, provider) == 1


def test_a_file_path_too_long_for_its_column_keeps_its_file_name(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    path = "/" + "/".join(["目录" * 20] * 20) + "/\udcff-records.ndjson"  # an undecodable byte, as os.fsdecode gives it
    result = ingest_records(db, make_provider(), [rows.utility(ent.uscc, "u-1")], source="file", filename=path)
    run = db.get(IngestionRun, result.run_id)
    assert run is not None and run.filename is not None
    assert len(run.filename) == FILENAME_CHARS
    assert run.filename.startswith("…") and run.filename.endswith("/\ufffd-records.ndjson")


# --- item 3: every batch leaves a run -----------------------------------------------------------


@pytest.mark.parametrize(("content_type", "body", "status", "code"), [
    ("application/json", b"[{", 400, "malformed_json"),
    ("application/json", b"[\xff\xfe]", 400, "malformed_json"),
    ("application/json", b'{"rows": []}', 422, "validation_failed"),
    ("application/json", b"[]", 422, "validation_failed"),
    ("application/x-ndjson", b"\n\n", 422, "validation_failed"),
    ("text/csv", b"provider_ref,uscc\n", 415, "unsupported_media_type"),
], ids=["not-json", "not-utf8", "not-an-array", "empty", "empty-ndjson", "csv"])
def test_a_body_that_cannot_be_read_leaves_a_run_with_its_reason(client, db, provider_token, content_type, body,
                                                                 status, code):
    provider, token = provider_token
    resp = client.post(BATCH, data=body, headers={**_auth(token), "Content-Type": content_type})
    assert resp.status_code == status
    problem = resp.get_json()
    assert problem["code"] == code
    reason = _refused_whole(db, provider)
    assert reason["_batch"][0] == problem["detail"]
    assert reason["_batch"][1:] == problem.get("errors", {}).get("_batch", [])


def test_a_body_cut_off_by_its_client_leaves_a_run(client, db, provider_token):
    """Fewer bytes than its ``Content-Length`` says, then the connection closes."""
    provider, token = provider_token
    environ = EnvironBuilder(path=BATCH, method="POST",
                             headers={**_auth(token), "Content-Type": TYPES["ndjson"]}).get_environ()
    environ["CONTENT_LENGTH"] = "5000"
    environ["wsgi.input"] = io.BytesIO(b'{"provider_ref": "a"}\n' * 10)
    resp = client.open(Request(environ))
    assert resp.status_code == 400 and resp.get_json()["code"] == "incomplete_body"
    assert _refused_whole(db, provider)["_batch"] == ["请求体没有收全（连接中断）", "收到 220 字节后连接中断。"]


def test_a_batch_of_too_many_rows_leaves_a_run_that_counts_them(app, client, db, provider_token, rows, monkeypatch):
    provider, token = provider_token
    _limits(app, monkeypatch, max_batch_rows=2)
    resp = client.post(BATCH, json=[rows.contract("91110000053621038D", f"r{i}") for i in range(3)],
                       headers=_auth(token))
    assert resp.status_code == 422 and resp.get_json()["code"] == "batch_too_large"
    assert _refused_whole(db, provider, total=3)["_batch"][-1] == "超过每批 2 条的上限。"


def test_a_refused_all_or_nothing_batch_leaves_its_run_and_refused_rows(client, db, make_enterprise, provider_token,
                                                                        rows):
    """Its transaction is rolled back (nothing written), and the run is written after, in a
    transaction of its own: with the refused rows, as the README says."""
    provider, token = provider_token
    ent = make_enterprise()
    body = [rows.contract(ent.uscc, "a"), rows.contract(ent.uscc, "b", amount="-1"), rows.contract(ent.uscc, "c")]
    resp = client.post(BATCH + "?mode=all_or_nothing", json=body, headers=_auth(token))
    assert resp.status_code == 422 and resp.get_json()["code"] == "batch_refused"
    assert _records(db, provider) == 0
    [run] = _runs(db, provider)
    assert (run.mode, run.committed, run.total, run.accepted, run.refused) == ("all_or_nothing", False, 3, 0, 1)
    [refusal] = _refusals(db, run)
    assert (refusal.row_index, refusal.provider_ref) == (1, "b")
    assert "payload.amount" in refusal.errors


def test_a_batch_written_leaves_one_run_only(client, db, make_enterprise, provider_token, rows):
    provider, token = provider_token
    ent = make_enterprise()
    resp = client.post(BATCH, json=[rows.contract(ent.uscc, "a"), rows.contract(ent.uscc, "b", amount="-1")],
                       headers=_auth(token))
    assert resp.status_code == 200
    [run] = _runs(db, provider)
    assert (run.id, run.committed, run.accepted, run.refused) == (resp.get_json()["run_id"], True, 1, 1)
    assert [r.row_index for r in _refusals(db, run)] == [1]


def test_a_request_of_no_provider_leaves_no_run(client, db, make_client, token_for, rows):
    before = db.scalar(sa.select(sa.func.count()).select_from(IngestionRun))
    assert client.post(BATCH, json=[rows.contract("91110000053621038D")]).status_code == 401
    oc, secret = make_client(None)
    resp = client.post(BATCH, json=[rows.contract("91110000053621038D")], headers=_auth(token_for(oc, secret)))
    assert resp.get_json()["code"] == "not_a_provider"
    assert db.scalar(sa.select(sa.func.count()).select_from(IngestionRun)) == before
