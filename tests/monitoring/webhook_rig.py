"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread that
verifies every request with ``standardwebhooks`` as a receiver would, and answers what the
test tells it to."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    host: str
    status: int  # what the receiver answered

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Receiver:
    """``answer(request) -> status``; every request is kept in ``received``."""

    server: http.server.ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], int] = lambda r: 204
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            rig = holder["rig"]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                               self.headers.get("host", ""), 0)
            if rig.delay:
                time.sleep(rig.delay)
            request.status = rig.answer(request)
            with rig.lock:
                rig.received.append(request)
            self.send_response(request.status)
            if request.status in (204, 304):
                self.end_headers()
                return
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            return None  # a client that dropped its kept-alive connection is no news

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rig = Receiver(server)
    holder["rig"] = rig
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rig
