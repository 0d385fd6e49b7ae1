"""Argon2id parameters come from configuration: production's meet OWASP's minimum for
Argon2id, the cheap test profile is only taken when asked for, and a hash made under other
parameters still verifies and is upgraded at sign-in."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.profiles import RFC_9106_LOW_MEMORY

from app.accounts import passwords
from app.accounts.services import authenticate
from app.core.config import OWASP_MINIMUMS, PROFILES, Argon2Params, load_settings, meets_owasp


def test_production_defaults_meet_owasp_for_argon2id(monkeypatch, tmp_path):
    for name in ("PC_PASSWORD_HASH", "PC_ARGON2_TIME_COST", "PC_ARGON2_MEMORY_KIB", "PC_ARGON2_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    params = load_settings({"instance_path": tmp_path, "secret_key": "k"}).password_hash
    assert params == PROFILES["production"]
    # OWASP: Argon2id with at least 19 MiB and 2 passes (or an equivalent pair) at one lane.
    assert params.memory_kib >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1
    assert meets_owasp(params)
    # and no weaker than argon2-cffi's own default (RFC 9106, second recommendation)
    assert params.memory_kib >= RFC_9106_LOW_MEMORY.memory_cost and params.time_cost >= RFC_9106_LOW_MEMORY.time_cost
    hasher = passwords.hasher_for(params)
    assert hasher.type is Type.ID


def test_the_owasp_table_itself():
    assert (19456, 2) in OWASP_MINIMUMS
    assert not meets_owasp(Argon2Params(time_cost=1, memory_kib=19456, parallelism=1))
    assert not meets_owasp(PROFILES["test"])


def test_the_suite_hashes_with_the_cheap_profile(app):
    assert passwords.hashing.params == PROFILES["test"]
    assert passwords.hashing.hasher.hash("x" * 12).startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_weak_parameters_are_refused_outside_the_test_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("PC_PASSWORD_HASH", "production")
    monkeypatch.setenv("PC_ARGON2_MEMORY_KIB", "4096")
    with pytest.raises(RuntimeError, match="OWASP"):
        load_settings({"instance_path": tmp_path, "secret_key": "k"})
    monkeypatch.setenv("PC_PASSWORD_HASH", "fast")
    with pytest.raises(RuntimeError, match="PC_PASSWORD_HASH"):
        load_settings({"instance_path": tmp_path, "secret_key": "k"})
    monkeypatch.setenv("PC_PASSWORD_HASH", "production")
    monkeypatch.setenv("PC_ARGON2_MEMORY_KIB", "lots")
    with pytest.raises(RuntimeError, match="PC_ARGON2_MEMORY_KIB"):
        load_settings({"instance_path": tmp_path, "secret_key": "k"})
    monkeypatch.setenv("PC_ARGON2_MEMORY_KIB", "47104")
    monkeypatch.setenv("PC_ARGON2_TIME_COST", "1")
    assert load_settings({"instance_path": tmp_path, "secret_key": "k"}).password_hash.memory_kib == 47104


def test_a_weaker_hash_is_upgraded_at_sign_in(db, make_user):
    user = make_user("operator")
    cheap = user.password_hash
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    stronger = Argon2Params(time_cost=2, memory_kib=64, parallelism=1)
    passwords.configure(stronger)
    try:
        assert authenticate(db, user.username, "wrong-password-123") is None
        assert user.password_hash == cheap  # a failed sign-in rewrites nothing
        assert authenticate(db, user.username, "correct-horse-battery") is user
        assert user.password_hash.startswith("$argon2id$v=19$m=64,t=2,p=1$")
    finally:
        passwords.configure(PROFILES["test"])


def test_a_stronger_hash_is_never_weakened(db, make_user):
    """The cheap test profile pointed at real accounts verifies their hashes but keeps them."""
    user = make_user("operator")
    strong = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    user.password_hash = strong.hash("correct-horse-battery")
    db.flush()
    assert authenticate(db, user.username, "correct-horse-battery") is user
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    legacy = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I)  # Argon2i: moved to Argon2id
    user.password_hash = legacy.hash("correct-horse-battery")
    assert authenticate(db, user.username, "correct-horse-battery") is user
    assert user.password_hash.startswith("$argon2id$")


def test_the_service_refuses_to_serve_with_the_test_profile(monkeypatch, tmp_path, fresh_databases):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PC_PASSWORD_HASH", "test")
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "PC_PASSWORD_HASH=test 只用于测试" in result.output


def test_a_configuration_error_names_the_variables(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PC_PASSWORD_HASH", "Production")  # any case
    monkeypatch.setenv("PC_ARGON2_MEMORY_KIB", "1024")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "PC_ARGON2_MEMORY_KIB=1024" in result.output and "OWASP" in result.output
    assert "Traceback" not in result.output
