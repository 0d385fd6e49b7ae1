"""Locust users for ``bench/reports.py --load-tool locust``: each user is one bank system
pulling firms' reports, each firm with its own consent-bound token (``PC_BENCH_TOKENS``:
[[token, uscc], …]); a user walks the pairs round-robin from its own starting point, as
``bench/wrk_reports.lua`` does."""

from __future__ import annotations

import itertools
import json
import os

from locust import FastHttpUser, constant, task

TOKENS = json.loads(os.environ.get("PC_BENCH_TOKENS", "[]"))
_next = itertools.count()


class BankSystem(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        start = next(_next) * max(1, len(TOKENS) // 16)
        self.pairs = itertools.cycle(TOKENS[start % len(TOKENS):] + TOKENS[:start % len(TOKENS)])

    @task
    def pull(self) -> None:
        token, uscc = next(self.pairs)
        with self.client.post("/api/v1/reports", json={"uscc": uscc, "purpose": "loan_application"},
                              headers={"Authorization": f"Bearer {token}"}, catch_response=True,
                              name="POST /api/v1/reports") as resp:
            if resp.status_code != 201:
                resp.failure(f"{resp.status_code} {resp.text[:200]}")
