"""Which lists each firm is on now (published entries): what scoring's caps and the
reports' list section read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.db import Prepared
from app.oversight.models import EntryStatus, ListEntry

# Built once (an expanding IN) and run on the cursor: each report and each batch runs it.
MEMBERSHIPS = Prepared(sa.select(ListEntry.enterprise_id, sa.type_coerce(ListEntry.list_name, sa.String()))
                       .where(ListEntry.enterprise_id.in_(sa.bindparam("ids", expanding=True)),
                              ListEntry.status == EntryStatus.active))


def list_memberships(session: Session, enterprise_ids: Sequence[int]) -> dict[int, set[str]]:
    """The red/black/watch lists each firm is on now."""
    out: dict[int, set[str]] = defaultdict(set)
    if enterprise_ids:
        for ent_id, name in MEMBERSHIPS.rows(session, {"ids": list(enterprise_ids)}):
            out[ent_id].add(name)
    return dict(out)
