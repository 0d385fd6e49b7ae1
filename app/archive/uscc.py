"""统一社会信用代码 (USCC) per GB 32100-2015, with the GB 11714 organisation-code check.

``check_uscc`` returns the verdict with the expected check characters, so a refusal can
say which character was expected.  Some early pilot registrations (Fujian) carry a wrong
check digit yet are legally valid; they are accepted only when on the allow-list in
``data/legacy_uscc.txt`` (imports of existing firms), never for new registrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 32100-2015 appendix A: registration authority (position 1) and entity type (position 2).
REGISTRATION_AUTHORITIES = {
    "1": "机构编制", "2": "外交", "3": "司法行政", "4": "文化", "5": "民政", "6": "旅游",
    "7": "宗教", "8": "工会", "9": "工商（市场监管）", "A": "中央军委改革和编制办公室",
    "N": "农业", "Y": "其他",
}
ENTITY_TYPES = frozenset("1239")


@dataclass(frozen=True)
class UsccCheck:
    code: str
    ok: bool
    legacy: bool = False
    error: str | None = None
    expected: str | None = None

    @property
    def warning(self) -> str | None:
        if self.legacy:
            return f"{self.code} 校验位不符（应为 {self.expected}），属早期试点登记的合法代码，已按白名单接受"
        return None


def _org_check_char(org8: str) -> str:
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(org8, ORG_WEIGHTS, strict=True))
    r = 11 - total % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def check_char(first17: str) -> str:
    total = sum(VALUES[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    r = 31 - total % 31
    return ALPHABET[0 if r == 31 else r]


@cache
def legacy_codes() -> frozenset[str]:
    text = resources.files("app.archive").joinpath("data/legacy_uscc.txt").read_text("utf-8")
    return frozenset(
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    )


@lru_cache(maxsize=65536)
def check_uscc(raw: str, *, allow_legacy: bool = False) -> UsccCheck:
    """Verify a USCC. ``allow_legacy`` admits the allow-listed pilot codes: for imports of
    existing firms and for naming a firm already in the archive, never for new registrations.

    Cached: a batch names the same firms over and over (the result is immutable).
    """
    code = (raw or "").strip().upper()
    if len(code) != 18:
        return UsccCheck(code, False, error=f"统一社会信用代码应为 18 位，实为 {len(code)} 位")
    bad = [c for c in code if c not in VALUES]
    if bad:
        return UsccCheck(
            code, False,
            error=f"统一社会信用代码含非法字符 {''.join(dict.fromkeys(bad))}（不使用 I、O、S、V、Z）",
        )
    if code[0] not in REGISTRATION_AUTHORITIES:
        return UsccCheck(code, False, error=f"第 1 位登记管理部门代码 {code[0]} 不存在（应为 1–9、A、N、Y）")
    if code[1] not in ENTITY_TYPES:
        return UsccCheck(code, False, error=f"第 2 位机构类别代码 {code[1]} 不存在（应为 1、2、3 或 9）")
    if not code[2:8].isdigit():
        return UsccCheck(code, False, error="第 3–8 位应为行政区划代码（6 位数字）")
    expected = check_char(code[:17])
    org_expected = _org_check_char(code[8:16])
    if code in legacy_codes() and (expected != code[17] or org_expected != code[16]):
        if allow_legacy:
            return UsccCheck(code, True, legacy=True, expected=expected)
        return UsccCheck(
            code, False, expected=expected,
            error=f"校验位错误：第 18 位应为 {expected}，实为 {code[17]}（早期试点代码仅在导入存量企业时接受）",
        )
    if org_expected != code[16]:
        return UsccCheck(
            code, False, expected=org_expected,
            error=f"组织机构代码校验位错误：第 17 位应为 {org_expected}，实为 {code[16]}",
        )
    if expected != code[17]:
        return UsccCheck(
            code, False, expected=expected,
            error=f"校验位错误：第 18 位应为 {expected}，实为 {code[17]}",
        )
    return UsccCheck(code, True)


def region_code_of(code: str) -> str:
    return code[2:8]


def province_code_of(code: str) -> str:
    return code[2:4]


def make_uscc(authority: str, entity_type: str, region: str, org8: str) -> str:
    """Build a valid code from its parts (the two check characters are computed)."""
    first16 = f"{authority}{entity_type}{region}{org8}{_org_check_char(org8)}"
    return first16 + check_char(first16)
