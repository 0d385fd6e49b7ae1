"""Sign-in and user schemas (the web form and the API share them)."""

from __future__ import annotations

from flask_wtf.csrf import generate_csrf
from marshmallow import fields, validate

from app.core.schemas_base import StrictSchema


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=[
        validate.Length(min=1, error="请输入用户名。"), validate.Length(max=64, error="用户名至多 64 个字符。")])
    password = fields.String(required=True, validate=[
        validate.Length(min=1, error="请输入密码。"), validate.Length(max=200, error="密码至多 200 个字符。")])
    next = fields.String(load_default=None)
    csrf_token = fields.String(load_default=None)


class MeSchema(StrictSchema):
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    enterprise_uscc = fields.Function(lambda u: u.enterprise.uscc if u.enterprise else None)
    institution = fields.Function(lambda u: u.institution.name if u.institution else None)
    must_change_password = fields.Boolean(metadata={
        "description": "true：当前密码为运营人员发放的一次性密码，须先调用 POST /api/v1/me/password 修改，其他接口返回 403"})
    # The session's CSRF token: a signed-in user's API writes send it as X-CSRFToken.
    csrf_token = fields.Function(lambda _u: generate_csrf(), metadata={
        "description": "本会话的 CSRF 令牌：已登录用户调用 API 写操作（POST/PUT/PATCH/DELETE）时放在 X-CSRFToken 请求头中"})


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class SessionSchema(StrictSchema):
    id = fields.Integer()
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    expires_at = fields.DateTime()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    current = fields.Boolean()
