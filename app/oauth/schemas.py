"""The OAuth endpoints' shapes, for the OpenAPI document: the form bodies they read and the
JSON they answer (RFC 6749 token and error, RFC 7009, RFC 7662, RFC 8414, the JWKS).
Authlib parses and writes them; these schemas only describe them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.core.schemas_base import one_of

GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientAssertionSchema(Schema):
    """``private_key_jwt`` client authentication (RFC 7523) in the form, instead of Basic."""

    client_id = fields.String(metadata={"description": "客户端编号（private_key_jwt 时可与断言的 sub 同时给出，须一致）"})
    client_assertion_type = fields.String(validate=one_of([ASSERTION_TYPE]))
    client_assertion = fields.String(metadata={"description": "客户端以私钥签名的 JWT（RFC 7523）"})


class TokenRequestSchema(ClientAssertionSchema):
    grant_type = fields.String(required=True, validate=one_of(GRANT_TYPES))
    scope = fields.String(metadata={"description": "空格分隔的范围：records:write、consents:write 或 report:*（须在授权范围内）"})
    consent_id = fields.String(metadata={"description": "client_credentials：企业已授予本机构的授权，令牌与之绑定"})
    code = fields.String(metadata={"description": "authorization_code：授权码（60 秒内、只能用一次）"})
    redirect_uri = fields.String(metadata={"description": "authorization_code：与授权请求相同的回调地址"})
    code_verifier = fields.String(metadata={"description": "authorization_code：PKCE（S256）"})
    refresh_token = fields.String(metadata={"description": "refresh_token：刷新令牌（每次轮换）"})


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"description": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "有效秒数（不超过授权的有效期）"})
    scope = fields.String()
    refresh_token = fields.String(metadata={"description": "只发给周期性授权（authorization_code、refresh_token）"})


class OAuthErrorSchema(Schema):
    """RFC 6749 §5.2 (the description in English: §5.2 allows only ASCII there)."""

    error = fields.String(required=True, metadata={
        "description": "invalid_request、invalid_client、invalid_grant、unauthorized_client、unsupported_grant_type、"
                       "invalid_scope…"})
    error_description = fields.String()
    error_uri = fields.String()


class TokenQuerySchema(ClientAssertionSchema):
    token = fields.String(required=True, metadata={"description": "访问令牌或刷新令牌"})
    token_type_hint = fields.String(validate=one_of(["access_token", "refresh_token"]))


class IntrospectionSchema(Schema):
    """RFC 7662 §2.2; a token of another client, unknown, expired, revoked or whose consent
    is not active is ``{"active": false}``."""

    active = fields.Boolean(required=True)
    client_id = fields.String()
    token_type = fields.String()
    scope = fields.String()
    exp = fields.Integer()
    iat = fields.Integer()
    iss = fields.String()
    sub = fields.String(metadata={"description": "绑定授权的企业（统一社会信用代码）"})
    consent_id = fields.String()
    purpose = fields.String()


class JwkSchema(Schema):
    kty = fields.String(required=True, metadata={"description": "OKP"})
    crv = fields.String(required=True, metadata={"description": "Ed25519"})
    x = fields.String(required=True)
    kid = fields.String(required=True)
    use = fields.String()
    alg = fields.String()


class JwksSchema(Schema):
    keys = fields.List(fields.Nested(JwkSchema), required=True,
                       metadata={"description": "签名公钥（含已停用的，以便核验旧文书）"})


class MetadataSchema(Schema):
    """RFC 8414 authorization-server metadata."""

    issuer = fields.String(required=True)
    authorization_endpoint = fields.String(required=True)
    token_endpoint = fields.String(required=True)
    revocation_endpoint = fields.String()
    introspection_endpoint = fields.String()
    jwks_uri = fields.String()
    grant_types_supported = fields.List(fields.String())
    response_types_supported = fields.List(fields.String(), required=True)
    code_challenge_methods_supported = fields.List(fields.String())
    token_endpoint_auth_methods_supported = fields.List(fields.String())
    token_endpoint_auth_signing_alg_values_supported = fields.List(fields.String())
    revocation_endpoint_auth_methods_supported = fields.List(fields.String())
    introspection_endpoint_auth_methods_supported = fields.List(fields.String())
    authorization_response_iss_parameter_supported = fields.Boolean()
    scopes_supported = fields.List(fields.String())
    service_documentation = fields.String()


class AuthorizeArgs(Schema):
    """The authorization request (RFC 6749 §4.1.1 with PKCE and the consent it asks for)."""

    response_type = fields.String(validate=one_of(["code"]))
    client_id = fields.String()
    redirect_uri = fields.String()
    state = fields.String()
    code_challenge = fields.String(validate=validate.Length(min=43, max=128))
    code_challenge_method = fields.String(validate=one_of(["S256"]))
    consent_id = fields.String(metadata={"description": "金融机构发起的待确认授权"})
    scope = fields.String()


class AuthorizeDecisionSchema(Schema):
    csrf_token = fields.String(metadata={"description": "同意页表单中的 CSRF 令牌（或 X-CSRFToken 头）"})
    decision = fields.String(validate=one_of(["approve", "reject"]))
    reason = fields.String(metadata={"description": "reject：拒绝原因"})
