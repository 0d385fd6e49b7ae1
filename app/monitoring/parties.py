"""Who watches: a bank (its institution), a power group (its group institution), a firm
(itself), or the operators; the same for subscriptions, alerts and webhook endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.auth import RoleDenied
from app.monitoring.models import SubscriberKind


@dataclass(frozen=True)
class Party:
    kind: str  # bank | group | firm | operator
    institution_id: int | None = None
    enterprise_id: int | None = None  # a firm: itself; a group: its parent enterprise
    actor: str = "system"  # who acts for it, as the audit log names them
    user_id: int | None = None
    client_pk: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    @property
    def subscriber_kind(self) -> SubscriberKind:
        return SubscriberKind(self.kind)

    def owns(self, institution_id: int | None, enterprise_id: int | None) -> bool:
        """Whether a subscription, alert or endpoint with these owner columns is this party's."""
        if self.kind == "firm":
            return institution_id is None and enterprise_id == self.enterprise_id
        return institution_id is not None and institution_id == self.institution_id

    def owner_filter(self, institution_col: Any, enterprise_col: Any) -> Any:
        if self.kind == "operator":  # what is addressed to nobody else (index warnings)
            return sa.and_(institution_col.is_(None), enterprise_col.is_(None))
        if self.kind == "firm":
            return sa.and_(institution_col.is_(None), enterprise_col == self.enterprise_id)
        return institution_col == self.institution_id

    def owner_columns(self) -> dict[str, int | None]:
        if self.kind == "firm":
            return {"institution_id": None, "subscriber_enterprise_id": self.enterprise_id}
        return {"institution_id": self.institution_id, "subscriber_enterprise_id": None}


def party_of_user(user: User) -> Party:
    role = Role(user.role)
    actor = f"user:{user.username}"
    if role == Role.operator:
        return Party("operator", actor=actor, user_id=user.id)
    if role == Role.firm:
        return Party("firm", enterprise_id=user.enterprise_id, actor=actor, user_id=user.id)
    if role == Role.bank:
        return Party("bank", institution_id=user.institution_id, actor=actor, user_id=user.id)
    if role == Role.group:
        return Party("group", institution_id=user.institution_id, enterprise_id=user.enterprise_id, actor=actor,
                     user_id=user.id)
    raise RoleDenied("该角色不能使用监测预警")


def party_of_client(client: Any) -> Party:
    """A bank's system (an OAuth client of an institution)."""
    if client.institution_id is None:
        raise RoleDenied("只有金融机构的客户端可以订阅监测")
    return Party("bank", institution_id=client.institution_id, actor=f"client:{client.client_id}",
                 client_pk=client.id)
