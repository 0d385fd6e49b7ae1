"""What every command of ``powercredit`` shares: the context (settings, the database),
the consoles, refusals and progress bars. The commands themselves are each package's
``cli.py``; ``app.cli`` mounts them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.core.config import Settings, load_settings
from app.core.crypto import FieldCipher, load_keyring
from app.core.db import Database
from app.core.errors import DomainError, json_error_text

console = Console(stderr=True, soft_wrap=True)  # messages unbroken, whatever the width
out = Console(soft_wrap=True)


class Context:
    """Built once per command: the settings, then the start-up the roof registers
    (``starters``: password hashing, what lower layers are handed), the database on demand."""

    starters: list[Callable[[Settings], None]] = []

    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        if not Context.starters:  # a command run without the roof (app.cli) that registers them
            raise RuntimeError("powercredit commands run through app.cli, which sets them up (Context.starters)")
        for start in Context.starters:
            start(self.settings)
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
            click.get_current_context().call_on_close(self._db.dispose)
            require_current_schema(self._db)
        return self._db

    def cipher(self) -> FieldCipher:
        return FieldCipher(load_keyring(self.settings))

pass_ctx = click.make_pass_decorator(Context, ensure=True)

def require_current_schema(database: Database) -> None:
    """Refuse to work on a database the code's schema does not match (not yet created, or a
    migration behind) rather than fail later with a bare SQL error."""
    from app.core import migrate

    if not migrate.is_current(database.engine):
        fail("数据库尚未初始化或结构不是最新版本：请先运行 powercredit db upgrade")

def read_error(exc: OSError | ValueError) -> str:
    """Why a file (or URL) could not be read as JSON, in Chinese."""
    if isinstance(exc, OSError):
        import errno

        why = {errno.ENOENT: "文件不存在", errno.EACCES: "没有读取权限", errno.EISDIR: "这是一个目录"}.get(
            exc.errno or 0, f"读取失败（{exc.strerror or getattr(exc, 'reason', exc)}）")
        return f"{why}：{exc.filename}" if exc.filename else why
    return f"不是合法的 JSON，{json_error_text(exc)}"

def fail(message: str) -> None:
    console.print(f"[red]错误：[/red]{message}")
    sys.exit(1)

def domain_error(exc: DomainError) -> None:
    lines = [exc.detail] + [f"  {f}: {'；'.join(m)}" for f, m in (exc.errors or {}).items()]
    fail("\n".join(lines))

def progress_bar(*, auto_refresh: bool = True) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, auto_refresh=auto_refresh,
    )

def load_jwks(source: str | None) -> dict[str, Any]:
    """Public keys from a JWKS file or URL; without one, this installation's own public keys
    (never generated here: on a machine with no keys, a genuine file would fail to verify)."""
    from urllib.request import urlopen

    from app.core.signing import existing_signing_keys

    if source is None:
        # Only the instance path is needed: no secret key is created for a check.
        settings = load_settings({"secret_key": "-"})
        own = existing_signing_keys(settings)
        if own is None:
            fail(f"本机没有平台签名密钥（{settings.instance_path}）：请用 --jwks 指定平台公钥，"
                  "即平台站点 /.well-known/jwks.json 的内容（文件路径或 URL）")
            raise SystemExit(1)  # _fail exits
        return own.jwks()
    try:
        if source.startswith(("https://", "http://")):
            with urlopen(source, timeout=10) as fh:  # noqa: S310 (an operator-given URL)
                return dict(json.load(fh))
        return dict(json.loads(Path(source).read_text()))
    except (OSError, ValueError) as exc:
        fail(f"无法读取 JWKS：{read_error(exc)}")
        raise  # _fail exits
