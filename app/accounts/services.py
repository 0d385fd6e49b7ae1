"""Users, institutions, password hashing (Argon2id) and the access policy on the archive."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, joinedload

from app.accounts import sessions as user_sessions
from app.accounts.errors import UserExists
from app.accounts.models import ROLE_LABELS, Institution, InstitutionKind, Role, User, UserSession
from app.accounts.passwords import hashing
from app.archive.errors import EnterpriseNotFound
from app.archive.services import get_enterprise
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import InvalidInput, NotFound

MIN_PASSWORD_LENGTH = 10


def password_faults(password: str) -> list[str]:
    """What the rules find wrong with a new password (a form says it beside its other faults)."""
    return [f"至少 {MIN_PASSWORD_LENGTH} 个字符。"] if len(password) < MIN_PASSWORD_LENGTH else []


def hash_password(password: str) -> str:
    faults = password_faults(password)
    if faults:
        raise InvalidInput("密码过短", errors={"password": faults})
    return hashing.hasher.hash(password)


def create_institution(
    session: Session, *, name: str, licence_no: str, kind: str = "bank", uscc: str | None = None
) -> Institution:
    if kind not in InstitutionKind.__members__:
        raise InvalidInput("机构类型无效", errors={"kind": [f"应为 {', '.join(InstitutionKind)} 之一。"]})
    if session.scalar(sa.select(Institution.id).where(Institution.licence_no == licence_no)):
        raise InvalidInput("金融许可证号已登记", errors={"licence_no": [f"{licence_no} 已登记。"]})
    if kind == InstitutionKind.group:  # a power group: its parent enterprise is in the archive
        if not uscc:
            raise InvalidInput("电力集团须给出母公司的统一社会信用代码", errors={"uscc": ["电力集团必填。"]})
        try:
            get_enterprise(session, uscc)
        except NotFound:
            raise InvalidInput("信用档案中没有该母公司", errors={"uscc": [f"信用档案中没有 {uscc}。"]}) from None
    if uscc and session.scalar(sa.select(Institution.id).where(Institution.uscc == uscc)):
        raise InvalidInput("该统一社会信用代码已登记为机构", errors={"uscc": [f"{uscc} 已登记。"]})
    inst = Institution(name=name, licence_no=licence_no, kind=InstitutionKind(kind), uscc=uscc)
    session.add(inst)
    session.flush()
    return inst


def list_institutions(session: Session, active_only: bool = False) -> list[Institution]:
    stmt = sa.select(Institution).order_by(Institution.name if active_only else Institution.licence_no)
    if active_only:
        stmt = stmt.where(Institution.active.is_(True))
    return list(session.scalars(stmt))


def find_institution(session: Session, licence_no: str) -> Institution | None:
    return session.scalar(sa.select(Institution).where(Institution.licence_no == licence_no))


def get_institution(session: Session, licence_no: str) -> Institution:
    inst = find_institution(session, licence_no)
    if inst is None:
        raise NotFound(f"没有金融许可证号为 {licence_no} 的机构")
    return inst


_FIELD_LABELS = {"username": "用户名", "role": "角色", "enterprise": "企业", "institution": "机构"}


def _bindings(session: Session, role: str, enterprise_uscc: str | None,
              institution_licence: str | None) -> tuple[dict[str, list[str]], int | None, int | None]:
    """A role's bindings checked (firm: an enterprise; bank: a lender; group: a group and its
    parent; tenderer: a procurement institution; operator: none), every fault at once:
    (errors by field, enterprise id, institution id)."""
    errors: dict[str, list[str]] = {}
    enterprise_id = institution_id = None
    if role in (Role.bank, Role.tenderer) and enterprise_uscc:
        errors["enterprise"] = [f"{'金融机构用户' if role == Role.bank else '招标采购人员'}不绑定企业：请留空。"]
    if role == Role.firm and institution_licence:
        errors["institution"] = ["企业用户不绑定机构：请选择「不绑定」。"]
    try:
        if role == Role.firm:
            if not enterprise_uscc:
                errors["enterprise"] = ["企业用户须指定统一社会信用代码。"]
            else:
                enterprise_id = get_enterprise(session, enterprise_uscc).id
        elif role == Role.bank:
            if not institution_licence:
                errors["institution"] = ["金融机构用户须选择所属金融机构（金融许可证号）。"]
            else:
                lender = get_institution(session, institution_licence)
                if lender.kind in (InstitutionKind.group, InstitutionKind.procurement):
                    errors["institution"] = ["应为金融机构（银行、财务公司、担保、租赁等），不是电力集团或招标采购单位。"]
                institution_id = lender.id
        elif role == Role.group:  # bound to the group's institution and its parent enterprise
            if not institution_licence:
                errors["institution"] = ["集团用户须选择所属电力集团（机构编号）。"]
            else:
                group = get_institution(session, institution_licence)
                if group.kind != InstitutionKind.group or group.uscc is None:
                    errors["institution"] = ["应为登记为电力集团（group）的机构。"]
                else:
                    try:
                        parent = get_enterprise(session, group.uscc)
                    except EnterpriseNotFound:  # the group's own record, not the form's enterprise field
                        errors["institution"] = [f"该集团的母公司（{group.uscc}）不在信用档案中。"]
                        return errors, None, None
                    if enterprise_uscc and enterprise_uscc.strip().upper() != parent.uscc:
                        errors["enterprise"] = [f"该集团的母公司为 {parent.uscc}。"]
                    institution_id, enterprise_id = group.id, parent.id
        elif role == Role.tenderer:  # bound to a procurement institution (招标采购单位)
            if not institution_licence:
                errors["institution"] = ["招标采购人员须选择所属招标采购单位（机构编号）。"]
            else:
                tenderer = get_institution(session, institution_licence)
                if tenderer.kind != InstitutionKind.procurement:
                    errors["institution"] = ["应为登记为招标采购单位（procurement）的机构。"]
                institution_id = tenderer.id
        elif enterprise_uscc or institution_licence:
            errors["role"] = ["征信机构人员（operator）不能绑定企业或机构。"]
    except NotFound as exc:  # a code or a licence number naming no one here
        field = "enterprise" if isinstance(exc, EnterpriseNotFound) else "institution"
        errors.setdefault(field, []).append(f"{exc.detail}。")
    if errors:  # nothing bound when anything is wrong
        return errors, None, None
    return errors, enterprise_id, institution_id


def binding_errors(session: Session, role: str, enterprise_uscc: str | None,
                   institution_licence: str | None) -> dict[str, list[str]]:
    """What would be wrong with these bindings for ``role`` (a form shows them with its own
    errors); {} for an unknown role, which the form names itself."""
    if role not in Role.__members__:
        return {}
    return _bindings(session, role, enterprise_uscc, institution_licence)[0]


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    enterprise_uscc: str | None = None,
    institution_licence: str | None = None,
    temporary: bool = False,
) -> User:
    # Every fault at once (a form shows each under its field), not the first one alone.
    errors: dict[str, list[str]] = {}
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        errors["username"] = ["已存在。"]
    if role not in Role.__members__:
        errors["role"] = ["应为 operator、firm、bank、group 或 tenderer。"]
        raise InvalidInput("角色无效", errors=errors)
    found, enterprise_id, institution_id = _bindings(session, role, enterprise_uscc, institution_licence)
    for field, messages in found.items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        if list(errors) == ["username"]:
            raise UserExists(f"用户名 {username} 已存在", errors=errors)
        raise InvalidInput("请求有误：" + "、".join(_FIELD_LABELS.get(f, f) for f in errors), errors=errors)
    user = User(username=username, display_name=display_name or username, role=Role(role),
                password_hash=hash_password(password), enterprise_id=enterprise_id, institution_id=institution_id,
                must_change_password=temporary)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str, *, keep_session: str | None = None,
                 temporary: bool = False) -> int:
    """A new password; every session of the user ends (but ``keep_session``, the token of
    the session that changed it).  ``temporary``: one handed over by an operator, which its
    holder must change at the next sign-in.  Returns how many sessions ended."""
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    session.flush()
    return user_sessions.end_all(session, user.id, "password_changed", keep=keep_session)


def change_own_password(session: Session, user: User, current: str, new: str, *, keep_session: str | None) -> int:
    """The user changes their own password (the current one checked); their other sessions end."""
    try:
        hashing.hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise InvalidInput("当前密码不正确", errors={"current_password": ["当前密码不正确。"]}) from None
    if new == current:
        raise InvalidInput("新密码与当前密码相同", errors={"new_password": ["新密码不能与当前密码相同。"]})
    try:
        return set_password(session, user, new, keep_session=keep_session)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, errors={"new_password": (exc.errors or {}).get("password", [])}) from None


def get_user(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"没有用户名为 {username} 的用户", code="user_not_found")
    return user


def set_active(session: Session, user: User, active: bool) -> int:
    """Enable or disable a user; disabling ends every session at once.  Returns how many ended."""
    user.active = active
    session.flush()
    return 0 if active else user_sessions.end_all(session, user.id, "user_disabled")


class AccountDisabled(Exception):
    """The right password for an account an operator disabled: said only to who knows it."""


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user whose password this is, or None; :class:`AccountDisabled` for the right password
    of a disabled account (a wrong one reads as any other: nobody learns the account exists)."""
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        with contextlib.suppress(VerificationError):
            hashing.hasher.verify(hashing.dummy_hash, password)
        return None
    try:
        hashing.hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not user.active:
        raise AccountDisabled(user.username)
    if hashing.should_rehash(user.password_hash):
        user.password_hash = hashing.hasher.hash(password)
    user.last_login_at = clock.now()
    session.flush()
    return user


def load_user(session: Session, user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = session.get(User, int(user_id))
    return user if user is not None and user.active else None


def actor_labels(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Audit-style actors (``user:NAME``, ``client:ID``, ``system``) as people read them:
    the user's display name and role, "机构系统" for an OAuth client, "平台" for the system."""
    actors = set(actors)
    names = [a[5:] for a in actors if a.startswith("user:")]
    users = {u.username: u for u in session.scalars(sa.select(User).where(User.username.in_(names)))} if names else {}
    out = {}
    for actor in actors:
        if actor.startswith("user:") and actor[5:] in users:
            u = users[actor[5:]]
            out[actor] = f"{u.display_name}（{ROLE_LABELS[u.role]}）"
        elif actor.startswith("client:"):
            out[actor] = "机构系统（接口）"
        else:
            out[actor] = "平台"
    return out


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, tuple[str, str]]:
    """People among audit actors, as the audit log names them: ``user:NAME`` (most of the code
    base) or ``user:ID`` (consent's views) → (display name, role label).  A name is looked up
    as a username first, then, if it is a number no username has, as an id; actors that name
    nobody (a deleted or mistyped user) are left out."""
    keys = {a[5:] for a in actors if a.startswith("user:") and a[5:]}
    if not keys:
        return {}
    by_name = {u.username: u for u in session.scalars(sa.select(User).where(User.username.in_(keys)))}
    ids = {int(k) for k in keys - by_name.keys() if k.isascii() and k.isdigit() and len(k) < 19}
    by_id = {str(u.id): u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    return {f"user:{key}": (user.display_name, ROLE_LABELS[user.role])
            for key, user in (*by_id.items(), *by_name.items())}


# --- the operator's management of users (the console's users page) ----------------------------

ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand


def one_time_password() -> str:
    """A password for a user to sign in with once and then change: four groups of four
    characters (``k7mq-3xtp-9wcd-h2fa``), about 79 bits."""
    return "-".join("".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))


def list_users(session: Session, *, q: str | None = None, role: str | None = None, active: bool | None = None,
               page: int = 1, per_page: int = 20) -> Page[User]:
    """Users by username, with their enterprise and institution; ``q`` matches a part of the
    username or the display name."""
    stmt = (sa.select(User).options(joinedload(User.enterprise), joinedload(User.institution))
            .order_by(User.username))
    if q:
        stmt = stmt.where(sa.or_(User.username.icontains(q, autoescape=True),
                                 User.display_name.icontains(q, autoescape=True)))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    return paginate(session, stmt, page, per_page)


def open_session_counts(session: Session, user_ids: Iterable[int]) -> dict[int, int]:
    """How many open (not ended, not past their absolute timeout) sessions each user has."""
    ids = list(user_ids)
    if not ids:
        return {}
    return {int(u): int(n) for u, n in session.execute(
        sa.select(UserSession.user_id, sa.func.count()).where(
            UserSession.user_id.in_(ids), UserSession.ended_at.is_(None), UserSession.expires_at > clock.now())
        .group_by(UserSession.user_id))}


def add_user(session: Session, *, username: str, role: str, display_name: str | None = None,
             enterprise_uscc: str | None = None, institution_licence: str | None = None) -> tuple[User, str]:
    """A new user, as ``powercredit users add`` makes one (the same bindings by role), with a
    one-time password to hand over; returns the user and that password (never stored)."""
    password = one_time_password()
    user = create_user(session, username=username, password=password, role=role, display_name=display_name,
                       enterprise_uscc=enterprise_uscc, institution_licence=institution_licence, temporary=True)
    return user, password


def reset_password(session: Session, user: User) -> tuple[str, int]:
    """A new one-time password for ``user``; every session of theirs ends.  Returns the
    password (shown once, never stored) and how many sessions ended."""
    password = one_time_password()
    return password, set_password(session, user, password, temporary=True)


def end_user_session(session: Session, user: User, session_id: int) -> bool:
    """End one of ``user``'s open sessions (an operator's decision: ``revoked``)."""
    result = session.execute(sa.update(UserSession).where(
        UserSession.id == session_id, UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now(), ended_reason="revoked").execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_user_sessions(session: Session, user: User, *, keep: str | None = None) -> int:
    """End every open session of ``user`` (but ``keep``'s, the token of the operator's own)."""
    return user_sessions.end_all(session, user.id, "revoked", keep=keep)
