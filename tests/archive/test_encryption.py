"""Personal fields are AES-GCM ciphertext at rest, bound to their row, and rotatable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.archive.models import Enterprise
from app.archive.services import personal_fields, reencrypt_all
from app.core.crypto import DecryptionError, FieldCipher, KeyRing


def test_columns_hold_no_plaintext(db, make_enterprise):
    ent = make_enterprise(legal_rep_name="欧阳明", legal_rep_id="110105198507071234", contact_phone="13912345678")
    raw = db.execute(sa.select(Enterprise.legal_rep_name_enc, Enterprise.legal_rep_id_enc,
                               Enterprise.contact_phone_enc).where(Enterprise.id == ent.id)).one()
    joined = " ".join(raw)
    for plain in ("欧阳明", "110105198507071234", "13912345678"):
        assert plain not in joined
    assert all(v.startswith("k1:") for v in raw)


def test_sqlite_file_holds_no_plaintext(tmp_path):
    from app.archive.services import load_enterprise, register_enterprise
    from app.core.db import Database
    from app.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'enc.db'}"
    upgrade(url)
    database = Database(url)
    cipher = FieldCipher(KeyRing.generate())
    with database.transaction() as session:
        register_enterprise(session, cipher, load_enterprise({
            "uscc": "91440101MA5CJQ4N59", "name": "广州某售电有限公司", "segment": "retail",
            "legal_rep_name": "欧阳明", "legal_rep_id": "110105198507071234", "contact_phone": "13912345678"}))
    database.dispose()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("enc.db*"))
    assert "广州某售电有限公司".encode() in data  # the file is readable: the check below means something
    for plain in ("欧阳明", "110105198507071234", "13912345678"):
        assert plain.encode() not in data


def test_ciphertext_moved_to_another_row_does_not_decrypt(db, cipher, make_enterprise):
    a, b = make_enterprise(), make_enterprise()
    b.legal_rep_id_enc = a.legal_rep_id_enc
    with pytest.raises(DecryptionError):
        personal_fields(cipher, b)


def test_rotation_reencrypts_with_the_new_key(db, cipher, make_enterprise):
    ent = make_enterprise(contact_phone="13700001111")
    new = FieldCipher(cipher.ring.with_new_key())
    assert new.ring.active == "k2"
    changed = reencrypt_all(db, cipher, new)
    assert changed >= 3
    assert ent.contact_phone_enc.startswith("k2:")
    assert personal_fields(new, ent)["contact_phone"] == "13700001111"
    assert reencrypt_all(db, cipher, new) == 0  # idempotent
    with pytest.raises(DecryptionError):
        personal_fields(FieldCipher(KeyRing.generate()), ent)


def test_reimporting_an_unchanged_firm_rewrites_nothing(db, cipher, make_enterprise):
    from app.archive.services import upsert_enterprise

    ent = make_enterprise(contact_phone="13912345678")
    row = {"uscc": ent.uscc, "name": ent.name, "segment": "supplier", "registered_capital": "5000000",
           "founded_on": "2015-03-01", "legal_rep_name": "张伟", "legal_rep_id": "330106198001011234",
           "contact_phone": "13912345678"}
    before = (ent.legal_rep_name_enc, ent.legal_rep_id_enc, ent.contact_phone_enc, ent.updated_at)
    _, created, _ = upsert_enterprise(db, cipher, row)
    assert not created
    assert (ent.legal_rep_name_enc, ent.legal_rep_id_enc, ent.contact_phone_enc, ent.updated_at) == before
    upsert_enterprise(db, cipher, {**row, "contact_phone": "13900002222"})
    assert ent.contact_phone_enc != before[2] and ent.legal_rep_id_enc == before[1]
    assert personal_fields(cipher, ent)["contact_phone"] == "13900002222"
