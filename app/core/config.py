"""Settings: read from the environment in one place.

Every setting has an environment variable (``PC_…`` or the conventional name such as
``DATABASE_URL``) and a safe default.  Secrets (the Flask secret key, the field-encryption
keys, the signing keys) are never given insecure defaults: when the environment does not
supply them they are generated once into the instance folder (mode 0600) and reused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # app/core/config.py → the checkout


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int  # passes
    memory_kib: int
    parallelism: int  # lanes


PROFILES = {
    "production": Argon2Params(time_cost=3, memory_kib=64 * 1024, parallelism=4),
    "test": Argon2Params(time_cost=1, memory_kib=8, parallelism=1),
}
# OWASP Password Storage Cheat Sheet, Argon2id: any one of these (memory KiB, passes) at one
# lane is the minimum; they trade memory for passes at equal defence.
OWASP_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))


def meets_owasp(params: Argon2Params) -> bool:
    return any(params.memory_kib >= memory and params.time_cost >= passes for memory, passes in OWASP_MINIMUMS)


class ConfigError(RuntimeError):
    """A setting in the environment is wrong: start-up stops and says which."""


def _default_instance_path() -> Path:
    return Path(os.environ.get("PC_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:  # a misconfiguration must stop start-up, loudly
        raise ConfigError(f"环境变量 {name} 必须是整数，当前为 {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    secret_key: str
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    # Ingestion API limits: a body over max_batch_bytes is a 413, more rows than
    # max_batch_rows is refused as a whole.
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_rows: int = 10_000
    access_token_ttl: int = 3600
    ratelimit_storage_uri: str = "memory://"
    issuer: str | None = None  # OAuth issuer URL (PC_ISSUER); audiences and RFC 9207 iss use it
    free_self_reports: int = 2  # free self-reports per firm and calendar year (PC_FREE_SELF_REPORTS)
    bank_rate_limit: str = "120/minute"  # per OAuth client on bank endpoints (PC_BANK_RATE_LIMIT)
    # One-year LPR in % (PC_LPR_1Y); loan products may not charge more than 4x it (the
    # ceiling courts apply to private lending), PC_RATE_CAP_MULTIPLE.
    lpr_1y: str = "3.0"
    rate_cap_multiple: int = 4
    # Argon2id parameters for passwords (PC_PASSWORD_HASH=production|test, or each number:
    # PC_ARGON2_TIME_COST, PC_ARGON2_MEMORY_KIB, PC_ARGON2_PARALLELISM); see app.accounts.passwords.
    password_hash: Argon2Params = PROFILES["production"]
    password_hash_profile: str = "production"
    # Signed-in sessions (server-side, revocable): ended after this long without a request
    # (PC_SESSION_IDLE_MINUTES) and this long after signing in whatever happens
    # (PC_SESSION_MAX_HOURS); cookies sent over HTTPS only (PC_SECURE_COOKIES=1: behind TLS).
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    secure_cookies: bool = False
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto/-Host to trust
    # (PC_TRUSTED_PROXIES, a count: 1 behind one TLS proxy); 0 trusts none.
    trusted_proxies: int = 0
    # The job queue (app.core.jobs): Huey on a SQLite file in the instance folder by default,
    # on Redis with PC_QUEUE_URL=redis://…; PC_JOB_SCHEDULE (JSON, job name → cron in
    # Asia/Shanghai time, "" to turn one off) changes the schedule of app.core.jobs.DEFAULT_SCHEDULE.
    queue_url: str = ""
    job_schedule: dict[str, str] = field(default_factory=dict)
    # Webhook targets: https only and no loopback or private-range addresses unless these
    # are set (PC_WEBHOOK_ALLOW_HTTP=1, PC_WEBHOOK_ALLOW_PRIVATE=1: a test rig or an intranet).
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    # Or only some networks (PC_WEBHOOK_ALLOW_NETWORKS=127.0.0.1/32,10.20.0.0/16): a receiver on
    # this host or one intranet range, with every other non-public address still refused.
    webhook_allow_networks: tuple[str, ...] = ()
    webhook_timeout: int = 10  # seconds a receiver has to answer (PC_WEBHOOK_TIMEOUT)
    testing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _load_or_create_secret(instance_path: Path) -> str:
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    return create_private_once(path, secrets.token_urlsafe(48)).strip()


def private_folder(path: Path) -> None:
    """Create a folder (the instance folder: secrets, keys, the SQLite database) readable by
    its owner only (0700); an existing one is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # whatever the umask


def _private_tmp(path: Path, text: str) -> Path:
    """The text in a new file beside ``path``, 0600, under a name no other process uses."""
    private_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only (created 0600, atomically replaced)."""
    tmp = _private_tmp(path, text)
    os.replace(tmp, path)


def create_private_once(path: Path, text: str) -> str:
    """Create a secret file with ``text`` unless it exists; the file's text either way.  Two
    servers starting together on one instance folder agree on one secret: the first link
    wins, the other reads it (never a half-written file)."""
    if path.exists():
        return path.read_text()
    tmp = _private_tmp(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text()
    finally:
        tmp.unlink()
    return text


def _env_flag(name: str) -> bool:
    value = (os.environ.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"环境变量 {name} 应为 1 或 0（true/false），当前为 {os.environ.get(name)!r}")


def _env_networks(name: str) -> tuple[str, ...]:
    """Comma-separated networks (``127.0.0.1/32``, ``10.20.0.0/16``, ``::1/128``; an address
    alone is one host), each checked here so a typo stops start-up."""
    out = []
    for item in (os.environ.get(name) or "").split(","):
        if not item.strip():
            continue
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError as exc:
            raise ConfigError(f"环境变量 {name} 应为逗号分隔的网段（如 127.0.0.1/32,10.20.0.0/16），"
                              f"{item.strip()!r} 无效") from exc
    return tuple(out)


def _env_schedule(name: str) -> dict[str, str]:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"环境变量 {name} 应为 JSON 对象（任务名 → cron 表达式），当前无法解析：{exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"环境变量 {name} 应为 JSON 对象，键为任务名、值为 cron 表达式（字符串）")
    return value


def _password_hash_params() -> tuple[str, Argon2Params]:
    profile = (os.environ.get("PC_PASSWORD_HASH") or "production").strip().lower()
    if profile not in PROFILES:
        raise ConfigError(f"环境变量 PC_PASSWORD_HASH 应为 {' 或 '.join(PROFILES)}，当前为 "
                           f"{os.environ.get('PC_PASSWORD_HASH')!r}")
    base = PROFILES[profile]
    params = Argon2Params(time_cost=_env_int("PC_ARGON2_TIME_COST", base.time_cost),
                          memory_kib=_env_int("PC_ARGON2_MEMORY_KIB", base.memory_kib),
                          parallelism=_env_int("PC_ARGON2_PARALLELISM", base.parallelism))
    described = (f"PC_ARGON2_TIME_COST={params.time_cost}，PC_ARGON2_MEMORY_KIB={params.memory_kib}，"
                 f"PC_ARGON2_PARALLELISM={params.parallelism}")
    if params.time_cost < 1 or params.parallelism < 1 or params.memory_kib < 8 * params.parallelism:
        raise ConfigError(f"Argon2 参数无效（{described}）：轮数与并行度至少为 1，内存（KiB）至少为 8 × 并行度")
    if profile != "test" and not meets_owasp(params):
        raise ConfigError(f"Argon2 参数低于 OWASP 对 Argon2id 的最低要求（{described}）：至少 19456 KiB 内存且 2 轮，"
                           "或 47104 KiB 且 1 轮、12288 KiB 且 3 轮等；只有测试可用 PC_PASSWORD_HASH=test")
    return profile, params


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from the environment, then apply ``overrides`` (by field name)."""
    overrides = dict(overrides or {})
    instance_path = Path(overrides.pop("instance_path", _default_instance_path())).resolve()
    database_url = overrides.pop("database_url", None) or os.environ.get("DATABASE_URL") or (
        f"sqlite:///{instance_path / 'powercredit.db'}"
    )
    secret_key = overrides.pop("secret_key", None) or os.environ.get("PC_SECRET_KEY")
    if not secret_key:
        secret_key = _load_or_create_secret(instance_path)
    password_hash_profile, password_hash = _password_hash_params()
    settings = Settings(
        instance_path=instance_path,
        database_url=database_url,
        secret_key=secret_key,
        log_level=os.environ.get("PC_LOG_LEVEL", "INFO"),
        max_batch_bytes=_env_int("PC_MAX_BATCH_BYTES", 16 * 1024 * 1024),
        max_batch_rows=_env_int("PC_MAX_BATCH_ROWS", 10_000),
        access_token_ttl=_env_int("PC_ACCESS_TOKEN_TTL", 3600),
        ratelimit_storage_uri=os.environ.get("PC_RATELIMIT_STORAGE_URI", "memory://"),
        issuer=os.environ.get("PC_ISSUER") or None,
        free_self_reports=_env_int("PC_FREE_SELF_REPORTS", 2),
        bank_rate_limit=os.environ.get("PC_BANK_RATE_LIMIT", "120/minute"),
        lpr_1y=os.environ.get("PC_LPR_1Y", "3.0"),
        rate_cap_multiple=_env_int("PC_RATE_CAP_MULTIPLE", 4),
        password_hash=password_hash,
        password_hash_profile=password_hash_profile,
        session_idle_minutes=_env_int("PC_SESSION_IDLE_MINUTES", 30),
        session_max_hours=_env_int("PC_SESSION_MAX_HOURS", 12),
        secure_cookies=_env_flag("PC_SECURE_COOKIES"),
        trusted_proxies=_env_int("PC_TRUSTED_PROXIES", 0),
        queue_url=os.environ.get("PC_QUEUE_URL", ""),
        job_schedule=_env_schedule("PC_JOB_SCHEDULE"),
        webhook_allow_http=_env_flag("PC_WEBHOOK_ALLOW_HTTP"),
        webhook_allow_private=_env_flag("PC_WEBHOOK_ALLOW_PRIVATE"),
        webhook_allow_networks=_env_networks("PC_WEBHOOK_ALLOW_NETWORKS"),
        webhook_timeout=_env_int("PC_WEBHOOK_TIMEOUT", 10),
    )
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise RuntimeError(f"未知配置项: {', '.join(sorted(unknown))}")
    return replace(settings, **overrides)


def field_keys_path(settings: Settings) -> Path:
    return settings.instance_path / "field-keys.json"


def load_field_keys_document(settings: Settings) -> dict[str, Any] | None:
    """The field-encryption keyring document from ``PC_FIELD_KEYS`` or the instance file."""
    raw = os.environ.get("PC_FIELD_KEYS")
    if raw:
        return dict(json.loads(raw))
    path = field_keys_path(settings)
    if path.exists():
        return dict(json.loads(path.read_text()))
    return None
