"""Work the job queue runs on a schedule: signing the audit log's tree head."""

from __future__ import annotations

from typing import Any

from app.audit import services
from app.core.config import Settings
from app.core.db import Database
from app.core.signing import load_signing_keys

CHUNK = 20_000  # events taken into the tree per transaction (about a second of holding the append lock)


def sign_tree_head(database: Database, settings: Settings) -> dict[str, Any]:
    """Take the new events into the audit log's tree, sign its head, commit it, then append
    it to the files outside the database; returns the published head.  The job queue
    calls this on a schedule (hourly, say); until then cron can run ``powercredit audit
    sign-head``, which does the same."""
    keys = load_signing_keys(settings)
    while True:  # a backlog (the first signing of a long log) in short transactions: appends wait for each
        with database.transaction() as session:
            _, taken = services.sync_tree(session, limit=CHUNK)
        if taken < CHUNK:
            break
    with database.transaction() as session:
        head = services.head_document(services.sign_head(session, keys))
    services.publish_head(services.heads_folder(settings.instance_path), head)
    return head
