"""Monitoring benchmark: firms watched by banks and groups; a provider's batch of records
ingested, its events dispatched into alerts, and the webhook fan-out to a local receiver.

    .venv/bin/python bench/monitoring.py [--firms 100000] [--records 100000] [--banks 50] [--groups 5]
                                         [--backend sqlite|postgresql]
                                         [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

1. A fresh database built by the migrations with N firms (bench/ingest.py's), B banks each
   watching N/B firms under an active 贷后管理 consent (all sections) with a webhook
   endpoint, and G groups: each a parent firm holding N/G firms over two levels, watching
   all its subsidiaries (one ``include_subsidiaries`` subscription, a webhook endpoint), with
   集团信用管理 consents from half of them.
2. Alerts: a child process ingests R records (one provider's batch, ``submit_batch`` in one
   transaction, no re-evaluation) and then runs the dispatch as the queue's consumer does
   (``dispatch_all``); printed: the time from the batch's commit until every alert is
   written (target: under 60 s), the events, alerts and query-log entries, the child's peak RSS.
3. Fan-out: a child process sends every pending delivery (``deliver_due``, as the consumer's
   ``monitoring.deliver`` sweep) to a receiver in another process (a threaded HTTP/1.1
   server answering 204); printed: deliveries/s (target: at least 500/s) and the child's
   peak RSS (target: under 300 MB).
4. Floor: the same number of POSTs of the same bodies, signed, from the same number of
   threads on one urllib3 PoolManager to the same receiver (no database); the ratio is
   service ÷ floor.

It prints figures; it is not a test.  Dates are the real today's (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.ingest import fresh_database, make_firms, populate  # noqa: E402

ALERT_TARGET_S = 60.0
FANOUT_TARGET = 500.0
RSS_LIMIT_MB = 300
SCHEMAS = ("bench_monitoring",)


def peak_rss_mb() -> float:
    """This process's own peak (VmHWM): ``ru_maxrss`` survives exec, so a spawned child
    would report its parent's peak (the 100,000 firms made before it)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def settings_for(url: str, instance: str) -> Any:
    from app.core.config import load_settings

    return load_settings({"database_url": url, "instance_path": instance, "secret_key": "bench",
                          "webhook_allow_http": True, "webhook_allow_private": True})


# --- the receiver ------------------------------------------------------------------------


def _receive(port_queue: Any) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 — the http.server protocol
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def start_receiver() -> tuple[Any, int]:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_receive, args=(q,), daemon=True)
    proc.start()
    return proc, int(q.get(timeout=30))


# --- set-up ------------------------------------------------------------------------------


def watchers(url: str, instance: str, banks: int, groups: int, receiver: str) -> dict[str, int]:
    """Banks, groups, consents, subscriptions, relations and endpoints, written in bulk."""
    import app.models  # noqa: F401
    from app.accounts.models import Institution
    from app.archive.models import Enterprise, EnterpriseRelation
    from app.core import clock
    from app.core.crypto import FieldCipher
    from app.core.db import Database
    from app.monitoring.models import Subscription, WebhookEndpoint
    from app.monitoring.services import new_id
    from app.monitoring.webhooks import new_secret
    from app.oauth.scopes import REPORT_SECTIONS
    from consent.models import Consent

    settings = settings_for(url, instance)
    from app.core.crypto import load_keyring

    cipher = FieldCipher(load_keyring(settings))
    db = Database(url)
    now = clock.now()
    today = clock.today()
    try:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)))
            usccs = dict(s.execute(sa.select(Enterprise.id, Enterprise.uscc)).all())
            bank_ids = []
            for b in range(banks):
                inst = Institution(name=f"基准测试银行{b}", licence_no=f"BENCH-B{b}", kind="bank")
                s.add(inst)
                s.flush()
                bank_ids.append(inst.id)
            parents = ids[:groups]
            group_ids = []
            for g, parent in enumerate(parents):
                inst = Institution(name=f"基准测试集团{g}", licence_no=f"BENCH-G{g}", kind="group", uscc=usccs[parent])
                s.add(inst)
                s.flush()
                group_ids.append(inst.id)
            consent = {"data_from": today - dt.timedelta(days=3 * 365), "data_to": today,
                           "valid_from": now - dt.timedelta(days=1), "valid_until": now + dt.timedelta(days=300),
                           "fetch_type": "periodic", "frequency_unit": "month", "frequency_value": 10, "data_life_unit": "month",
                           "data_life_value": 6, "status": "ACTIVE", "created_via": "firm", "scopes": sorted(REPORT_SECTIONS),
                           "created_at": now, "status_changed_at": now, "use_count": 0, "window_count": 0, "version": 1}
            rows, subs, rels = [], [], []
            children = ids[groups:]
            for n, ent in enumerate(children):
                bank = bank_ids[n % banks]
                rows.append({**consent, "consent_id": f"cns_bench_{n}", "enterprise_id": ent, "institution_id": bank,
                             "purpose": "post_loan_monitoring"})
                subs.append({"subscription_id": new_id("sub_"), "enterprise_id": ent, "kind": "bank",
                             "institution_id": bank, "subscriber_enterprise_id": None, "events": [], "categories": [],
                             "min_severity": 0, "include_subsidiaries": False, "created_at": now,
                             "created_by": "bench"})
                g = n % groups
                level1 = children[g: groups * 20: groups]  # 20 second-level companies per group
                parent = parents[g] if ent in level1 else level1[n % len(level1)]
                if parent != ent:
                    rels.append({"parent_id": parent, "child_id": ent, "kind": "controlling", "share": 60,
                                 "valid_from": today - dt.timedelta(days=400), "valid_to": None, "operator": "bench",
                                 "created_at": now})
                if n % 2 == 0:
                    rows.append({**consent, "consent_id": f"cns_bench_g{n}", "enterprise_id": ent,
                                 "institution_id": group_ids[g], "purpose": "group_credit_management"})
            for start in range(0, len(rows), 5000):
                s.execute(sa.insert(Consent), rows[start:start + 5000])
            for start in range(0, len(subs), 5000):
                s.execute(sa.insert(Subscription), subs[start:start + 5000])
            for start in range(0, len(rels), 5000):
                s.execute(sa.insert(EnterpriseRelation), rels[start:start + 5000])
            for g, parent in enumerate(parents):
                s.add(Subscription(subscription_id=new_id("sub_"), enterprise_id=parent, kind="group",
                                   institution_id=group_ids[g], events=[], categories=[], min_severity=0,
                                   include_subsidiaries=True, created_by="bench"))
            for owner in bank_ids + group_ids:
                endpoint_id = new_id("ep_")
                secret = new_secret()
                s.add(WebhookEndpoint(endpoint_id=endpoint_id, institution_id=owner, url=receiver, events=[],
                                      description="bench",
                                      secret=cipher.encrypt(secret, table="webhook_endpoint", column="secret",
                                                            row=endpoint_id) or "",
                                      created_by="bench"))
        return {"consents": len(rows), "subscriptions": len(subs) + groups, "relations": len(rels)}
    finally:
        db.dispose()


# --- measurements (children) -------------------------------------------------------------


def measure_alerts(url: str, instance: str, path: str) -> dict[str, Any]:
    from app import wiring
    from app.archive.ingestion import submit_batch
    from app.archive.models import DataProvider
    from app.archive.readers import iter_file
    from app.core.db import Database
    from app.monitoring.models import Alert, MonitoringEvent, WebhookDelivery
    from app.monitoring.services import dispatch_all
    from bench.ingest import PROVIDER_CODE
    from consent.models import QueryLog

    wiring.wire()
    db = Database(url)
    try:
        start = time.perf_counter()
        with db.transaction() as s:
            provider = s.scalars(sa.select(DataProvider).where(DataProvider.code == PROVIDER_CODE)).one()
            result = submit_batch(s, provider, iter_file(Path(path)), reevaluate=False, source="file",
                                  keep_rows=False, chunk_size=2000)
        committed = time.perf_counter()
        events = dispatch_all(db)
        done = time.perf_counter()
        with db.reading() as s:
            counts = {name: s.scalar(sa.select(sa.func.count()).select_from(model))
                      for name, model in (("events", MonitoringEvent), ("alerts", Alert), ("query_log", QueryLog),
                                          ("deliveries", WebhookDelivery))}
        return {"accepted": result.accepted, "ingest_s": committed - start, "dispatch_s": done - committed,
                "dispatched": events, **counts, "rss_mb": peak_rss_mb()}
    finally:
        db.dispose()


def measure_fanout(url: str, instance: str) -> dict[str, Any]:
    from app import wiring
    from app.core.db import Database
    from app.core.jobs import Runtime
    from app.monitoring.models import DeliveryStatus, WebhookDelivery
    from app.monitoring.webhooks import deliver_due

    wiring.wire()
    db = Database(url)
    try:
        runtime = Runtime(db, settings_for(url, instance))
        start = time.perf_counter()
        sent = deliver_due(runtime, limit=2000, workers=32, max_rounds=100_000)
        elapsed = time.perf_counter() - start
        with db.reading() as s:
            by_status = dict(s.execute(sa.select(WebhookDelivery.status, sa.func.count())
                                       .group_by(WebhookDelivery.status)).all())
        return {"sent": sent, "seconds": elapsed, "per_s": sent / elapsed if elapsed else 0.0,
                "succeeded": by_status.get(DeliveryStatus.succeeded, 0),
                "pending": by_status.get(DeliveryStatus.pending, 0), "rss_mb": peak_rss_mb()}
    finally:
        db.dispose()


def measure_floor(url: str, receiver: str, count: int) -> dict[str, Any]:
    """Bare urllib3 POSTs of the same bodies with Standard Webhooks headers, 32 threads."""
    import urllib3
    from standardwebhooks import Webhook

    from app.core.db import Database
    from app.monitoring.models import WebhookDelivery

    db = Database(url)
    with db.reading() as s:
        bodies = list(s.scalars(sa.select(WebhookDelivery.body).limit(count)))
    db.dispose()
    hook = Webhook("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    pm = urllib3.PoolManager(maxsize=64, block=True)

    def post(i: int) -> int:
        body = bodies[i % len(bodies)]
        msg = f"msg_floor_{i}"
        now = dt.datetime.now(dt.UTC)
        headers = {"webhook-id": msg, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": hook.sign(msg, now, body), "content-type": "application/json"}
        return int(pm.request("POST", receiver, body=body.encode(), headers=headers, retries=False).status)

    start = time.perf_counter()
    with ThreadPoolExecutor(32) as ex:
        statuses = list(ex.map(post, range(count)))
    elapsed = time.perf_counter() - start
    return {"sent": count, "per_s": count / elapsed, "ok": sum(1 for s in statuses if s == 204)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--banks", type=int, default=50)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    from bench.ingest import write_ndjson

    with tempfile.TemporaryDirectory(prefix="pc-bench-monitoring-") as tmp:
        instance = str(Path(tmp) / "instance")
        os.makedirs(instance, exist_ok=True)
        receiver_proc, port = start_receiver()
        receiver = f"http://127.0.0.1:{port}/hooks"
        try:
            url = fresh_database(args.backend, Path(tmp), args.pg_url, SCHEMAS[0])
            t = time.perf_counter()
            firms = make_firms(args.firms, args.seed)
            populate(url, firms)
            setup = watchers(url, instance, args.banks, args.groups, receiver)
            print(f"[{args.backend}] 准备：企业 {args.firms}，银行 {args.banks}，集团 {args.groups}；"
                  f"授权 {setup['consents']}，订阅 {setup['subscriptions']}，股权关系 {setup['relations']}"
                  f"（{time.perf_counter() - t:.0f} s）", flush=True)
            path = Path(tmp) / "records.ndjson"
            write_ndjson(path, [f["uscc"] for f in firms[args.groups:]], args.records, args.seed)
            alerts = in_child(measure_alerts, url, instance, str(path))
            verdict = "达标" if alerts["dispatch_s"] < ALERT_TARGET_S else "未达标"
            print(f"[{args.backend}] 报送 {alerts['accepted']} 条（{alerts['ingest_s']:.1f} s）→ 事件 {alerts['events']}，"
                  f"预警 {alerts['alerts']}，查询记录 {alerts['query_log']}，待推送 {alerts['deliveries']}；"
                  f"提交后 {alerts['dispatch_s']:.1f} s 全部预警写入（目标 < {ALERT_TARGET_S:.0f} s，{verdict}）；"
                  f"峰值内存 {alerts['rss_mb']:.0f} MB", flush=True)
            fan = in_child(measure_fanout, url, instance)
            floor = in_child(measure_floor, url, receiver, min(fan["sent"], 20_000) or 1000)
            verdict = "达标" if fan["per_s"] >= FANOUT_TARGET else "未达标"
            mem = "达标" if max(fan["rss_mb"], alerts["rss_mb"]) < RSS_LIMIT_MB else "未达标"
            print(f"[{args.backend}] Webhook 推送 {fan['sent']} 次（成功 {fan['succeeded']}，待发 {fan['pending']}），"
                  f"{fan['seconds']:.1f} s，{fan['per_s']:.0f} 次/s（目标 ≥ {FANOUT_TARGET:.0f}/s，{verdict}）；"
                  f"峰值内存 {fan['rss_mb']:.0f} MB（目标 < {RSS_LIMIT_MB} MB，{mem}）", flush=True)
            print(f"[{args.backend}] 下限（裸 urllib3，同样 32 线程、同样正文与签名）：{floor['per_s']:.0f} 次/s"
                  f"（成功 {floor['ok']}/{floor['sent']}）；推送速度 / 下限 = {fan['per_s'] / floor['per_s']:.2f}",
                  flush=True)
        finally:
            receiver_proc.terminate()
            if args.backend == "postgresql":
                drop_schemas_monitoring(args.pg_url)


def drop_schemas_monitoring(pg_base: str) -> None:
    from bench.ingest import pg_url

    engine = sa.create_engine(pg_url(pg_base, "public"))
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()



if __name__ == "__main__":
    main()
