"""Objections: the deadline (20 days from receipt, Beijing time), the disputed mark appearing
and disappearing on reports, each outcome, evidence files checked, who may do what."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io

import pytest
import sqlalchemy as sa

from app.archive.models import CreditRecordVersion
from app.oversight.models import Notice
from app.oversight.objections import due_date
from tests.oversight.conftest import TODAY, breached

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def test_the_answer_is_due_twenty_days_after_the_day_of_receipt_in_beijing():
    # 16:30 UTC on 1 December is 00:30 on 2 December in Beijing: received on the 2nd.
    assert due_date(dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)) == dt.date(2026, 12, 22)
    assert due_date(dt.datetime(2026, 12, 1, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 12, 21)
    assert due_date(dt.datetime(2026, 2, 10, 4, 0, tzinfo=dt.UTC)) == dt.date(2026, 3, 2)


@pytest.fixture
def disputed(db, client, make_enterprise, add, firm_user, sign_in):
    ent = make_enterprise()
    user = firm_user(ent)
    rec = add(ent, "contract", breached(40), ref="c-disputed")
    sign_in(user)
    resp = client.post("/api/v1/objections", data={"record_id": str(rec.id), "reason": "该合同已于到期前按约履行，附验收单",
                                                   "files": [(io.BytesIO(PDF), "验收单.pdf")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json(), ent, user, rec


def self_report(client):
    return client.get("/api/v1/me/report").get_json()["report"]["sections"]


def test_filing_marks_the_record_disputed_at_once_and_due_in_twenty_days(disputed, client, db):
    body, ent, user, rec = disputed
    db.refresh(rec)
    assert str(rec.status) == "disputed" and body["status"] == "open"
    assert body["due_on"] == (TODAY + dt.timedelta(days=20)).isoformat() and body["overdue"] is False
    assert [f["filename"] for f in body["files"]] == ["验收单.pdf"] and body["files"][0]["content_type"] == "application/pdf"
    sections = self_report(client)
    assert sections["contract"][0]["disputed"] is True
    assert [r["provider_ref"] for r in sections["objections"]] == ["c-disputed"]
    # The same record cannot be disputed twice at once.
    again = client.post("/api/v1/objections", json={"record_id": rec.id, "reason": "再次异议"})
    assert again.status_code == 409
    download = client.get(f"/api/v1/objections/{body['objection_no']}/files/{body['files'][0]['id']}")
    assert download.status_code == 200 and download.data == PDF
    digest = base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    assert download.headers["Content-Digest"] == f"sha-256=:{digest}:"  # RFC 9530, of the body served


def test_upheld_the_mark_goes_and_the_firm_is_told(disputed, client, db, sign_in, operator):
    body, ent, user, rec = disputed
    sign_in(operator)
    resp = client.post(f"/api/v1/objections/{body['objection_no']}/resolve",
                       json={"outcome": "upheld", "explanation": "经向数据来源核实，该合同确已违约，记录无误。"})
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "upheld"
    db.refresh(rec)
    assert str(rec.status) == "active"
    sign_in(user)
    sections = self_report(client)
    assert sections["contract"][0]["disputed"] is False and sections["objections"] == []
    notices = client.get("/api/v1/me/notices").get_json()
    assert notices["unread"] == 1 and "维持原记录" in notices["items"][0]["title"]
    assert client.post(f"/api/v1/objections/{body['objection_no']}/resolve",
                       json={"outcome": "removed", "explanation": "x"}).status_code == 403


def test_corrected_supersedes_the_record_and_keeps_its_history(disputed, client, db, sign_in, operator):
    body, ent, user, rec = disputed
    sign_in(operator)
    url = f"/api/v1/objections/{body['objection_no']}/resolve"
    fixed = {**rec.payload, "status": "on_time", "fulfilled_on": rec.payload["due_on"]}
    fixed.pop("breach_amount", None)
    missing = client.post(url, json={"outcome": "corrected", "explanation": "按验收单更正"})
    assert missing.status_code == 422 and "corrected_payload" in missing.get_json()["errors"]
    bad = client.post(url, json={"outcome": "corrected", "explanation": "按验收单更正",
                                 "corrected_payload": {**fixed, "amount": "-1"}})
    assert bad.status_code == 422 and "corrected_payload.amount" in bad.get_json()["errors"]
    same = client.post(url, json={"outcome": "corrected", "explanation": "x", "corrected_payload": rec.payload})
    assert same.status_code == 422
    ok = client.post(url, json={"outcome": "corrected", "explanation": "按验收单更正为按期履约", "corrected_payload": fixed})
    assert ok.status_code == 200, ok.get_json()
    db.refresh(rec)
    assert str(rec.status) == "corrected" and rec.version == 2 and rec.payload["status"] == "on_time"
    assert str(rec.polarity) == "good"
    old = db.scalars(sa.select(CreditRecordVersion).where(CreditRecordVersion.record_id == rec.id)).all()
    assert [v.payload["status"] for v in old] == ["breached"]


def test_a_utility_record_is_corrected_from_its_payload_as_the_archive_serves_it(db, client, make_enterprise, add,
                                                                                   firm_user, sign_in, operator):
    ent = make_enterprise()
    user = firm_user(ent)
    month = (TODAY.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    rec = add(ent, "utility", {"month": month.strftime("%Y-%m"), "consumption_kwh": "15000", "amount_due": "9300.00",
                               "status": "late", "paid_on": (month + dt.timedelta(days=50)).isoformat()})
    sign_in(user)
    filed = client.post("/api/v1/objections", data={"record_id": str(rec.id), "reason": "电费已按期缴纳，附缴费凭证",
                                                     "files": [(io.BytesIO(PDF), "凭证.pdf")]},
                        content_type="multipart/form-data")
    assert filed.status_code == 201, filed.get_json()
    sign_in(operator)
    served = rec.payload  # as stored and served: the month as its first day
    assert served["month"] == month.isoformat()
    ok = client.post(f"/api/v1/objections/{filed.get_json()['objection_no']}/resolve",
                     json={"outcome": "corrected", "explanation": "核实为按期缴纳",
                           "corrected_payload": {**served, "status": "on_time"}})
    assert ok.status_code == 200, ok.get_json()
    db.refresh(rec)
    assert str(rec.status) == "corrected" and rec.payload["status"] == "on_time" and str(rec.polarity) == "good"


def test_removed_takes_the_record_off_every_report(disputed, client, db, sign_in, operator):
    body, ent, user, rec = disputed
    sign_in(operator)
    assert client.post(f"/api/v1/objections/{body['objection_no']}/resolve",
                       json={"outcome": "removed", "explanation": "数据来源确认报送错误，予以删除"}).status_code == 200
    db.refresh(rec)
    assert str(rec.status) == "revoked"
    sign_in(user)
    assert self_report(client)["contract"] == []
    assert client.get(f"/api/v1/objections/{body['objection_no']}").get_json()["outcome_label"] == "已删除"


def test_who_may_see_and_resolve(disputed, client, sign_in, make_user, make_enterprise, firm_user, operator):
    body, ent, user, rec = disputed
    no = body["objection_no"]
    other = firm_user(make_enterprise())
    sign_in(other)
    assert client.get(f"/api/v1/objections/{no}").status_code == 404
    assert client.get("/api/v1/objections").get_json()["meta"]["total"] == 0
    assert client.get(f"/api/v1/objections/{no}/files/{body['files'][0]['id']}").status_code == 404
    assert client.post("/api/v1/objections", json={"record_id": rec.id, "reason": "别家的记录"}).status_code == 422
    sign_in(make_user("bank"))
    assert client.get("/api/v1/objections").status_code == 403
    assert client.post(f"/api/v1/objections/{no}/resolve", json={"outcome": "removed", "explanation": "x"}).status_code == 403
    sign_in(user)  # a firm never resolves its own objection
    resp = client.post(f"/api/v1/objections/{no}/resolve", json={"outcome": "removed", "explanation": "我说删就删"})
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_an_operator"
    sign_in(operator)
    assert client.get(f"/api/v1/objections/{no}").status_code == 200


def test_evidence_files_are_checked(client, make_enterprise, add, firm_user, sign_in, db, monkeypatch):
    from app.oversight import objections

    monkeypatch.setattr(objections, "MAX_FILE_BYTES", 4096)  # the 5 MB limit, scaled down for the test
    ent = make_enterprise()
    rec = add(ent, "contract", breached(40))
    sign_in(firm_user(ent))

    def file(data, name):
        return client.post("/api/v1/objections", data={"record_id": str(rec.id), "reason": "理由",
                                                       "files": [(io.BytesIO(data), name)]},
                           content_type="multipart/form-data")

    fake = file(b"MZ\x90\x00 not a pdf", "合同.pdf")
    assert fake.status_code == 422 and "不是 PDF、PNG 或 JPEG" in fake.get_json()["errors"]["files"][0]
    big = file(PDF + b"0" * 4096, "大文件.pdf")
    assert big.status_code == 422 and "超过" in big.get_json()["errors"]["files"][0]
    db.refresh(rec)
    assert str(rec.status) == "active"  # nothing was filed
    missing = client.post("/api/v1/objections", json={"reason": "没有记录编号"})
    assert missing.status_code == 422 and "record_id" in missing.get_json()["errors"]


def test_overdue_objections_are_listed(disputed, client, db, sign_in, operator):
    from app.oversight.models import Objection

    body, *_ = disputed
    obj = db.scalar(sa.select(Objection).where(Objection.objection_no == body["objection_no"]))
    obj.due_on = TODAY - dt.timedelta(days=1)
    db.flush()
    sign_in(operator)
    listed = client.get("/api/v1/objections?overdue=true").get_json()
    assert [o["objection_no"] for o in listed["items"]] == [body["objection_no"]] and listed["items"][0]["overdue"]
    obj.due_on = TODAY
    db.flush()
    assert client.get("/api/v1/objections?overdue=true").get_json()["meta"]["total"] == 0


def test_the_outcome_is_a_notice_and_resolving_twice_is_refused(disputed, client, db, sign_in, operator):
    body, ent, *_ = disputed
    sign_in(operator)
    url = f"/api/v1/objections/{body['objection_no']}/resolve"
    assert client.post(url, json={"outcome": "upheld", "explanation": "无误"}).status_code == 200
    assert client.post(url, json={"outcome": "removed", "explanation": "改主意"}).status_code == 409
    assert db.scalar(sa.select(sa.func.count()).select_from(Notice).where(Notice.enterprise_id == ent.id)) == 1
