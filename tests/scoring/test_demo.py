"""The demo data set gives a spread of grades (acceptance: at least six grades)."""

from __future__ import annotations


def test_the_seeded_demo_covers_at_least_six_grades(demo):
    line = next(x for x in demo.output.splitlines() if x.startswith("信用评价"))
    counts = dict(part.split() for part in line.split("等级分布 ")[1].split("，"))
    assert sum(int(n) for n in counts.values()) == 300
    assert sum(1 for n in counts.values() if int(n) > 0) >= 6, line
