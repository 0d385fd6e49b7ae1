"""What lower layers announce, inside the transaction of the change, with plain data (ids,
codes, dates): monitoring (a higher layer) connects receivers at start-up that write its
outbox in the sender's session, so an event and its cause commit or roll back together.

Every signal is sent with ``session=`` (the sender's session) and its keyword data."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# archive: a provider's batch was written (records of ``run_id``: new, corrected).
records_written = _signals.signal("records-written")
# archive: negative records past their retention marked expired: ``records`` = [(id, enterprise_id,
# category, severity)].
records_expired = _signals.signal("records-expired")
# scoring: firms whose grade changed: ``changes`` = [{"enterprise_id", "old_grade", "new_grade",
# "old_score", "new_score", "as_of"}] (only where a previous evaluation existed and the grade differs).
grades_changed = _signals.signal("grades-changed")
# oversight: ``type`` (list.entered, list.exited, objection.opened, objection.resolved,
# repair.approved), ``enterprise_id``, ``data``.
oversight_changed = _signals.signal("oversight-changed")
