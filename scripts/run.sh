#!/usr/bin/env bash
# 一条命令：安装到 .venv、通过迁移创建 SQLite 数据库、生成演示数据并启动服务。
# One command: install into .venv, build the SQLite database through the migrations,
# seed the demo data and start the service (gunicorn) on http://127.0.0.1:8000/.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY' || { echo "需要 Python 3.11 或更高版本" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
bash scripts/system-deps.sh
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

.venv/bin/powercredit db upgrade
.venv/bin/powercredit seed --firms "${PC_DEMO_FIRMS:-300}" --seed "${PC_DEMO_SEED:-2026}" ${PC_DEMO_AS_OF:+--as-of "$PC_DEMO_AS_OF"} \
  ${PC_DEMO_PASSWORD:+--password "$PC_DEMO_PASSWORD"}
.venv/bin/powercredit consents expire  # a demo made on an earlier day: consents past their end, expired
.venv/bin/powercredit audit sign-head  # a signed tree head of the audit log at every start (cron it hourly in production)
# One worker unless the rate limits and sign-in throttles are shared (Redis): memory:// counts
# per process, and two workers would each allow the full count.
if [ -z "${WORKERS:-}" ]; then
  case "${PC_RATELIMIT_STORAGE_URI:-memory://}" in memory://*) WORKERS=1 ;; *) WORKERS=2 ;; esac
fi
exec .venv/bin/powercredit serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" --workers "$WORKERS"
