"""投标人信用筛查 API: a tenderer (OAuth client with ``screening:write``, or a tenderer user)
screens bidders in a batch against the tender's rules and reads the signed results."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint

from app.accounts.auth import require_user
from app.accounts.models import Role
from app.core.auth import BEARER_AND_SESSION, SignInRequired
from app.core.extensions import cookie_csrf, csrf, db_session, limiter, signing_keys
from app.core.schemas_base import PageArgs
from app.oauth.bearer import bank_limit, bank_token, client_rate_key
from app.oauth.scopes import SCREENING_SCOPE
from app.procurement import downloads, schemas, services

blp = ApiBlueprint("screenings", __name__, url_prefix="/api/v1",
                   description="投标人信用筛查：按招标规则批量筛查投标人，结果经平台签名，可公开核验")
RATE = limiter.limit(bank_limit, key_func=client_rate_key)
SECURITY: list[dict[str, list[str]]] = [{"oauth2": [SCREENING_SCOPE]}]


def tenderer(*, writes: bool = False) -> services.Tenderer:
    """Who screens, first (401 with both challenges, the Bearer one first, when nobody): a
    procurement institution's system (Bearer token with ``screening:write``: a bank's token
    is refused naming the scope) or a signed-in tenderer user (other roles refused), whose
    writes carry the CSRF token."""
    if "tenderer" in g:
        return g.tenderer  # type: ignore[no-any-return]
    session = db_session()
    if "Authorization" in request.headers or "access_token" in request.args:
        found = services.tenderer_of_client(session, bank_token(SCREENING_SCOPE).client)
    elif not current_user.is_authenticated:
        raise SignInRequired("请先登录（招标采购人员），或以 Authorization: Bearer 访问令牌调用（招标采购单位的系统，"
                             f"范围 {SCREENING_SCOPE}）",
                             headers={"WWW-Authenticate": BEARER_AND_SESSION})
    else:
        found = services.tenderer_of_user(session, require_user(Role.tenderer))
        if writes:
            cookie_csrf()
    g.tenderer = found
    return found


def refusals(*codes: int) -> Callable[[Any], Any]:
    """The refusals a view answers besides its success, in the OpenAPI document (each the
    problem+json response of its status): 401 nobody, 403 not a tenderer or a token without
    ``screening:write``, 404 another's or no screening, 429 too many requests…"""
    def document(view: Any) -> Any:
        for code in codes:
            view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return document


def tenderer_first(view: Any) -> Any:
    """The caller checked before the body is parsed: nobody learns the body's schema first."""
    @functools.wraps(view)
    def inner(*args: Any, **kwargs: Any) -> Any:
        tenderer(writes=True)
        return view(*args, **kwargs)

    return inner


@blp.route("/screenings")
class Screenings(MethodView):
    decorators = [csrf.exempt, RATE]

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.ScreeningPageSchema)
    @refusals(401, 403, 429)
    @blp.doc(security=SECURITY)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本单位的筛查结果，最新在前（招标采购单位）"""
        who = tenderer()
        return services.list_screenings(db_session(), who.institution.id, args["page"], args["per_page"]).body()

    @tenderer_first
    @blp.arguments(schemas.ScreeningRequestSchema())
    @blp.response(201, schemas.ScreeningFileSchema, headers={
        "Location": {"schema": {"type": "string"}, "description": "该筛查结果的地址"},
        "X-Screening-No": {"schema": {"type": "string"}, "description": "筛查结果编号"}})
    @refusals(401, 403, 429)
    @blp.doc(security=SECURITY)
    def post(self, data: dict[str, Any]) -> Response:
        """批量筛查投标人（招标采购单位）：至多 10000 个统一社会信用代码与本次招标的信用规则；逐行给出查到与否、
        信用等级及其评价日期、名单与依据、各项限制及其依据、通过与否及原因。只用公开信息，投标人授权本单位
        「投标资格审查」的经授权闸门另计其档案记录；每家查到的企业在其查询记录中可见。结果经平台签名并保存"""
        who = tenderer(writes=True)
        screening = services.screen(db_session(), signing_keys(), who, data["codes"], data["rules"],
                                    tender_name=data["tender_name"], tender_no=data["tender_no"],
                                    request_id=g.get("request_id"))
        resp = downloads.json_response(screening, 201)
        resp.headers["Location"] = url_for("screenings.ScreeningDetail", screening_no=screening.screening_no)
        return resp


@blp.route("/screenings/<string:screening_no>")
class ScreeningDetail(MethodView):
    decorators = [RATE]

    @blp.response(200, schemas.ScreeningFileSchema)
    @refusals(401, 403, 404, 429)
    @blp.doc(security=SECURITY)
    def get(self, screening_no: str) -> Response:
        """一份筛查结果：经平台签名的文件（screening 为出具时的原文，digest、signature 可离线核验）；他单位的为 404"""
        return downloads.json_response(services.own_screening(db_session(), screening_no, tenderer().institution.id))


@blp.route("/screenings/<string:screening_no>/pdf")
class ScreeningPdf(MethodView):
    decorators = [RATE]

    @refusals(401, 403, 404, 429)
    @blp.doc(security=SECURITY, responses={"200": {"description": "筛查结果 PDF", "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
    def get(self, screening_no: str) -> Response:
        """筛查结果的 PDF（含核验二维码、摘要与每位投标人的结论和原因）"""
        return downloads.pdf_response(services.own_screening(db_session(), screening_no, tenderer().institution.id))


@blp.route("/screenings/<string:screening_no>/csv")
class ScreeningCsv(MethodView):
    decorators = [RATE]

    @refusals(401, 403, 404, 429)
    @blp.doc(security=SECURITY, responses={"200": {"description": "筛查结果 CSV（UTF-8，带 BOM，Excel 可直接打开）",
                                                   "content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, screening_no: str) -> Response:
        """筛查结果的 CSV（每行一位投标人）"""
        return downloads.csv_response(services.own_screening(db_session(), screening_no, tenderer().institution.id))
