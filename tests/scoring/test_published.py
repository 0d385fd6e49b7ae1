"""The scorecard is published (NEA plan: 标准、程序、结果 public): its versions and its whole
content through the API and a public page, for anyone, matching the scorecard that grades."""

from __future__ import annotations

import hashlib

import pytest

from app.scoring.scorecard import GRADES
from app.scoring.services import current_scorecard


def test_the_versions_are_public(client):
    resp = client.get("/api/v1/scorecards")
    assert resp.status_code == 200
    old, card = resp.get_json()["items"]  # power-v1 stays published: grades made with it stand
    assert (old["version"], old["in_use"]) == ("1.0", False)
    current = current_scorecard()
    assert card["version"] == current.version and card["in_use"] is True
    assert card["factors"] == len(current.factors)
    assert card["digest"] == hashlib.sha256(current.digest_source.encode()).hexdigest()


def test_a_version_in_full_adds_up_to_the_score(client):
    resp = client.get(f"/api/v1/scorecards/{current_scorecard().version}")
    assert resp.status_code == 200
    card = resp.get_json()
    assert [d["label"] for d in card["dimensions"]] == ["守信意愿", "守信能力", "守信表现"]
    weights = [f["weight_in_score"] for d in card["dimensions"] for f in d["factors"]]
    assert sum(weights) == pytest.approx(1.0)
    assert all(sum(f["weight"] for f in d["factors"]) == pytest.approx(1.0) for d in card["dimensions"])
    utility = next(f for d in card["dimensions"] for f in d["factors"] if f["key"] == "utility_payment")
    assert utility["categories"] == [{"code": "utility", "label": "电费缴纳"}] and utility["lookback_years"] == 2
    assert utility["bands"][0] == {"from": 0.0, "points": 0.0} and utility["measure_label"].startswith("按期履约程度")
    assert utility["rules"] == ["逾期 90 天及以上或未履约按全额计，不足按天数比例折减"]
    assert card["evidence"]["min_known_factors"] == 6 and "不予评级" in card["evidence"]["text"]
    assert len(card["serves"]) == 7 and {s["code"] for s in card["segments"]} >= {"generation", "retail"}
    assert card["default_definition"]["days_past_due"] == 90
    assert {"loan_default", "utility_arrears_3_months", "serious_penalty"} <= {c["key"] for c in card["caps"]}
    assert [g["grade"] for g in card["grades"]] == list(GRADES)
    assert {g["grade"]: g["supervision_class"] for g in card["grades"]}["AA"] == "A"
    black = next(c for c in card["caps"] if c["key"] == "black_list")
    assert black["max_grade"] == "C" and "黑名单" in black["label"]


def test_an_unknown_version_is_a_clear_404(client):
    resp = client.get("/api/v1/scorecards/9.9")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "scorecard_not_found" and "9.9" in resp.get_json()["detail"]
    assert client.get("/scorecards/9.9").status_code == 404


def test_the_public_page_explains_it_in_chinese(client):
    listing = client.get("/scorecards")
    assert listing.status_code == 200 and "当前使用" in listing.get_data(as_text=True)
    page = client.get(f"/scorecards/{current_scorecard().version}").get_data(as_text=True)
    for words in ("守信意愿（维度权重 25%）", "电费缴纳", "近两年电费按期缴纳程度", "≥ 0.97 → 100", "封顶规则",
                  "列入失信联合惩戒名单（黑名单）", "AAA", "不予评级（NR）", "各板块的权重", "贷款逾期 90 天及以上",
                  "只计评价日处于有效期内的记录"):
        assert words in page, words
    assert 'href="/api/v1/scorecards/' in page  # the same content as JSON


def test_the_index_page_links_to_the_scorecards(client):
    assert 'href="/scorecards"' in client.get("/credit-index").get_data(as_text=True)
