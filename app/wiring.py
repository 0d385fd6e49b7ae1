"""What the roof connects at start-up: where a lower layer needs something of a higher one,
the higher one hands it in here (the application factory, the CLI and the benchmarks call
:func:`wire`; it may be called again)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.core import jobs


def wire() -> None:
    import app.models  # noqa: F401 — every model mapped (the OAuth token's consent is named, not imported)
    from app.archive import ingestion
    from app.audit import services as audit
    from app.certificates import events as certificate_events
    from app.certificates import pdf as certificate_pdf
    from app.certificates import rules as certificate_rules
    from app.certificates import services as certificates
    from app.core import auth, verification
    from app.monitoring import events as monitoring_events
    from app.oauth import bearer
    from app.oauth import server as oauth_server
    from app.oversight import memberships, notices
    from app.procurement import services as procurement
    from app.scoring import services as scoring
    from consent import server as consent_server
    from consent import services as consent_services
    from reports.pdf import register_font

    audit.init_app()  # refusals the unit of work remembers are written to the audit log
    scoring.set_membership_source(memberships.list_memberships)  # list caps in every grade
    ingestion.set_reevaluation(scoring.reevaluated_firms)  # a provider's batch re-grades the firms it changed
    auth.set_bearer_check(bearer.acquire_token)  # the OAuth server checks every bearer token
    oauth_server.bind(consent_server.BINDING)  # consent-bound grants; tokens checked against their consent
    monitoring_events.init_app()  # changes below write monitoring's events in their own transaction
    certificate_rules.load()  # a bad PC_CERTIFICATE_RULES stops start-up, naming the key
    certificate_events.init_app()  # re-grades and black-list entries suspend, revoke or restore certificates
    certificate_pdf.set_font(register_font)  # certificate PDFs embed the reports' Chinese font
    verification.register(verification.Kind("PCC", "信用等级证书", certificates.verification,
                                            "certificates/verify.html"))  # /verify/PCC…
    verification.register(verification.Kind(procurement.PREFIX, procurement.KIND_LABEL,
                                            procurement.public_verification,
                                            "procurement/verify.html"))  # /verify/PS…: screenings
    notices.register_subject("consent", consent_services.notice_states)  # a notice says where its consent stands
    wire_files()
    register_jobs()


def wire_files() -> None:
    """The signed files ``powercredit verify`` checks offline beside reports: a screening's.
    Called by :func:`wire` and by the CLI on import, since ``verify`` runs no start-up (it must
    create nothing on a machine without an instance).  Registering again replaces."""
    from app.procurement import services as procurement
    from reports.cli import SignedFile, register_file

    register_file(SignedFile("screening", procurement.KIND_LABEL, "screening_no",
                             procurement.verify_envelope, procurement.describe_statement))


# --- the work the job queue runs (app.core.jobs), by name ------------------------------------


def _sign_head(runtime: jobs.Runtime) -> str:
    from app.audit.jobs import sign_tree_head

    head = sign_tree_head(runtime.database, runtime.settings)
    return f"tree_size={head.get('tree_size')}"


def _retention(runtime: jobs.Runtime) -> str:
    from app.archive.services import expire_records

    with runtime.database.transaction() as session:
        return f"expired={expire_records(session, None)}"


def _refresh_lists(runtime: jobs.Runtime) -> str:
    from app.oversight.lists import refresh

    with runtime.database.transaction() as session:
        result = refresh(session, None, actor="job")
    return (f"entered={sum(result.entered.values())} exited={sum(result.exited.values())} "
            f"reevaluated={result.reevaluated}")


def _evaluate_changed(runtime: jobs.Runtime) -> str:
    from app.scoring.services import run_evaluations

    with runtime.database.transaction() as session:
        run = run_evaluations(session, "changed", None, None)
    return f"run={run.id} evaluated={run.evaluated} unchanged={run.unchanged}"


def _monthly_index(runtime: jobs.Runtime, month: str | None = None) -> str:
    """Last calendar month's index (Beijing time) and its early warnings: one ``index.warning``
    event per breach, written once (a breach already raised for the month, by its ``key``,
    is not raised again, by this run or a concurrent one: the key is unique in the outbox)."""
    from app.monitoring.models import EventType, MonitoringEvent
    from app.monitoring.services import NewEvent, write_events
    from app.scoring.index import index_warnings, last_month, load_thresholds

    month = month or last_month()
    thresholds = load_thresholds()  # a bad file stops the job here, saying which key

    def raise_new() -> tuple[int, int]:
        with runtime.database.transaction() as session:
            found = index_warnings(session, month, thresholds)
            raised = set(session.scalars(sa.select(MonitoringEvent.dedupe_key).where(
                MonitoringEvent.dedupe_key.in_([w["key"] for w in found]))))
            new = [w for w in found if w["key"] not in raised]
            write_events(session, [NewEvent(type=str(EventType.index_warning), enterprise_id=None, data=w,
                                            public=True, dedupe_key=w["key"]) for w in new])
        return len(found), len(new)

    try:
        found, new = raise_new()
    except IntegrityError:  # another run raised some of them meanwhile: the rest, once
        found, new = raise_new()
    return f"month={month} warnings={found} raised={new}"


def _dispatch(runtime: jobs.Runtime) -> int:
    from app.monitoring.services import dispatch_all

    return dispatch_all(runtime.database)


def _deliver(runtime: jobs.Runtime) -> int:
    from app.monitoring.webhooks import deliver_due

    return deliver_due(runtime)


def _advance_certificates(runtime: jobs.Runtime) -> str:
    from app.certificates.services import advance
    from app.core.signing import load_signing_keys

    keys = load_signing_keys(runtime.settings)
    with runtime.database.transaction() as session:
        return advance(session, keys).summary()


def register_jobs() -> None:
    entries: list[tuple[str, str, Any]] = [
        ("audit.sign_head", "签署审计日志树头", _sign_head),
        ("archive.retention", "不良记录保存期满标记为已过期", _retention),
        ("oversight.refresh_lists", "重新计算红黑名单与重点关注名单", _refresh_lists),
        ("scoring.evaluate_changed", "评价记录有变化的企业", _evaluate_changed),
        ("scoring.monthly_index", "月度信用电力指数与预警", _monthly_index),
        ("certificates.advance", "信用等级证书：到期、按规则复核与年度复核、公示期满发证", _advance_certificates),
    ]
    for name, label, run in entries:
        jobs.register(name, label, run)
    jobs.register("monitoring.deliver", "发送到期的 Webhook 推送", _deliver, sweep=True)
    jobs.register("monitoring.dispatch", "把新事件分发为预警与推送", _dispatch, sweep=True)
