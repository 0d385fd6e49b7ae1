#!/usr/bin/env bash
# 一条命令：安装开发依赖并运行全部测试（SQLite；设置 TEST_DATABASE_URL 时同时在 PostgreSQL 上运行）。
# One command: install the dev extras and run the whole suite (SQLite, and PostgreSQL too
# when TEST_DATABASE_URL is set, as .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-deps.sh test
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

.venv/bin/ruff check app consent reports marketplace migrations tests bench
.venv/bin/mypy app consent reports marketplace
.venv/bin/lint-imports  # the layers of DESIGN.md (pyproject.toml: [tool.importlinter])
# One process per core (pytest-xdist); the tests of one demo database go to one worker
# (tests/conftest.py schedules them together), so each demo is seeded once per run.
# PC_TEST_WORKERS=0 runs in one process.
exec .venv/bin/pytest -n "${PC_TEST_WORKERS:-auto}" "$@"
