"""The demo data set gives a spread of grades (acceptance: at least six grades)."""

from __future__ import annotations

from click.testing import CliRunner

from app.cli import main


def test_the_seeded_demo_covers_at_least_six_grades(fresh_databases, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["seed", "--firms", "300", "--seed", "2026", "--password", "demo-pass-1"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("信用评价"))
    counts = dict(part.split() for part in line.split("等级分布 ")[1].split("，"))
    assert sum(int(n) for n in counts.values()) == 300
    assert sum(1 for n in counts.values() if int(n) > 0) >= 6, line
