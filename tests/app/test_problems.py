"""Every error is RFC 7807 problem+json (HTML only for browser pages)."""

from __future__ import annotations

import pytest


def _is_problem(resp, status: int) -> dict:
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    assert resp.headers["X-Request-ID"] == body["request_id"]
    return body


def test_404_from_flask(client):
    body = _is_problem(client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"


def test_404_from_the_domain(client):
    body = _is_problem(client.get("/api/v1/enterprises/91110000053621038D"), 404)
    assert body["code"] == "enterprise_not_found"


def test_405(client):
    resp = client.delete("/healthz")
    _is_problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_400_malformed_json_body(client, login, make_user, make_enterprise):
    import re

    login(make_user("operator"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    firm = make_user("firm", enterprise=make_enterprise())
    for path, who in (("/api/v1/enterprises", None), ("/api/v1/consents", firm), ("/api/v1/objections", firm)):
        if who:  # parsed by hand, after the caller's role is known
            login(who)
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        resp = client.post(path, data="{bad json", content_type="application/json", headers={"X-CSRFToken": token})
        body = _is_problem(resp, 400)
        # Why, in Chinese, and where: users never see the parser's English.
        assert body["errors"] == {"_schema": ["请求体不是合法的 JSON：第 1 行第 2 列：属性名应放在双引号中。"]}, (path, body)
        assert body["detail"] == "请求体不是合法的 JSON" and body["code"] == "malformed_json"
    not_object = client.post("/api/v1/consents", data="[]", content_type="application/json",
                             headers={"X-CSRFToken": token})
    assert _is_problem(not_object, 422)["errors"] == {"_schema": ["应为 JSON 对象。"]}
    as_text = client.post("/api/v1/consents", data='{"uscc": "x"}', content_type="text/plain",
                          headers={"X-CSRFToken": token})
    assert _is_problem(as_text, 422)["errors"] == {"_schema": ["应为 JSON 对象（Content-Type: application/json）。"]}


def test_a_json_body_nested_too_deep_is_a_400_not_a_500(client, login, make_user, make_enterprise):
    import re

    operator, firm = make_user("operator"), make_user("firm", enterprise=make_enterprise())
    for path, method, who in (("/api/v1/enterprises", client.post, operator),
                              ("/api/v1/consents", client.post, firm),  # a firm's own grant: its body is read
                              ("/api/v1/me/marketplace-profile", client.put, operator)):
        login(who)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        resp = method(path, data=b"[" * 100_000, content_type="application/json", headers={"X-CSRFToken": token})
        body = _is_problem(resp, 400)
        assert body["errors"] == {"_schema": ["请求体不是合法的 JSON：嵌套过深。"]}, (path, body)
        assert body["detail"] == "请求体不是合法的 JSON" and body["code"] == "malformed_json"


def test_json_errors_are_explained_in_chinese_with_the_place() -> None:
    import json

    from app.core.errors import json_error_text

    def why(text: str) -> str:
        with pytest.raises(ValueError) as info:
            json.loads(text)
        return json_error_text(info.value)

    assert why("") == "第 1 行第 1 列：此处应为一个值"
    assert why('{"a": 1,\n "b" 2}') == "第 2 行第 6 列：缺少冒号"
    assert why("[1 2]") == "第 1 行第 4 列：缺少逗号"
    assert why('"abc') == "第 1 行第 1 列：字符串没有结束的引号"
    assert why("{} x") == "第 1 行第 4 列：值之后还有多余内容"
    assert why('"\\u12"') == "第 1 行第 3 列：无效的 \\u 转义（应为 4 位十六进制）"
    assert why('"\\q"') == "第 1 行第 2 列：无效的转义序列"
    assert json_error_text(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")) \
        == "不是合法的 UTF-8 文本（第 1 个字节）"


def test_400_missing_csrf_token_on_a_cookie_authenticated_write(client, login, make_user):
    login(make_user("operator"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN")  # a write without the header the pages' scripts send
    resp = client.post("/api/v1/enterprises", json={"uscc": "91440101MA5CJQ4N59", "name": "x", "segment": "retail"})
    body = _is_problem(resp, 400)
    assert body["detail"].startswith("缺少 CSRF 令牌：请刷新页面后重新提交"), body
    assert "CSRF token" not in body["detail"]


def test_422_query_parameter_names_the_field(client):
    body = _is_problem(client.get("/api/v1/enterprises?page=0&per_page=1000"), 422)
    assert set(body["errors"]) == {"query.page", "query.per_page"}


def test_request_id_is_echoed_when_sane(client):
    resp = client.get("/healthz", headers={"X-Request-ID": "abc12345-xyz"})
    assert resp.headers["X-Request-ID"] == "abc12345-xyz"
    resp = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert resp.headers["X-Request-ID"] != "<script>"


def test_browser_gets_an_html_error_page(client):
    resp = client.get("/enterprises/91110000053621038D", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "资源不存在" in resp.get_data(as_text=True)


def test_healthz_checks_the_database(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    from app import create_app

    broken = create_app({"database_url": f"sqlite:///{tmp_path}/no/such/dir/x.db", "instance_path": tmp_path,
                         "secret_key": "k", "testing": True})
    resp = broken.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["code"] == "database_unavailable"


def test_openapi_document_is_generated_from_the_schemas(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/api/v1/enterprises", "/api/v1/enterprises/{uscc}", "/api/v1/enterprises/{uscc}/records",
                 "/api/v1/records/batch", "/healthz"):
        assert path in paths, path
    assert "RecordOut" in doc["components"]["schemas"]
    # A body parsed by hand is documented too: a bank's request or a firm's own grant.
    body = paths["/api/v1/consents"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in body["oneOf"]] == ["ConsentRequest", "FirmGrant"]
    assert "uscc" in doc["components"]["schemas"]["ConsentRequest"]["properties"]
    assert "institution" in doc["components"]["schemas"]["FirmGrant"]["required"]
    assert "oauth2" in doc["components"]["securitySchemes"]
    # Errors are documented as what they are: problem+json with a string code and the field errors.
    invalid = doc["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert list(invalid) == ["application/problem+json"]
    problem = doc["components"]["schemas"]["Problem"]["properties"]
    assert problem["code"]["type"] == "string" and problem["status"]["type"] == "integer" and "errors" in problem
    assert "Error" not in doc["components"]["schemas"]

    # Every bound is a JSON number (a Decimal bound written as "0.001" is no JSON Schema), and
    # amounts have a type.
    def bounds(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum"):
                    yield value
                yield from bounds(value)
        elif isinstance(node, list):
            for item in node:
                yield from bounds(item)

    assert all(isinstance(b, int | float) for b in bounds(doc)), [b for b in bounds(doc) if isinstance(b, str)]
    assert doc["components"]["schemas"]["ProductIn"]["properties"]["amount_min"]["format"] == "decimal"
    # The report calls say what they answer: the report file (JSON, PDF), its headers, a bearer token.
    pull = paths["/api/v1/reports"]["post"]
    created = pull["responses"]["201"]
    assert {"Location", "X-Report-No", "X-Report-Digest"} <= set(created["headers"]) and pull["security"]
    assert "digest" in created["content"]["application/json"]["schema"]["properties"]
    again = paths["/api/v1/reports/{report_no}"]["get"]["responses"]
    assert {"application/json", "application/pdf"} == set(again["200"]["content"]) and "410" in again
    assert "201" in paths["/api/v1/me/report"]["get"]["responses"]
    assert paths["/api/v1/data/fetch"]["post"]["security"] == [{"oauth2": []}]

    # Every reference resolves (Swagger UI shows "could not resolve reference" otherwise).
    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    unresolved = [r for r in refs(doc) if r.rsplit("/", 1)[1] not in doc["components"].get(r.split("/")[2], {})]
    assert unresolved == []
    assert doc["components"]["responses"]["GONE"]["description"] == "资源已失效"  # the titles errors carry
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"/api/docs/static/swagger-ui-bundle.js" in page.data
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


@pytest.mark.parametrize("path", ["/", "/login", "/enterprises", "/enterprises?q=电力"])
def test_pages_render(client, path):
    assert client.get(path).status_code == 200


HUGE = "99999999999999999999999"  # beyond any BIGINT: the drivers raise OverflowError on it


def test_numbers_no_database_can_hold_and_digits_int_cannot_read_are_refused_not_500(client, login, make_user,
                                                                                      make_enterprise):
    import re

    firm = make_user("firm", enterprise=make_enterprise())
    operator = make_user("operator")
    # ``²`` is a digit to str.isdigit() but not to int(); a 20-digit page no page has.
    for who, paths in ((None, ["/lists/red"]), (firm, ["/consents", "/me/reports", "/me/notices", "/applications"]),
                       (operator, ["/console/objections"])):
        if who is not None:
            login(who)
        for path in paths:
            for page in ("%C2%B2", "99999999999999999999", "-1"):
                resp = client.get(f"{path}?page={page}")
                assert resp.status_code == 200, (path, page, resp.status_code)
        client.post("/logout")
    login(operator)
    for path in (f"/api/v1/list-entries/{HUGE}", f"/api/v1/ingestion-runs/{HUGE}"):
        resp = client.get(path)
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json", path
    client.post("/logout")
    login(firm)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    headers = {"X-CSRFToken": token}
    assert client.get(f"/api/v1/objections/OBJ2026AAAA/files/{HUGE}").status_code == 404
    for path, body, field in (("/api/v1/objections", {"record_id": int(HUGE), "reason": "记录有误，应予更正。"},
                               "record_id"),
                              ("/api/v1/repairs", {"entry_id": int(HUGE)}, "entry_id")):
        resp = client.post(path, json=body, headers=headers)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], (path, resp.get_json())
        assert resp.get_json()["errors"][field] == ["数值过大。"]


@pytest.mark.parametrize(("value", "ok"), [
    ("王建国", True), ("  王建国 ", True), ("\u200b\u200b", False), (" \u3000\t", False), ("\ufeff", False),
    ("\u202e总经理", False), ("总经理\u2066", False),
])
def test_required_text_must_show_something_and_cannot_reorder_itself(value, ok):
    from marshmallow import ValidationError

    from app.core.schemas_base import StrictSchema, text

    class Signed(StrictSchema):
        signatory = text(50)

    if ok:
        assert Signed().load({"signatory": value}) == {"signatory": value}
    else:
        with pytest.raises(ValidationError) as info:
            Signed().load({"signatory": value})
        assert list(info.value.messages) == ["signatory"]


def test_a_form_sent_without_its_token_tells_the_person_what_to_do(client, login, make_user):
    login(make_user("operator"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    resp = client.post("/logout", data={}, headers={"Accept": "text/html", "Referer": "http://localhost/console"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "请返回上一页，刷新后重新提交" in html and "X-CSRFToken" not in html
    assert 'href="http://localhost/console">返回上一页' in html


def test_a_form_part_whose_name_cannot_be_read_is_no_500(client):
    """Werkzeug names a multipart part with a line break in its name None."""
    body = (b'--B\r\nContent-Disposition: form-data; name="\r"\r\n\r\nnull\r\n'
            b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n\x00\r\n--B--\r\n')
    resp = client.post("/api/v1/objections", data=body, content_type="multipart/form-data; boundary=B")
    assert resp.status_code == 400 and resp.get_json()["code"] == "malformed_form", resp.get_json()

