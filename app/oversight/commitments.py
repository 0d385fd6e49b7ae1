"""Credit commitments (信用承诺): versioned texts (``data/commitments.json``; a version never
changes), signed by a firm's administrator.  A signature is a platform-signed statement
(Ed25519 JWS with the consents' keys, ``typ: pc-commitment+jws``) of who signed which text
version — its SHA-256 — when; it is filed in the firm's archive as a ``commitment`` record
(so it appears on reports and counts in the willingness dimension) and verifies offline."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.archive.ingestion import ingest_records
from app.archive.models import DataProvider, ProviderKind
from app.archive.services import create_provider
from app.audit import services as audit
from app.core import clock
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.core.signing import SigningKeys, verify_jws
from app.oversight.errors import CommitmentNotFound
from app.oversight.models import Commitment, CommitmentText
from app.scoring.services import run_evaluations

TEXTS_FILE = Path(__file__).with_name("data") / "commitments.json"
STATEMENT_TYP = "pc-commitment+jws"
PLATFORM_PROVIDER = "powercredit"  # the platform files what firms sign on it


def _sha(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def sync_texts(session: Session, path: Path = TEXTS_FILE) -> list[CommitmentText]:
    """The texts of the data file in the database (idempotent).  A version already stored
    with other words is refused: a new wording is a new version."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    stored = {(t.code, t.version): t for t in session.scalars(sa.select(CommitmentText))}
    latest: dict[str, str] = {}
    for raw in doc:
        key = (raw["code"], raw["version"])
        text = stored.get(key)
        if text is None:
            text = CommitmentText(code=raw["code"], version=raw["version"], title=raw["title"], body=raw["body"],
                                  sha256=_sha(raw["body"]), published_on=dt.date.fromisoformat(raw["published_on"]))
            session.add(text)
            stored[key] = text
        elif text.sha256 != _sha(raw["body"]):
            raise RuntimeError(f"承诺文本 {raw['code']} {raw['version']} 的内容与已发布的不同：请提升版本号")
        if raw["code"] not in latest or raw["version"] > latest[raw["code"]]:
            latest[raw["code"]] = raw["version"]
    for (code, version), text in stored.items():
        text.current = latest.get(code) == version
    session.flush()
    return sorted((t for t in stored.values() if t.current), key=lambda t: t.code)


def current_texts(session: Session) -> list[CommitmentText]:
    texts = list(session.scalars(sa.select(CommitmentText).where(CommitmentText.current.is_(True))
                                 .order_by(CommitmentText.code)))
    return texts or sync_texts(session)


def _platform_provider(session: Session) -> DataProvider:
    provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == PLATFORM_PROVIDER))
    if provider is None:
        provider = create_provider(session, code=PLATFORM_PROVIDER, name="电力征信平台（企业在线签署）",
                                   kind=ProviderKind.industry_body, categories=["commitment"])
    return provider


def statement_payload(c: Commitment) -> dict[str, Any]:
    return {
        "commitment_no": c.commitment_no,
        "enterprise": {"uscc": c.enterprise.uscc, "name": c.enterprise.name},
        "text": {"code": c.text.code, "version": c.text.version, "title": c.text.title, "sha256": c.text.sha256},
        "signatory": c.signatory, "signatory_title": c.signatory_title,
        "signed_at": c.signed_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def sign(session: Session, keys: SigningKeys, user: User, text_code: str, signatory: str, signatory_title: str,
         request_id: str | None = None) -> Commitment:
    if user.role != Role.firm or user.enterprise_id is None or user.enterprise is None:
        raise Forbidden("只有企业用户可以签署信用承诺", code="not_a_firm")
    text = next((t for t in current_texts(session) if t.code == text_code), None)
    if text is None:
        raise InvalidInput("承诺文本不存在", errors={"text": [f"没有编号为 {text_code} 的现行承诺文本。"]})
    if session.scalar(sa.select(Commitment.id).where(Commitment.enterprise_id == user.enterprise_id,
                                                     Commitment.text_id == text.id)):
        raise Conflict(f"本企业已签署《{text.title}》{text.version} 版", code="commitment_signed")
    now = clock.now().replace(microsecond=0)
    commitment = Commitment(commitment_no="cmt_" + secrets.token_hex(6), enterprise_id=user.enterprise_id,
                            text_id=text.id, user_id=user.id, signatory=signatory, signatory_title=signatory_title,
                            signed_at=now, statement="", kid=keys.active)
    commitment.enterprise, commitment.text = user.enterprise, text
    session.add(commitment)
    commitment.statement = keys.sign(statement_payload(commitment), STATEMENT_TYP)
    row = {"provider_ref": commitment.commitment_no, "uscc": user.enterprise.uscc, "category": "commitment",
           "payload": {"text_version": f"v{text.version}", "title": text.title,
                       "signed_on": now.astimezone(clock.BEIJING).date().isoformat(), "signatory": signatory,
                       "fulfilled": True}}
    result = ingest_records(session, _platform_provider(session), [row], source="api",
                            filename=f"在线签署 {commitment.commitment_no}")
    filed = result.rows[0]
    if filed.record_id is None:  # never expected: the platform files its own statement
        raise RuntimeError(f"承诺记录未能归档：{filed.errors}")
    commitment.record_id = filed.record_id
    session.flush()
    audit.record(session, f"user:{user.username}", "commitment.signed", subject_type="commitment",
                 subject_id=commitment.commitment_no, request_id=request_id,
                 detail={"text": text.code, "version": text.version, "sha256": text.sha256})
    run_evaluations(session, "single", [user.enterprise_id])
    return commitment


def get_commitment(session: Session, commitment_no: str) -> Commitment:
    c = session.scalar(sa.select(Commitment).where(Commitment.commitment_no == commitment_no))
    if c is None:
        raise CommitmentNotFound(f"没有编号为 {commitment_no} 的信用承诺")
    return c


def signed_by(session: Session, enterprise_id: int) -> list[Commitment]:
    return list(session.scalars(sa.select(Commitment).where(Commitment.enterprise_id == enterprise_id)
                                .order_by(Commitment.signed_at.desc(), Commitment.id.desc())))


def verify_statement(statement: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Offline: the statement's signature with the published keys (raises on any change)."""
    return verify_jws(statement.strip(), jwks, STATEMENT_TYP)
