"""Every rule at its edge: the minimum grade (at it, one below), NR by policy, barred and
watched lists, open 失信 records (at the limit, one over), serious penalties (exactly N
years ago, a day inside; at the limit, one over), the certificate (in force, expired,
suspended, none) — each failure with its reason and basis."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.core import clock
from tests.procurement.conftest import TODAY, days_ago, dishonest, row_of, serious_penalty


def screen(tender: Any, codes: list[str], rules: dict[str, Any]) -> dict[str, Any]:
    resp = tender.screen(codes, rules)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def test_min_grade_passes_at_the_grade_and_fails_one_below(tender: Any, make_enterprise: Any, grade: Any) -> None:
    at, below, above = make_enterprise(), make_enterprise(), make_enterprise()
    grade(at, "BBB", days_ago(30))
    grade(below, "BB", days_ago(12))
    grade(above, "AAA")
    body = screen(tender, [at.uscc, below.uscc, above.uscc], {"min_grade": "BBB"})
    ok = row_of(body, at.uscc)
    assert (ok["status"], ok["grade"], ok["grade_as_of"], ok["outcome"], ok["reasons"]) == (
        "found", "BBB", days_ago(30).isoformat(), "pass", [])
    bad = row_of(body, below.uscc)
    assert bad["outcome"] == "fail"
    assert bad["reasons"] == [f"信用等级 BB（{days_ago(12)} 评价）低于本次招标要求的最低等级 BBB"]
    assert bad["restrictions"] == [{"rule": "min_grade", "label": "信用等级低于 BBB", "source": "public",
                                    "reference": "BB", "authority": None,
                                    "dates": {"grade_as_of": days_ago(12).isoformat()}, "basis": []}]
    assert row_of(body, above.uscc)["outcome"] == "pass"
    assert body["screening"]["summary"] == {"rows": 3, "bidders": 3, "passed": 2, "failed": 1, "not_found": 0,
                                            "duplicates": 0, "consents_used": 0}


def test_unrated_bidders_follow_the_nr_policy(tender: Any, make_enterprise: Any, grade: Any) -> None:
    nr, never = make_enterprise(), make_enterprise()
    grade(nr, "NR")
    codes = [nr.uscc, never.uscc]
    by_default = screen(tender, codes, {"min_grade": "A"})  # a minimum grade: NR fails unless allowed
    for ent in (nr, never):
        row = row_of(by_default, ent.uscc)
        assert (row["status"], row["grade"], row["outcome"]) == ("NR", "NR", "fail")
        assert row["reasons"] == ["不予评级（信息不足）：本次招标规则不接受未评级的投标人"]
    assert row_of(by_default, nr.uscc)["grade_as_of"] == days_ago(18).isoformat()
    assert row_of(by_default, never.uscc)["grade_as_of"] is None
    allowed = screen(tender, codes, {"min_grade": "A", "nr_policy": "pass"})
    assert {row_of(allowed, e.uscc)["outcome"] for e in (nr, never)} == {"pass"}
    assert row_of(allowed, nr.uscc)["warnings"] == ["不予评级（信息不足）：按本次招标规则不因未评级而不予通过"]
    no_minimum = screen(tender, codes, {})  # no minimum grade: NR passes by default
    assert {row_of(no_minimum, e.uscc)["outcome"] for e in (nr, never)} == {"pass"}
    assert no_minimum["screening"]["rules"]["nr_policy"] == "pass"
    refused = screen(tender, codes, {"nr_policy": "fail"})
    assert {row_of(refused, e.uscc)["outcome"] for e in (nr, never)} == {"fail"}


def test_a_black_listed_bidder_fails_with_its_basis(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                    db: Any) -> None:
    """Listed by the lists' own refresh and an operator's publication, on a serious penalty:
    the row names the entry, its dates, the decision number and the decision's dates."""
    from app.oversight import lists

    ent = make_enterprise()
    decided = days_ago(25)
    add(ent, "penalty", serious_penalty(decided, no="浙能监罚〔2026〕12号"))
    lists.refresh(db, TODAY, actor="test", enterprise_ids=[ent.id])
    [entry] = lists.publish(db, None, actor="operator:test", on=TODAY)
    assert entry.enterprise_id == ent.id and entry.list_name == "black"
    body = screen(tender, [ent.uscc], {})  # no other rule: the black list bars by itself
    row = row_of(body, ent.uscc)
    assert row["outcome"] == "fail"
    ends = entry.ends_on.isoformat()
    penalty = {"kind": "penalty", "label": "行政处罚", "reference": "浙能监罚〔2026〕12号",
               "authority": "国家能源局浙江监管办公室",
               "dates": {"decided_on": decided.isoformat(),
                         "publish_until": clock.add_years(decided, 2).isoformat()}}
    assert row["lists"] == [{"entry_id": entry.id, "list": "black", "label": "黑名单（失信联合惩戒）",
                             "entered_on": TODAY.isoformat(), "published_on": TODAY.isoformat(), "ends_on": ends,
                             "basis": [{"criterion": "serious_penalty", "label": "严重失信行为行政处罚",
                                        "records": [penalty]}]}]
    assert row["restrictions"] == [{"rule": "barred_list", "label": "列入黑名单（失信联合惩戒）", "source": "public",
                                    "reference": f"名单记录 #{entry.id}", "authority": None,
                                    "dates": {"entered_on": TODAY.isoformat(), "published_on": TODAY.isoformat(),
                                              "ends_on": ends},
                                    "basis": row["lists"][0]["basis"]}]
    assert row["reasons"] == [
        f"列入黑名单（失信联合惩戒）（{TODAY} 起至 {ends}），依据：严重失信行为行政处罚（浙能监罚〔2026〕12号，"
        f"国家能源局浙江监管办公室，决定日期 {decided}，公示至 {clock.add_years(decided, 2)}）"]


def test_the_watch_list_warns_unless_barred(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                            listed: Any) -> None:
    ent = make_enterprise()
    grade(ent, "BBB")
    contract = add(ent, "contract", {"contract_no": "HT-9", "counterparty_uscc": "91110000053621038D",
                                     "amount": "100000.00", "signed_on": days_ago(200).isoformat(),
                                     "due_on": days_ago(100).isoformat(), "status": "breached",
                                     "breach_amount": "30000.00"})
    entry = listed(ent, "watch", [contract], criterion="breached_contract", label="近 2 年有合同违约")
    warned = row_of(screen(tender, [ent.uscc], {}), ent.uscc)
    assert warned["outcome"] == "pass"
    assert warned["warnings"] == [
        f"列入重点关注名单（{entry.published_on} 起至 {entry.ends_on}），依据：近 2 年有合同违约"
        "（风险提示：本次招标规则未将该名单列为禁止条件）"]
    assert warned["restrictions"][0]["rule"] == "watch_list"
    assert warned["restrictions"][0]["basis"] == [{"criterion": "breached_contract", "label": "近 2 年有合同违约",
                                                   "records": []}]  # a contract is not public: the label only
    barred = row_of(screen(tender, [ent.uscc], {"barred_lists": ["black", "watch"]}), ent.uscc)
    assert barred["outcome"] == "fail"
    assert barred["reasons"] == [f"列入重点关注名单（{entry.published_on} 起至 {entry.ends_on}），依据：近 2 年有合同违约"]


def test_serious_penalties_counted_within_the_window(tender: Any, make_enterprise: Any, grade: Any,
                                                     add: Any) -> None:
    """A penalty decided exactly N years before the day is outside the window; a day later
    it is inside (the scorecard's window).  At the limit passes, one more fails."""
    outside, inside, two = make_enterprise(), make_enterprise(), make_enterprise()
    for ent in (outside, inside, two):
        grade(ent, "A")
    n_years_ago = clock.add_years(TODAY, -1)
    add(outside, "penalty", serious_penalty(n_years_ago, no="浙能监罚〔2025〕1号"))
    add(inside, "penalty", serious_penalty(n_years_ago + dt.timedelta(days=1), no="浙能监罚〔2025〕2号"))
    add(two, "penalty", serious_penalty(days_ago(60), no="浙能监罚〔2026〕3号"))
    add(two, "penalty", serious_penalty(days_ago(30), no="浙能监罚〔2026〕4号"))
    # a general penalty (a fine, not serious) never counts
    general = serious_penalty(days_ago(20), no="浙能监罚〔2026〕5号", publish_years=1)
    add(outside, "penalty", {**general, "serious": False})
    codes = [outside.uscc, inside.uscc, two.uscc]
    none_allowed = screen(tender, codes, {"serious_penalty_years": 1, "max_serious_penalties": 0})
    assert row_of(none_allowed, outside.uscc)["outcome"] == "pass"
    assert row_of(none_allowed, outside.uscc)["restrictions"] == []
    row = row_of(none_allowed, inside.uscc)
    assert row["outcome"] == "fail"
    day = (n_years_ago + dt.timedelta(days=1))
    assert row["restrictions"] == [{
        "rule": "serious_penalty", "label": "严重行政处罚（责令停产停业、吊销许可证、行政拘留或认定为严重失信）",
        "source": "public", "reference": "浙能监罚〔2025〕2号", "authority": "国家能源局浙江监管办公室",
        "dates": {"decided_on": day.isoformat(), "publish_until": clock.add_years(day, 2).isoformat()}, "basis": []}]
    assert row["reasons"] == [f"近 1 年内严重行政处罚 1 次，超过本次招标上限 0 次：浙能监罚〔2025〕2号，国家能源局浙江监管办公室，"
                              f"决定日期 {day}，公示至 {clock.add_years(day, 2)}"]
    one_allowed = screen(tender, codes, {"serious_penalty_years": 1, "max_serious_penalties": 1})
    assert row_of(one_allowed, inside.uscc)["outcome"] == "pass"  # at the limit
    assert row_of(one_allowed, two.uscc)["outcome"] == "fail"  # one over
    assert row_of(screen(tender, [two.uscc], {"serious_penalty_years": 1, "max_serious_penalties": 2}),
                  two.uscc)["outcome"] == "pass"
    # the window widened to 2 years takes the older one in
    assert row_of(screen(tender, [outside.uscc], {"serious_penalty_years": 2, "max_serious_penalties": 0}),
                  outside.uscc)["outcome"] == "fail"


def test_open_dishonest_records_at_the_limit_and_one_over(tender: Any, make_enterprise: Any, grade: Any, add: Any,
                                                          consent_to: Any) -> None:
    """Counted in full under the bidder's consent: two open records pass a limit of two and
    fail a limit of one; a performed judgment is not open."""
    ent = make_enterprise()
    grade(ent, "BBB")
    add(ent, "judicial", dishonest(11, days_ago(100)))
    add(ent, "judicial", dishonest(12, days_ago(50)))
    performed = {**dishonest(13, days_ago(300)), "performance": "full", "performed_on": days_ago(10).isoformat()}
    add(ent, "judicial", performed)
    consent_to(ent, tender.institution, periodic=True)
    at_limit = row_of(screen(tender, [ent.uscc], {"max_open_dishonest": 2}), ent.uscc)
    assert at_limit["outcome"] == "pass"
    assert [r["reference"] for r in at_limit["restrictions"]] == ["(2026)浙0106执11号", "(2026)浙0106执12号"]
    assert {r["source"] for r in at_limit["restrictions"]} == {"consent"}
    over = row_of(screen(tender, [ent.uscc], {"max_open_dishonest": 1}), ent.uscc)
    assert over["outcome"] == "fail"
    assert over["reasons"][0].startswith("未履行的失信被执行人记录 2 条，超过本次招标上限 1 条：(2026)浙0106执11号，杭州市西湖区人民法院")


def test_the_certificate_in_force_expired_suspended_or_missing(tender: Any, make_enterprise: Any, grade: Any,
                                                               certificate: Any) -> None:
    held, expired, lapsed, suspended, none = (make_enterprise() for _ in range(5))
    for ent in (held, expired, lapsed, suspended, none):
        grade(ent, "AA")
    good = certificate(held, valid_until=TODAY)  # its last day: still in force
    old = certificate(expired, status="expired", valid_until=days_ago(1))
    past = certificate(lapsed, status="issued", valid_until=days_ago(1))  # past its end, not yet marked
    paused = certificate(suspended, status="suspended")
    codes = [e.uscc for e in (held, expired, lapsed, suspended, none)]
    body = screen(tender, codes, {"certificate_required": True})
    row = row_of(body, held.uscc)
    assert row["outcome"] == "pass"
    assert row["certificate"] == {"certificate_no": good.certificate_no, "status": "issued", "status_label": "有效",
                                  "grade": "AA", "valid_from": days_ago(90).isoformat(),
                                  "valid_until": TODAY.isoformat(), "valid": True}
    assert row_of(body, expired.uscc)["reasons"] == [
        f"本次招标要求有效的信用等级证书：信用等级证书 {old.certificate_no} 已过期（有效期至 {days_ago(1)}）"]
    assert row_of(body, lapsed.uscc)["reasons"] == [
        f"本次招标要求有效的信用等级证书：信用等级证书 {past.certificate_no} 已过期（有效期至 {days_ago(1)}）"]
    assert row_of(body, suspended.uscc)["reasons"] == [
        f"本次招标要求有效的信用等级证书：信用等级证书 {paused.certificate_no} 已暂停"
        f"（有效期至 {clock.add_years(TODAY, 2)}）"]
    assert row_of(body, none.uscc)["reasons"] == ["本次招标要求有效的信用等级证书：未查到该企业的信用等级证书"]
    assert [row_of(body, e.uscc)["outcome"] for e in (expired, lapsed, suspended, none)] == ["fail"] * 4
    # not required: the certificate is shown and decides nothing
    relaxed = screen(tender, codes, {})
    assert {row_of(relaxed, c)["outcome"] for c in codes} == {"pass"}
    assert row_of(relaxed, suspended.uscc)["certificate"]["status_label"] == "已暂停"


def test_a_certificate_in_its_notice_period_is_not_yet_issued(tender: Any, make_enterprise: Any, grade: Any,
                                                               certificate: Any, db: Any) -> None:
    """The result in its 公示 is public but no certificate yet: said so, not "none found"; a
    renewal in its 公示 beside a certificate in force passes; a revoked one is named; an
    application not yet evaluated is not public, so it is not told."""
    import secrets

    from app.certificates.models import Certificate

    def application(ent: Any, status: str) -> Certificate:
        cert = Certificate(certificate_no=f"PCC{TODAY:%Y}{secrets.token_hex(6).upper()}", enterprise_id=ent.id,
                           status=status, grade="AA", grade_as_of=days_ago(3), notice_from=clock.now(),
                           notice_until=clock.now() + dt.timedelta(days=6), status_changed_at=clock.now())
        db.add(cert)
        db.flush()
        return cert

    noticed, renewing, lapsed_renewing, revoked, applied = (make_enterprise() for _ in range(5))
    for ent in (noticed, renewing, lapsed_renewing, revoked, applied):
        grade(ent, "AA")
    pending = application(noticed, "publicized")
    certificate(renewing, valid_until=TODAY + dt.timedelta(days=30))
    application(renewing, "publicized")
    certificate(lapsed_renewing, status="expired", valid_until=days_ago(10))
    renewal = application(lapsed_renewing, "publicized")
    gone = certificate(revoked, status="revoked")
    application(applied, "applied")
    body = screen(tender, [e.uscc for e in (noticed, renewing, lapsed_renewing, revoked, applied)],
                  {"certificate_required": True})
    row = row_of(body, noticed.uscc)
    assert row["outcome"] == "fail"
    assert row["reasons"] == [f"本次招标要求有效的信用等级证书：评价结果公示中，尚未发证（信用等级证书 {pending.certificate_no}）"]
    assert (row["certificate"]["status"], row["certificate"]["status_label"], row["certificate"]["valid"]) == (
        "publicized", "公示中", False)
    assert row_of(body, renewing.uscc)["outcome"] == "pass"
    assert row_of(body, lapsed_renewing.uscc)["reasons"] == [
        f"本次招标要求有效的信用等级证书：评价结果公示中，尚未发证（信用等级证书 {renewal.certificate_no}）"]
    assert row_of(body, revoked.uscc)["reasons"] == [
        f"本次招标要求有效的信用等级证书：信用等级证书 {gone.certificate_no} 已撤销（有效期至 {clock.add_years(TODAY, 2)}）"]
    assert row_of(body, applied.uscc)["reasons"] == ["本次招标要求有效的信用等级证书：未查到该企业的信用等级证书"]
    assert row_of(body, applied.uscc)["certificate"] is None


def test_rules_are_stated_in_the_document(tender: Any, make_enterprise: Any) -> None:
    ent = make_enterprise()
    body = screen(tender, [ent.uscc], {"min_grade": "A", "barred_lists": ["watch", "black", "watch"],
                                       "max_open_dishonest": 0, "serious_penalty_years": 3,
                                       "max_serious_penalties": 1, "certificate_required": True})
    doc = body["screening"]
    assert doc["rules"] == {"min_grade": "A", "nr_policy": "fail", "barred_lists": ["black", "watch"],
                            "max_open_dishonest": 0, "serious_penalty_years": 3, "max_serious_penalties": 1,
                            "certificate_required": True}
    assert doc["rules_text"] == ["信用等级不低于 A", "不予评级（NR）的投标人不予通过",
                                 "列入黑名单（失信联合惩戒）、重点关注名单的不予通过", "未履行的失信被执行人记录不超过 0 条",
                                 "近 3 年内严重行政处罚不超过 1 次", "须持有有效的信用等级证书"]
    assert doc["tender"] == {"no": "ZB-2026-0042", "name": "2026 年第二批配网物资协议库存招标"}
    assert doc["tenderer"] == {"name": tender.institution.name, "licence_no": tender.institution.licence_no}
    assert doc["as_of"] == TODAY.isoformat()
