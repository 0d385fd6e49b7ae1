"""OAuth endpoints (RFC shapes: token, revocation, introspection, metadata, JWKS, the
consent screen) and the consent API (problem+json): banks request consents, firms grant,
pause, resume and revoke them, everyone sees only their own, and the consent-gated data
fetch."""

from __future__ import annotations

import functools
from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint

from app.accounts.auth import require_user
from app.accounts.models import Institution, Role
from app.accounts.services import (
    create_institution,
    find_institution,
    get_institution,
    list_institutions,
)
from app.archive.services import get_enterprise
from app.audit.services import Pending
from app.core.auth import BEARER_AND_SESSION, SignInRequired, caller_first
from app.core.errors import DomainError, InvalidInput, NotFound, json_object_body
from app.core.extensions import (
    cookie_csrf,
    created,
    csrf,
    db_session,
    limiter,
    signing_keys,
)
from app.oauth import services as oauth_services
from app.oauth.bearer import (
    bank_limit,
    bank_token,
    client_rate_key,
)
from consent import schemas, services

blp = ApiBlueprint("consents", __name__, url_prefix="/api/v1", description="授权（征信授权）与查询记录")





# --- who is asking --------------------------------------------------------------------------

def current_actor() -> services.Actor:
    """A bank's system (Bearer token with ``consents:write``; a consent-bound report token
    does not list consents) or a signed-in user (firm, bank officer, operator)."""
    if "Authorization" in request.headers or "access_token" in request.args or "access_token" in request.form:
        return services.Actor(client=bank_token("consents:write").client)
    require_sign_in_or_bearer()
    return services.Actor(user=require_user())


def require_sign_in_or_bearer() -> None:
    """An endpoint both bank systems (Bearer) and signed-in users call, called with neither:
    both challenges (RFC 9110 §11.6.1), the bank's first."""
    if not current_user.is_authenticated:
        raise SignInRequired("请先登录，或以 Authorization: Bearer 访问令牌调用（金融机构系统）",
                             headers={"WWW-Authenticate": BEARER_AND_SESSION})


def audited(action: str) -> Any:
    """Refusals of a consent view are audited (a 404 for another party's consent included)."""
    def wrap(view: Any) -> Any:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except DomainError as exc:
                if getattr(exc, "audit", None) is None:
                    actor = (f"user:{current_user.id}" if current_user.is_authenticated
                             else f"ip:{request.remote_addr}")
                    pending = Pending(actor=actor, action=action, code=exc.code, subject_type="consent",
                                      subject_id=kwargs.get("consent_id"), detail={"path": request.path},
                                      request_id=g.get("request_id"))
                    exc.audit = pending  # type: ignore[attr-defined]
                raise
        return inner
    return wrap


# --- consents -------------------------------------------------------------------------------

@blp.route("/consents")
class Consents(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.ConsentListArgs, location="query")
    @blp.response(200, schemas.ConsentPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """授权列表：企业看本企业的，金融机构看本机构的，运营人员看全部（含使用次数与最近使用）"""
        page = services.list_consents(db_session(), current_actor(), **args)
        return page.body()

    @blp.response(201, schemas.ConsentSchema)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/ConsentRequest"}, {"$ref": "#/components/schemas/FirmGrant"}]}}}})
    @audited("consent.create")
    def post(self) -> Any:
        """发起授权：金融机构（client_credentials 令牌，范围 consents:write）→ PENDING，
        再将企业引导至 /oauth/authorize?…&consent_id=；企业（登录）为线下申请的机构直接授权 → ACTIVE"""
        session = db_session()
        if "Authorization" in request.headers:  # who is asking first, then what
            tok = bank_token("consents:write")
            data = schemas.ConsentRequestSchema().load(json_object_body())
            ent = get_enterprise(session, data["uscc"])
            consent = services.request_consent(session, tok.client, ent, data["terms"], g.get("request_id"),
                                               offered_only=True)
            return created(consent, "consents.ConsentDetail", consent_id=consent.consent_id)
        require_sign_in_or_bearer()
        user = require_user(Role.firm)
        cookie_csrf()
        data = schemas.FirmGrantSchema().load(json_object_body())
        institution = find_institution(session, data["institution"])
        if institution is None:
            raise InvalidInput("授权对象不存在", errors={"institution": ["没有该金融许可证号或机构编号的机构。"]})
        consent = services.grant_consent(session, signing_keys(), user, institution=institution, terms=data["terms"],
                                         via="firm", request_id=g.get("request_id"), offered_only=True)
        return created(consent, "consents.ConsentDetail", consent_id=consent.consent_id)


@blp.route("/consents/<string:consent_id>")
class ConsentDetail(MethodView):
    decorators = [limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.response(200, schemas.ConsentDetailSchema)
    @audited("consent.read")
    def get(self, consent_id: str) -> Any:
        """一项授权及其状态变更记录（他方的授权为 404）"""
        session = db_session()
        consent = services.get_consent(session, consent_id, current_actor())
        return schemas.WithEvents(consent, services.consent_events(session, consent))


@blp.route("/consents/<string:consent_id>/artefact")
class ConsentArtefact(MethodView):
    decorators = [limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.response(200, {"type": "string"}, content_type="application/jose")
    @audited("consent.artefact")
    def get(self, consent_id: str) -> Response:
        """平台签名的授权文书（紧凑 JWS，Ed25519）；用 /.well-known/jwks.json 的公钥离线验证"""
        consent = services.get_consent(db_session(), consent_id, current_actor())
        if consent.artefact is None:
            raise InvalidInput("授权尚未生效，没有签名文书", code="no_artefact",
                               errors={"consent_id": ["授权尚未生效。"]})
        return Response(consent.artefact, mimetype="application/jose")


def _firm_action(consent_id: str, action: str) -> Any:
    session = db_session()
    user = require_user()
    cookie_csrf()
    data = schemas.ActionSchema().load(request.get_json(silent=True) or {})
    consent = services.get_consent(session, consent_id, services.Actor(user=user))
    consent = services.firm_decides(session, signing_keys(), user, consent, action, data["reason"],
                                    g.get("request_id"))
    return schemas.WithEvents(consent, services.consent_events(session, consent))


for _action, _doc in (("approve", "企业同意待确认的授权请求"), ("reject", "企业拒绝待确认的授权请求"),
                      ("pause", "企业暂停授权（可恢复）"), ("resume", "企业恢复已暂停的授权"),
                      ("revoke", "企业撤销授权：立即生效，已签发的令牌一并作废，不可恢复")):
    @audited(f"consent.{_action}")
    def _view(consent_id: str, _a: str = _action) -> Any:
        return _firm_action(consent_id, _a)

    _view.__doc__ = _doc
    _view.__name__ = f"consent_{_action}"
    blp.route(f"/consents/<string:consent_id>/{_action}", methods=["POST"], endpoint=f"consent_{_action}")(
        csrf.exempt(blp.response(200, schemas.ConsentDetailSchema)(_view)))


@blp.route("/query-log")
class QueryLogView(MethodView):
    decorators = [limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.QueryLogArgs, location="query")
    @blp.response(200, schemas.QueryLogPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """查询记录：企业看谁查询了本企业，金融机构、电力集团、招标采购单位看本机构的查询，运营人员看全部；
        uscc 筛选某企业（企业只能是本企业，其他企业的查询记录为 404）；consent_id 只列该授权下的访问
        （授权的使用记录，含筛查编号；看不到的授权为 404）。resource 为原始标识，resource_label 为中文说明"""
        session = db_session()
        actor = current_actor()
        ent_id = None
        if args["uscc"]:
            ent = get_enterprise(session, args["uscc"])
            if actor.enterprise_id is not None and ent.id != actor.enterprise_id:
                raise NotFound(f"没有统一社会信用代码为 {args['uscc']} 的企业的查询记录", code="query_log_not_found")
            ent_id = ent.id
        consent = services.get_consent(session, args["consent_id"], actor) if args["consent_id"] else None
        page = services.query_log(session, actor, args["page"], args["per_page"], ent_id,
                                  consent_pk=consent.id if consent is not None else None)
        return page.body()


@blp.route("/institutions")
class Institutions(MethodView):
    decorators = [csrf.exempt, caller_first()]

    @blp.response(200, schemas.InstitutionListSchema)
    def get(self) -> dict[str, Any]:
        """金融机构列表（运营人员）"""
        require_user(Role.operator)
        return {"items": list_institutions(db_session())}

    @blp.arguments(schemas.InstitutionInSchema)
    @blp.response(201, schemas.InstitutionOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """登记机构（运营人员）：金融机构、电力集团或招标采购单位；201 的 Location 指向该机构"""
        require_user(Role.operator)
        cookie_csrf()
        inst = create_institution(db_session(), **data)
        return created(inst, "consents.InstitutionDetail", licence_no=inst.licence_no)


@blp.route("/institutions/<string:licence_no>")
class InstitutionDetail(MethodView):
    decorators = [caller_first()]

    @blp.response(200, schemas.InstitutionOutSchema)
    def get(self, licence_no: str) -> Institution:
        """一家机构（运营人员）；没有该编号的机构 404"""
        require_user(Role.operator)
        return get_institution(db_session(), licence_no)


@blp.route("/institutions/<string:licence_no>/clients")
class InstitutionClients(MethodView):
    decorators = [csrf.exempt, caller_first()]

    @blp.response(200, schemas.ClientListSchema)
    def get(self, licence_no: str) -> dict[str, Any]:
        """金融机构的 OAuth 客户端（运营人员）"""
        require_user(Role.operator)
        session = db_session()
        return {"items": oauth_services.clients_of_institution(session, get_institution(session, licence_no).id)}

    @blp.arguments(schemas.ClientInSchema)
    @blp.response(201, schemas.ClientOutSchema)
    def post(self, data: dict[str, Any], licence_no: str) -> dict[str, Any]:
        """为金融机构登记 OAuth 客户端（运营人员）：回调地址精确匹配；client_secret_basic 的密钥只返回这一次"""
        require_user(Role.operator)
        cookie_csrf()
        session = db_session()
        client, secret = oauth_services.register_bank_client(session, get_institution(session, licence_no), **data)
        out = {k: getattr(client, k) for k in ("client_id", "name", "token_endpoint_auth_method", "redirect_uris",
                                               "grant_types", "scope", "created_at")}
        if secret:
            out["client_secret"] = secret
        return out


