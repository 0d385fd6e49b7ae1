"""Locust users for ``bench/http_floor.py``: ``GET /healthz`` (one ``SELECT 1``) as fast as
the server answers."""

from __future__ import annotations

from locust import FastHttpUser, constant, task


class Prober(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/healthz", name="GET /healthz")
