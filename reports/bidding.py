"""The bidding edition (招投标专用版): what a firm attaches to a bid — its public facts only.

Its sections: registration facts; the current grade and until when it holds; the grade
certificate; the lists it is on and what they mean in a tender (the black list bars it from
power groups' tenders and material procurement, the watch list earns a risk warning, the red
list 守信激励); the 双公示 licences and penalties within their publication period; the credit
commitments it signed.  Everything else the archive holds (tax, contracts, electricity bills,
loans, judgments, the query log…) stays out, as it stays off the public enterprise page: the
public parts come from ``app.oversight.disclosure``, the same functions that page uses.

Validity of a grade (ours; the scorecard documents no scheduled re-evaluation): twelve
months from its base date, to the day before its anniversary — counted as a certificate's
validity is (``app.certificates.rules.term_end``: a base date of 29 February holds to
28 February, its anniversary in a common year being 1 March); a newer evaluation within that
time replaces it.  NR (不予评级) has no validity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import (
    CATEGORY_LABELS,
    LIVE_STATUSES,
    Category,
    CreditRecord,
    DataProvider,
    Enterprise,
)
from app.certificates.models import CERTIFICATE_STATUS_LABELS, CertificateStatus
from app.certificates.rules import term_end
from app.certificates.services import current_certificate
from app.oversight.disclosure import LICENCE_FIELDS, PENALTY_FIELDS, public_profile
from app.oversight.models import LIST_LABELS, EntryStatus, ListEntry, ListName
from app.scoring.scorecard import GRADE_LABELS, NOT_RATED
from app.scoring.services import main_scorecard_id
from reports.sections import CURRENT_EXPLANATION, EVALUATIONS, evaluation_of, identity, iso

BIDDING_SECTIONS = ("identity", "rating", "certificate", "restrictions", "licences", "penalties", "commitments")
SECTION_TITLES = {
    "identity": "登记信息", "rating": "信用等级及有效期", "certificate": "信用等级证书",
    "restrictions": "信用名单与投标限制", "licences": "行政许可（双公示）", "penalties": "行政处罚（双公示，公示期内）",
    "commitments": "信用承诺",
}
GRADE_VALID_MONTHS = 12
VALIDITY_RULE = (f"信用等级自评价基准日起 {GRADE_VALID_MONTHS} 个月内有效（至基准日满 {GRADE_VALID_MONTHS} 个月的前一日）；"
                 "有效期内重新评价的，以最新评价为准。不予评级（NR）无有效期。")
NOT_RATED_TEXT = "不予评级"
NO_CERTIFICATE = "未取得信用等级证书"

# What each list means in a tender (CEC 2022 opinion: 失信联合惩戒 firms are barred from power
# groups' tenders and material procurement; 重点关注 firms get a risk warning).
EFFECTS = {ListName.black: "barred", ListName.watch: "warning", ListName.red: "incentive"}
EFFECT_TEXTS = {
    ListName.black: "列入失信联合惩戒名单：限制参加电力集团公司及所属企业招标与物资采购",
    ListName.watch: "列入重点关注名单：参加电力集团公司及所属企业招标与物资采购时予以风险提示",
    ListName.red: "列入守信激励名单（红名单）：依规享受守信激励措施",
}
EFFECT_ORDER = {ListName.black: 0, ListName.watch: 1, ListName.red: 2}
# The records whose document number a listing's basis names: public documents by nature (a
# 双公示 penalty decision, a court's 失信被执行人 case); any other record is named by its
# criterion alone, as the published lists name it.
BASIS_DOCUMENTS = {Category.penalty: ("decision_no", "decided_on"), Category.judicial: ("case_no", "published_on")}


def grade_valid_until(as_of: dt.date) -> dt.date:
    """The last day a grade evaluated as of ``as_of`` holds (see the module's docstring)."""
    return term_end(as_of, GRADE_VALID_MONTHS)


def rating(session: Session, ent: Enterprise, today: dt.date) -> dict[str, Any] | None:
    """The current grade with its validity (None before the first evaluation): the public
    facts of the evaluation — no explanation, no adverse factor, no history."""
    current = evaluation_of(EVALUATIONS.rows(session, {"ent_id": ent.id, "card_id": main_scorecard_id()}),
                            CURRENT_EXPLANATION.rows(session, {"ent_id": ent.id}), str(ent.segment),
                            visible=frozenset(), lists_visible=False)
    if current is None:
        return None
    not_rated = current["grade"] == NOT_RATED
    as_of = dt.date.fromisoformat(current["as_of"])
    valid_until = None if not_rated else grade_valid_until(as_of)
    return {
        "grade": current["grade"],
        "grade_label": NOT_RATED_TEXT if not_rated else GRADE_LABELS.get(current["grade"], current["grade"]),
        "not_rated": not_rated,
        "reason": current["reason"],
        "score": current["score"],
        "supervision_class": current["supervision_class"],
        "supervision_label": current["supervision_label"],
        "scorecard_version": current["scorecard_version"],
        "as_of": current["as_of"],
        "evaluated_at": current["evaluated_at"],
        "valid_from": None if not_rated else current["as_of"],
        "valid_until": iso(valid_until),
        "in_force": valid_until is not None and today <= valid_until,
        "validity_rule": VALIDITY_RULE,
        "note": current["note"],
    }


def certificate(session: Session, ent: Enterprise, today: dt.date) -> dict[str, Any] | None:
    """The firm's certificate on ``today`` (issued or suspended, within its validity: the
    certificates package decides), with where anyone can check it; None when it holds none."""
    cert = current_certificate(session, ent.id, today)
    if cert is None:
        return None
    suspended = cert.status == CertificateStatus.suspended
    return {
        "certificate_no": cert.certificate_no,
        "grade": cert.grade,
        "grade_as_of": iso(cert.grade_as_of),
        "status": str(cert.status),
        "status_label": CERTIFICATE_STATUS_LABELS[cert.status],
        "status_reason": cert.status_reason if suspended else None,
        "issued_at": iso(cert.issued_at),
        "valid_from": iso(cert.valid_from),
        "valid_until": iso(cert.valid_until),
        "next_review_on": iso(cert.next_review_on),
        "verify_path": f"/verify/{cert.certificate_no}",
    }


def restrictions(session: Session, ent: Enterprise) -> dict[str, Any]:
    """The lists the firm is on now (published entries), each with what it means in a tender
    and its basis: the criteria met and the public documents behind them, with the dates."""
    entries = sorted(session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id == ent.id,
                                                               ListEntry.status == EntryStatus.active)),
                     key=lambda e: (EFFECT_ORDER[e.list_name], e.published_on or e.entered_on, e.id))
    record_ids = {rid for e in entries for b in e.basis for rid in b.get("records", ())}
    documents: dict[int, dict[str, Any]] = {}
    if record_ids:
        for rid, category, payload, occurred in session.execute(
                sa.select(CreditRecord.id, CreditRecord.category, CreditRecord.payload, CreditRecord.occurred_on)
                .where(CreditRecord.id.in_(sorted(record_ids)),
                       CreditRecord.category.in_(list(BASIS_DOCUMENTS)))):
            number_key, date_key = BASIS_DOCUMENTS[Category(category)]
            payload = payload or {}
            documents[rid] = {"category": str(category), "category_label": CATEGORY_LABELS[Category(category)],
                              "number": payload.get(number_key), "date": payload.get(date_key) or occurred.isoformat()}
    items = [{
        "list": str(e.list_name), "label": LIST_LABELS[e.list_name], "effect": EFFECTS[e.list_name],
        "text": EFFECT_TEXTS[e.list_name], "entry_no": e.id, "criteria_version": e.criteria_version,
        "entered_on": iso(e.entered_on), "published_on": iso(e.published_on), "ends_on": iso(e.ends_on),
        "basis": [{"label": b["label"],
                   "documents": [documents[rid] for rid in b.get("records", ()) if rid in documents]}
                  for b in e.basis],
    } for e in entries]
    barred = any(e["effect"] == "barred" for e in items)
    warned = any(e["effect"] == "warning" for e in items)
    if barred:
        summary = EFFECT_TEXTS[ListName.black] + "。"
    elif warned:
        summary = "风险提示：" + EFFECT_TEXTS[ListName.watch] + "。"
    else:
        summary = "未列入失信联合惩戒名单或重点关注名单，无因信用名单产生的投标限制。"
    return {"barred": barred, "warning": warned, "summary": summary, "entries": items}


def _pick(payload: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: payload[k] for k in keys if payload.get(k) is not None}


def public_records(session: Session, ent: Enterprise, profile: dict[str, Any]) -> dict[str, Any]:
    """The 双公示 licences and penalties exactly as the public page shows them (``profile``,
    from ``public_profile``), each marked ``disputed`` when the record behind it is in
    dispute (rule 4: on every report), with the sources and the latest update of those
    records for the statement."""
    rows = session.execute(
        sa.select(sa.type_coerce(CreditRecord.category, sa.String()), CreditRecord.payload,
                  sa.type_coerce(CreditRecord.status, sa.String()), DataProvider.code, DataProvider.name,
                  CreditRecord.updated_at)
        .join(DataProvider, DataProvider.id == CreditRecord.provider_id)
        .where(CreditRecord.enterprise_id == ent.id, CreditRecord.category.in_([Category.licence, Category.penalty]),
               CreditRecord.status.in_(list(LIVE_STATUSES)))).all()
    fields = {"licence": LICENCE_FIELDS, "penalty": PENALTY_FIELDS}
    behind: dict[tuple[str, str], list[tuple[str, str, str, dt.datetime]]] = {}
    for category, payload, status, code, name, updated in rows:
        key = (category, _canon(_pick(payload or {}, fields[category])))
        behind.setdefault(key, []).append((status, code, name, updated))
    out: dict[str, Any] = {"licences": [], "penalties": []}
    sources: dict[str, tuple[str, int]] = {}
    updated_to: dt.datetime | None = None
    disputed = 0
    for section, category in (("licences", "licence"), ("penalties", "penalty")):
        for item in profile[section]:
            matches = behind.get((category, _canon(item)), [])
            is_disputed = any(status == "disputed" for status, *_ in matches)
            disputed += is_disputed
            for _, code, name, updated in matches:
                sources[code] = (name, sources.get(code, (name, 0))[1] + 1)
                updated_to = updated if updated_to is None or updated > updated_to else updated_to
            out[section].append({**item, "disputed": is_disputed})
    out["sources"] = [{"provider": code, "name": name, "records": n} for code, (name, n) in sorted(sources.items())]
    out["updated_to"] = updated_to
    out["disputed"] = disputed
    return out


def _canon(picked: dict[str, Any]) -> str:
    return orjson.dumps(picked, option=orjson.OPT_SORT_KEYS).decode()


def build(session: Session, ent: Enterprise, as_of: dt.date) -> tuple[dict[str, Any], dict[str, Any]]:
    """The edition's sections, and for the statement its sources, latest update and the
    number of disputed records shown."""
    profile = public_profile(session, ent)
    public = public_records(session, ent, profile)
    sections = {
        "identity": identity(ent),
        "rating": rating(session, ent, as_of),
        "certificate": certificate(session, ent, as_of),
        "restrictions": restrictions(session, ent),
        "licences": public["licences"],
        "penalties": public["penalties"],
        "commitments": [{"title": c["title"], "version": c["version"], "signed_at": iso(c["signed_at"]),
                         "commitment_no": c["commitment_no"]} for c in profile["commitments"]],
    }
    meta = {"sources": public["sources"], "updated_to": public["updated_to"], "disputed": public["disputed"]}
    return sections, meta
