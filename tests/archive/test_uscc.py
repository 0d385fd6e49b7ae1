"""Unit tests for the USCC (统一社会信用代码, GB 32100-2015) checker — no database."""

from __future__ import annotations

import pytest

from app.archive.uscc import ALPHABET, check_char, check_uscc, legacy_codes, make_uscc

# Real published codes that pass GB 32100-2015 (DOMAIN.md §1), with their check character.
REAL_CODES = {
    "91110000053621038D": "D",
    "911101086723891430": "0",
    "9111000071093123XX": "X",
    "91350200776049653A": "A",
    "91440101MA5CJQ4N59": "9",
}

# Early Fujian pilot codes: legally valid, wrong check character (DOMAIN.md §1).
LEGACY_CODES = ("91350100M0001TGQXM", "91350211M0000XUF46", "91350203M0001QAY9B")


def _other_char(c: str) -> str:
    return "1" if c != "1" else "2"


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_real_codes_pass(code: str) -> None:
    verdict = check_uscc(code)
    assert verdict.ok, verdict.error
    assert verdict.code == code
    assert verdict.legacy is False
    assert verdict.error is None
    assert verdict.warning is None
    assert check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_real_codes_still_pass_with_allow_legacy(code: str) -> None:
    verdict = check_uscc(code, allow_legacy=True)
    assert verdict.ok
    assert verdict.legacy is False
    assert verdict.warning is None


@pytest.mark.parametrize(
    ("code", "expected"), list(REAL_CODES.items()), ids=[f"{c}-last-changed" for c in REAL_CODES]
)
@pytest.mark.parametrize("allow_legacy", [False, True], ids=["strict", "allow_legacy"])
def test_wrong_check_character_refused_naming_expected(code: str, expected: str, allow_legacy: bool) -> None:
    wrong = code[:17] + _other_char(code[17])
    assert wrong != code
    verdict = check_uscc(wrong, allow_legacy=allow_legacy)
    assert not verdict.ok
    assert verdict.legacy is False
    assert verdict.expected == expected
    assert verdict.error is not None
    assert f"应为 {expected}" in verdict.error
    assert "第 18 位" in verdict.error


def test_legacy_allow_list_is_exactly_the_documented_codes() -> None:
    assert legacy_codes() == frozenset(LEGACY_CODES)


@pytest.mark.parametrize("code", LEGACY_CODES, ids=LEGACY_CODES)
def test_legacy_code_fails_the_checksum(code: str) -> None:
    # Sanity: these really are failing codes, so accepting them is the allow-list's doing.
    assert check_char(code[:17]) != code[17]


@pytest.mark.parametrize("code", LEGACY_CODES, ids=LEGACY_CODES)
def test_legacy_code_refused_by_default(code: str) -> None:
    verdict = check_uscc(code)
    assert not verdict.ok
    assert verdict.legacy is False
    assert verdict.warning is None
    assert verdict.error is not None
    assert f"应为 {check_char(code[:17])}" in verdict.error


@pytest.mark.parametrize("code", LEGACY_CODES, ids=LEGACY_CODES)
def test_legacy_code_accepted_with_allow_legacy_and_warns(code: str) -> None:
    verdict = check_uscc(code, allow_legacy=True)
    assert verdict.ok
    assert verdict.legacy is True
    assert verdict.error is None
    assert verdict.code == code
    assert verdict.warning
    assert code in verdict.warning
    assert f"应为 {check_char(code[:17])}" in verdict.warning


@pytest.mark.parametrize("code", LEGACY_CODES, ids=LEGACY_CODES)
def test_legacy_code_lowercase_accepted_with_allow_legacy(code: str) -> None:
    verdict = check_uscc(f"  {code.lower()} ", allow_legacy=True)
    assert verdict.ok
    assert verdict.legacy is True
    assert verdict.code == code


@pytest.mark.parametrize("code", LEGACY_CODES, ids=LEGACY_CODES)
def test_failing_code_near_legacy_but_not_listed_refused_even_with_allow_legacy(code: str) -> None:
    # Same prefix as an allow-listed code, different (still wrong) check character.
    correct = check_char(code[:17])
    wrong = next(c for c in ALPHABET if c not in (correct, code[17]))
    near = code[:17] + wrong
    assert near not in legacy_codes()
    verdict = check_uscc(near, allow_legacy=True)
    assert not verdict.ok
    assert verdict.legacy is False
    assert verdict.warning is None
    assert f"应为 {correct}" in (verdict.error or "")


@pytest.mark.parametrize(
    ("raw", "length"),
    [
        ("", 0),
        ("9111000005362103", 16),
        ("91110000053621038", 17),
        ("91110000053621038D0", 19),
        ("91110000053621038DXX", 20),
    ],
    ids=["empty", "16-chars", "17-chars", "19-chars", "20-chars"],
)
def test_wrong_length_refused(raw: str, length: int) -> None:
    verdict = check_uscc(raw)
    assert not verdict.ok
    assert verdict.error is not None
    assert "18 位" in verdict.error
    assert f"实为 {length} 位" in verdict.error


def test_none_input_refused() -> None:
    verdict = check_uscc(None)  # type: ignore[arg-type]
    assert not verdict.ok
    assert "18 位" in (verdict.error or "")


@pytest.mark.parametrize("letter", list("IOSVZ"), ids=list("IOSVZ"))
def test_forbidden_letters_refused(letter: str) -> None:
    code = "91440101MA5CJQ4N59"
    bad = code[:9] + letter + code[10:]  # in the organisation-code part
    assert len(bad) == 18
    verdict = check_uscc(bad)
    assert not verdict.ok
    assert verdict.error is not None
    assert "非法字符" in verdict.error
    assert letter in verdict.error.split("（")[0]


@pytest.mark.parametrize("letter", list("iosvz"), ids=[f"lower-{c}" for c in "iosvz"])
def test_forbidden_letters_refused_in_lowercase(letter: str) -> None:
    code = "91440101ma5cjq4n59"
    bad = code[:9] + letter + code[10:]
    verdict = check_uscc(bad)
    assert not verdict.ok
    assert "非法字符" in (verdict.error or "")
    assert letter.upper() in (verdict.error or "")


@pytest.mark.parametrize("char", ["-", " ", "中", "#"], ids=["dash", "inner-space", "hanzi", "hash"])
def test_other_illegal_characters_refused(char: str) -> None:
    code = "91110000053621038D"
    bad = code[:10] + char + code[11:]
    verdict = check_uscc(bad)
    assert not verdict.ok
    assert "非法字符" in (verdict.error or "")


@pytest.mark.parametrize(
    "bad",
    ["9111A000053621038D", "91A10000053621038D", "9111000A053621038D", "91MA0000053621038D"],
    ids=["pos5", "pos3", "pos8", "pos3-4"],
)
def test_non_digit_region_refused(bad: str) -> None:
    verdict = check_uscc(bad)
    assert not verdict.ok
    assert verdict.error is not None
    assert "行政区划" in verdict.error
    assert "3–8" in verdict.error


def test_non_digit_region_refused_even_when_checksums_fit() -> None:
    # Build a code whose two check characters are right but whose region part has a letter.
    first16 = "91" + "11A000" + "05362103" + "8"
    code = first16 + check_char(first16)
    verdict = check_uscc(code)
    assert not verdict.ok
    assert "行政区划" in (verdict.error or "")


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_lowercase_and_whitespace_normalised(code: str) -> None:
    verdict = check_uscc(f"  {code.lower()}\t")
    assert verdict.ok, verdict.error
    assert verdict.code == code


def test_normalised_code_is_returned_on_refusal_too() -> None:
    verdict = check_uscc(" 91110000053621038e ")
    assert not verdict.ok
    assert verdict.code == "91110000053621038E"
    assert "应为 D" in (verdict.error or "")


@pytest.mark.parametrize(
    ("authority", "entity", "region", "org8"),
    [
        ("9", "1", "110000", "05362103"),
        ("9", "1", "110108", "67238914"),
        ("9", "1", "350200", "77604965"),
        ("9", "1", "440101", "MA5CJQ4N"),
        ("9", "2", "310115", "MA1K4L2P"),
        ("5", "1", "320102", "50000123"),
        ("1", "1", "650100", "00000001"),
        ("Y", "1", "460100", "A1B2C3D4"),
    ],
    ids=["bj-110000", "bj-110108", "xm-350200", "gz-440101", "sh-individual", "nj-civil", "urumqi-inst", "haikou-other"],
)
def test_make_uscc_builds_passing_codes(authority: str, entity: str, region: str, org8: str) -> None:
    code = make_uscc(authority, entity, region, org8)
    assert len(code) == 18
    assert code.startswith(f"{authority}{entity}{region}{org8}")
    verdict = check_uscc(code)
    assert verdict.ok, verdict.error
    assert verdict.legacy is False


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_make_uscc_reproduces_real_codes(code: str) -> None:
    assert make_uscc(code[0], code[1], code[2:8], code[8:16]) == code


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_org_code_check_character_enforced(code: str) -> None:
    # Change position 17 (the GB 11714 organisation-code check character) and re-compute the
    # final check character so only the organisation-code check can catch it.
    wrong17 = next(c for c in "0123456789X" if c != code[16])
    first17 = code[:16] + wrong17
    mutated = first17 + check_char(first17)
    verdict = check_uscc(mutated)
    assert not verdict.ok
    assert verdict.error is not None
    assert "第 17 位" in verdict.error
    assert f"应为 {code[16]}" in verdict.error
    assert verdict.expected == code[16]


@pytest.mark.parametrize("code", list(REAL_CODES), ids=list(REAL_CODES))
def test_org_code_mutation_refused_without_recomputing_check(code: str) -> None:
    wrong17 = next(c for c in "0123456789X" if c != code[16])
    mutated = code[:16] + wrong17 + code[17]
    verdict = check_uscc(mutated, allow_legacy=True)
    assert not verdict.ok
    assert "第 17 位" in (verdict.error or "")


def test_unknown_registration_authority_refused() -> None:
    """GB 32100-2015 appendix A: position 1 is a registration-authority code (1–9, A, N, Y).

    ``0`` is assigned to no authority, so a code starting with it is not a USCC even though
    both check characters fit.
    """
    code = make_uscc("0", "1", "110000", "05362103")
    assert code == "01110000053621038N"  # both check characters computed, so they fit
    verdict = check_uscc(code)
    assert not verdict.ok
    assert verdict.error
