"""People who sign in (users with one role) and the financial institutions banks belong to."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.archive.models import Enterprise
from app.core import clock
from app.core.auth import ROLE_LABELS as CORE_ROLE_LABELS
from app.core.db import Base, UTCDateTime, intpk, str_enum


class Role(enum.StrEnum):
    operator = "operator"  # 征信机构工作人员
    firm = "firm"  # 企业（信息主体）管理员, bound to one enterprise
    bank = "bank"  # 金融机构信贷人员, bound to one institution
    group = "group"  # 集团信用管理人员, bound to a group's institution and its parent enterprise
    tenderer = "tenderer"  # 招标采购人员, bound to a procurement institution (a tenderer)


ROLE_LABELS = {Role(code): label for code, label in CORE_ROLE_LABELS.items()}  # app.core.auth names them


class InstitutionKind(enum.StrEnum):
    bank = "bank"
    rural_bank = "rural_bank"
    finance_company = "finance_company"
    guarantee = "guarantee"
    leasing = "leasing"
    other = "other"
    group = "group"  # 电力集团: a power group receiving its subsidiaries' consents
    procurement = "procurement"  # 招标采购单位: a tenderer screening bidders (a group's procurement platform)


INSTITUTION_KIND_LABELS = {
    InstitutionKind.bank: "商业银行", InstitutionKind.rural_bank: "农村金融机构", InstitutionKind.finance_company: "财务公司",
    InstitutionKind.guarantee: "融资担保机构", InstitutionKind.leasing: "融资租赁公司", InstitutionKind.other: "其他",
    InstitutionKind.group: "电力集团", InstitutionKind.procurement: "招标采购单位",
}


class Institution(Base):
    """A financial institution (金融机构) that may pull reports and publish products."""

    __tablename__ = "institution"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(200))
    licence_no: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 金融许可证号
    kind: Mapped[InstitutionKind] = mapped_column(
        str_enum("institution_kind", list(InstitutionKind))
    )
    uscc: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'firm' AND enterprise_id IS NOT NULL AND institution_id IS NULL)"
            " OR (role = 'bank' AND institution_id IS NOT NULL AND enterprise_id IS NULL)"
            " OR (role = 'operator' AND enterprise_id IS NULL AND institution_id IS NULL)"
            " OR (role = 'group' AND enterprise_id IS NOT NULL AND institution_id IS NOT NULL)"
            " OR (role = 'tenderer' AND institution_id IS NOT NULL AND enterprise_id IS NULL)",
            name="role_binding",
        ),
    )

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(str_enum("user_role", list(Role)))
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("institution.id"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    # a password handed over by an operator (one-time): changed before anything else is done
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    enterprise: Mapped[Enterprise | None] = relationship()
    institution: Mapped[Institution | None] = relationship()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class UserSession(Base):
    """A signed-in session, kept on the server so that it can be ended: the browser holds
    only a random token (in the signed cookie); its SHA-256 is stored.  Ended by signing
    out, a password change, an operator disabling the user, or its idle and absolute
    timeouts (``ended_reason`` says which)."""

    __tablename__ = "user_session"
    __table_args__ = (sa.Index("ix_user_session_user_open", "user_id", "ended_at"),)

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the absolute timeout
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(
        str_enum("session_end", ["logout", "password_changed", "user_disabled", "idle", "expired", "revoked"]))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship()
