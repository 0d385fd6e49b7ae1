"""Evaluation API: the grade is public, the explanation only for the firm itself and operators."""

from __future__ import annotations

from app.archive.ingestion import ingest_records
from app.scoring.services import evaluate


def _evaluated(db, make_enterprise, make_provider, rows, **kw):  # noqa: ANN001, ANN202
    """A firm with a contract and a year of bills and tax from a regional provider: rated."""
    from app.archive.categories import CATEGORIES
    from app.archive.services import create_provider
    from tests.conftest import history_rows

    ent = make_enterprise(**kw)
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, f"c-{ent.id}")])
    cover = create_provider(db, code=f"cover-{ent.id}", name="测试覆盖数据源", kind="grid_company",
                            categories=list(CATEGORIES))
    ingest_records(db, cover, history_rows(ent.uscc))
    evaluate(db, ent)
    return ent


def test_the_current_grade_is_public_without_the_explanation(client, db, make_enterprise, make_provider, rows):
    ent = _evaluated(db, make_enterprise, make_provider, rows)
    resp = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["grade"] in ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    assert set(body["dimensions"]) == {"willingness", "capability", "performance"}
    assert body["supervision_class"] in ("A", "B", "C", "D") and body["scorecard_version"] == "2.0"
    assert body["score"] is not None and body["reason"] is None and 0.5 <= float(body["coverage"]) <= 1
    assert "explanation" not in body and "uncapped_grade" not in body  # a cap would show a hidden record


def test_the_firm_itself_and_operators_see_the_explanation(client, db, make_enterprise, make_provider, make_user,
                                                           login, rows):
    ent = _evaluated(db, make_enterprise, make_provider, rows)
    login(make_user("firm", ent))
    body = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    assert {f["key"] for f in body["explanation"]["factors"]} >= {"contract_performance", "tax_grade"}
    assert body["uncapped_grade"] in ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    client.get("/logout")
    login(make_user("operator"))
    assert "explanation" in client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()


def test_another_firm_and_a_bank_do_not_see_the_explanation(client, db, make_enterprise, make_provider, make_user,
                                                            login, rows):
    ent = _evaluated(db, make_enterprise, make_provider, rows)
    other = make_enterprise()
    login(make_user("firm", other))
    assert "explanation" not in client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    client.get("/logout")
    login(make_user("bank"))
    body = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    assert "explanation" not in body and "uncapped_grade" not in body


def test_a_firm_never_evaluated_is_a_404_problem(client, make_enterprise):
    ent = make_enterprise()
    resp = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "not_evaluated"


def test_timeline_and_distribution(client, db, make_enterprise, make_provider, rows):
    a = _evaluated(db, make_enterprise, make_provider, rows, segment="retail")
    _evaluated(db, make_enterprise, make_provider, rows, segment="supplier")
    items = client.get(f"/api/v1/enterprises/{a.uscc}/evaluations").get_json()["items"]
    assert len(items) == 1 and "explanation" not in items[0] and "uncapped_grade" not in items[0]
    dist = client.get("/api/v1/grades/distribution").get_json()
    assert dist["total"] == 2 and sum(dist["grades"].values()) == 2
    assert set(dist["segments"]) == {"retail", "supplier"}
    retail = client.get("/api/v1/grades/distribution?segment=retail").get_json()
    assert retail["total"] == 1 and list(retail["segments"]) == ["retail"]
    bad = client.get("/api/v1/grades/distribution?segment=moon")
    assert bad.status_code == 422 and "query.segment" in bad.get_json()["errors"]


def test_a_batch_re_evaluates_the_firms_it_touched(client, db, make_enterprise, make_provider, make_client,
                                                   token_for, rows):
    import json

    from app.scoring.services import current_evaluation

    ent, untouched = make_enterprise(), make_enterprise()
    oc, secret = make_client(make_provider())
    resp = client.post("/api/v1/records/batch", data=json.dumps([rows.contract(ent.uscc, "c-1")]),
                       headers={"Authorization": f"Bearer {token_for(oc, secret)}",
                                "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["reevaluated"] == 1
    evaluation = current_evaluation(db, ent)
    assert evaluation.record_count == 1
    # One contract from a platform that covers only the firms it reports on: too little to rate.
    assert evaluation.grade == "NR" and evaluation.score is None and evaluation.supervision_class is None
    body = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    assert (body["grade"], body["score"], body["supervision_class"]) == ("NR", None, None)
    assert body["reason"].startswith("不予评级（信息不足）") and "个月" in body["reason"]
    assert client.get(f"/api/v1/enterprises/{untouched.uscc}/evaluation").status_code == 404


def test_an_operator_lists_firms_per_supervision_class(client, db, make_enterprise, make_provider, make_user,
                                                       login, rows):
    from app.scoring.services import current_evaluation

    firms = [_evaluated(db, make_enterprise, make_provider, rows) for _ in range(3)]
    classes = {current_evaluation(db, f).supervision_class for f in firms}
    login(make_user("operator"))
    seen = 0
    for cls in "ABCD":
        body = client.get(f"/api/v1/supervision/{cls}?per_page=100").get_json()
        assert body["supervision_class"] == cls
        assert all(item["supervision_class"] == cls for item in body["items"])
        scores = [float(item["score"]) for item in body["items"]]
        assert scores == sorted(scores)
        seen += body["meta"]["total"]
        assert (body["meta"]["total"] > 0) == (cls in classes)
    assert seen == 3
    assert client.get("/api/v1/supervision/E").status_code == 422


def test_only_operators_list_supervision_classes(client, db, make_enterprise, make_provider, make_user, login, rows):
    ent = _evaluated(db, make_enterprise, make_provider, rows)
    assert client.get("/api/v1/supervision/B").status_code == 401
    login(make_user("firm", ent))
    assert client.get("/api/v1/supervision/B").status_code == 403
    client.get("/logout")
    login(make_user("bank"))
    assert client.get("/api/v1/supervision/B").status_code == 403
