"""Locust users for ``bench/reports.py``: each user is one bank system pulling a firm's
report with its own consent-bound token (``PC_BENCH_TOKENS``: [[token, uscc], …])."""

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
        self.token, self.uscc = TOKENS[next(_next) % len(TOKENS)]

    @task
    def pull(self) -> None:
        with self.client.post("/api/v1/reports", json={"uscc": self.uscc, "purpose": "loan_application"},
                              headers={"Authorization": f"Bearer {self.token}"}, catch_response=True,
                              name="POST /api/v1/reports") as resp:
            if resp.status_code != 201:
                resp.failure(f"{resp.status_code} {resp.text[:200]}")
