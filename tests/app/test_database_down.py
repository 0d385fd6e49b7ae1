"""The database down: every API and OAuth call answers 503 problem+json with Retry-After, a
page a Chinese 503 page, and the CLI (serve first) one line, not a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import main

DOWN = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"  # nothing listens on port 1


@pytest.fixture(scope="module")
def down(tmp_path_factory):
    from app import create_app

    return create_app({"database_url": DOWN, "instance_path": tmp_path_factory.mktemp("down"), "secret_key": "k" * 32,
                       "testing": True})


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/enterprises/91330106MA2H00013Y/evaluation", None),
    ("GET", "/api/v1/public/enterprises/91330106MA2H00013Y", None),
    ("POST", "/oauth/token", {"grant_type": "client_credentials"}),
    ("GET", "/healthz", None),
])
def test_api_and_oauth_calls_answer_503_with_retry_after(down, method, path, body):
    client = down.test_client()
    basic = {"Authorization": "Basic eDp5"}  # x:y — the client is looked up in the database
    resp = client.open(path, method=method, data=body, headers=basic if path.startswith("/oauth") else {})
    assert resp.status_code == 503, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json" and resp.headers["Retry-After"] == "5"
    assert resp.get_json()["code"] == "database_unavailable"


def test_a_page_answers_a_chinese_503_page(down):
    resp = down.test_client().get("/enterprises/91330106MA2H00013Y", headers={"Accept": "text/html"})
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    assert "服务暂不可用" in resp.get_data(as_text=True) and resp.headers["Retry-After"] == "5"


def test_serve_and_other_commands_say_so_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", DOWN)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    for args in (["serve", "--port", "18999"], ["evaluate", "--all"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert "无法连接数据库" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
