from __future__ import annotations

import dataclasses
import gzip
import io
import os
import zipfile

from sekimori.mail.archive import analyze_7z, analyze_gzip, analyze_zip
from sekimori.mail.context import Limits, ScanContext
from sekimori.samples.archive import build_zip, make_member, write_zip
from tests.conftest import shared_path
from tests.mail.helpers import aes_zip, plain_zip

STRELKA = ("office", "strelka-fixtures")


def ids(analysis) -> list[str]:
    return [h.id for h in analysis.hits]


def test_plain_zip_members_become_children() -> None:
    result = analyze_zip(plain_zip({"a.txt": b"hello", "b/c.txt": b"x"}), "x.zip", ScanContext())
    assert [c.name for c in result.children] == ["a.txt", "b/c.txt"]
    assert result.unscannable is None and ids(result) == []


def test_aes_zip_opened_with_body_password() -> None:
    data = aes_zip({"請求書.xlsx": b"content"}, "Gd82kLp")
    locked = analyze_zip(data, "x.zip", ScanContext(passwords=("wrong",)))
    assert ids(locked) == ["archive.encrypted_locked"] and locked.unscannable
    assert locked.facts["members"] == ["請求書.xlsx"]
    opened = analyze_zip(data, "x.zip", ScanContext(passwords=("nope", "Gd82kLp")))
    assert ids(opened) == ["archive.password_from_body"]
    assert opened.hits[0].evidence["password"] == "Gd82kLp"
    assert opened.children[0].data == b"content"


def test_zipcrypto_and_aes_fixtures() -> None:
    for name in ("test_zip_password.zip", "test_aes256_password.zip"):
        data = shared_path(*STRELKA, name).read_bytes()
        result = analyze_zip(data, name, ScanContext(passwords=("infected", "password")))
        assert ids(result) == ["archive.password_from_body"], name
        assert len(result.children) == 4


def test_zipcrypto_members_decrypt_whole() -> None:
    # Deflated and stored, larger than a read chunk: the C decrypter keeps its keys across reads.
    big = os.urandom(300_000)
    data = build_zip({"a.bin": big, "b.txt": b"x" * 70_000}, "Gd82kLp", aes=False)
    result = analyze_zip(data, "x.zip", ScanContext(passwords=("nope", "Gd82kLp")))
    assert ids(result) == ["archive.password_from_body"]
    assert [c.data for c in result.children] == [big, b"x" * 70_000]


def test_zipcrypto_member_with_a_bad_crc_is_corrupt_not_a_crash() -> None:
    good = make_member("a.txt", b"hello", password=b"pw", compress=False)
    bad = make_member("b.txt", b"world", password=b"pw", compress=False)
    # The check byte (the CRC's high byte) still passes; the CRC check after reading fails.
    bad = dataclasses.replace(bad, crc=bad.crc ^ 0xFF)
    opened = analyze_zip(write_zip([good, bad]), "x.zip", ScanContext(passwords=("pw",)))
    assert [c.name for c in opened.children] == ["a.txt"]
    assert "archive.corrupt" in ids(opened) and opened.unscannable
    locked = analyze_zip(write_zip([bad]), "x.zip", ScanContext(passwords=("pw",)))
    assert ids(locked) == ["archive.encrypted_locked"] and locked.unscannable


def test_7z_with_and_without_password() -> None:
    data = shared_path(*STRELKA, "test_password.7z").read_bytes()
    assert analyze_7z(data, "x.7z", ScanContext()).unscannable
    opened = analyze_7z(data, "x.7z", ScanContext(passwords=("infected", "password")))
    assert ids(opened) == ["archive.password_from_body"] and len(opened.children) == 4


def test_ratio_bomb_is_unscannable() -> None:
    data = plain_zip({"zeros.bin": b"\0" * (20 * 1024 * 1024)})
    result = analyze_zip(data, "bomb.zip", ScanContext())
    assert ids(result) == ["archive.bomb"] and result.children == []
    assert "ratio" in (result.unscannable or "")


def test_member_count_and_total_size_limits() -> None:
    many = plain_zip({f"f{i}.txt": b"x" for i in range(30)})
    assert "archive.bomb" in ids(
        analyze_zip(many, "m.zip", ScanContext(limits=Limits(max_members=10)))
    )
    big = plain_zip({"a.bin": b"a" * 5000, "b.bin": b"b" * 5000})
    small = ScanContext(limits=Limits(max_total_size=6000))
    assert "archive.bomb" in ids(analyze_zip(big, "b.zip", small))


def test_forged_sizes_are_caught_while_reading() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"a" * 10_000)
    result = analyze_zip(buf.getvalue(), "a.zip", ScanContext(limits=Limits(max_file_size=1000)))
    assert "archive.bomb" in ids(result)


def test_gzip_and_gzip_bomb() -> None:
    result = analyze_gzip(gzip.compress(b"hello"), "note.txt.gz", ScanContext())
    assert result.children[0].name == "note.txt" and result.children[0].data == b"hello"
    bomb = gzip.compress(b"\0" * 3_000_000)
    limited = analyze_gzip(bomb, "x.gz", ScanContext(limits=Limits(max_file_size=1_000_000)))
    assert ids(limited) == ["archive.bomb"]
