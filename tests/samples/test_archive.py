from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from pathlib import Path

import py7zr
import pytest
import pyzipper

from sekimori.samples import SampleError
from sekimori.samples.archive import (
    build_7z,
    build_gzip,
    build_nested_zip,
    build_padded_zip,
    build_zip,
    build_zip_bomb,
    crc32_combine,
    crc32_of_zeros,
)

FILES = {"請求書_1125.docm": b"PK fake docm " * 50, "readme.txt": b"detector-test\n"}


def test_plain_zip_reads_with_zipfile() -> None:
    with zipfile.ZipFile(io.BytesIO(build_zip(FILES))) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == FILES
        assert archive.getinfo("請求書_1125.docm").flag_bits & 0x800


def test_zipcrypto_reads_with_zipfile_and_pyzipper() -> None:
    data = build_zip(FILES, password="Xk3m9Qa", aes=False)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(info.flag_bits & 0x1 for info in archive.infolist())
        with pytest.raises(RuntimeError):
            archive.read("readme.txt")
        archive.setpassword(b"Xk3m9Qa")
        assert archive.testzip() is None
        assert archive.read("readme.txt") == FILES["readme.txt"]
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"Xk3m9Qa")
        assert archive.read("請求書_1125.docm") == FILES["請求書_1125.docm"]


def test_aes_zip() -> None:
    data = build_zip(FILES, password="Xk3m9Qa", aes=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(info.compress_type == 99 for info in archive.infolist())  # WinZip AES
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"Xk3m9Qa")
        assert {name: archive.read(name) for name in archive.namelist()} == FILES
    with zipfile.ZipFile(io.BytesIO(data)) as archive, pytest.raises(RuntimeError):
        archive.read("readme.txt")


def test_cp932_names_without_utf8_flag() -> None:
    data = build_zip(FILES, password="pw", aes=False, name_encoding="cp932")
    with zipfile.ZipFile(io.BytesIO(data), metadata_encoding="cp932") as archive:
        assert sorted(archive.namelist()) == sorted(FILES)
        assert not any(info.flag_bits & 0x800 for info in archive.infolist())


def test_bad_arguments() -> None:
    with pytest.raises(SampleError):
        build_zip({})
    with pytest.raises(SampleError):
        build_zip({"../evil": b""} | {"/abs": b""})
    with pytest.raises(SampleError):
        build_zip(FILES, password="")
    with pytest.raises(SampleError):
        build_7z(FILES, encrypt_headers=True)


def test_7z_with_encrypted_headers(tmp_path: Path) -> None:
    data = build_7z(FILES, password="Xk3m9Qa", encrypt_headers=True)
    assert data.startswith(b"7z\xbc\xaf\x27\x1c")
    with pytest.raises(py7zr.exceptions.PasswordRequired):
        py7zr.SevenZipFile(io.BytesIO(data)).close()
    with py7zr.SevenZipFile(io.BytesIO(data), password="Xk3m9Qa") as archive:
        assert sorted(archive.getnames()) == sorted(FILES)
        archive.extractall(path=tmp_path)
    assert (tmp_path / "readme.txt").read_bytes() == FILES["readme.txt"]


def test_gzip() -> None:
    data = build_gzip(b"detector-test", "log.txt")
    assert gzip.decompress(data) == b"detector-test"
    assert b"log.txt\x00" in data[:20]


def test_zip_bomb_is_small_and_expands() -> None:
    size = 2 * 1024**3
    data = build_zip_bomb(size)
    assert len(data) < 5 * 1024**2
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        assert info.file_size == size
        assert info.file_size / info.compress_size > 1000
        with archive.open(info) as stream:
            head = stream.read(1 << 20)
    assert head == bytes(1 << 20)


def test_small_bomb_fully_valid() -> None:
    size = 3 * (1 << 20) + 12345
    with zipfile.ZipFile(io.BytesIO(build_zip_bomb(size))) as archive:
        assert archive.testzip() is None  # CRC-32 checked over all the zeros
        assert archive.read("zeros.bin") == bytes(size)


def test_zip64_bomb_declares_more_than_4_gib() -> None:
    size = 5 * 1024**3
    data = build_zip_bomb(size)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.infolist()[0].file_size == size


def test_bomb_with_lying_header() -> None:
    data = build_zip_bomb(1 << 22, declared_size=1000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.infolist()[0].file_size == 1000


def test_nested_zip() -> None:
    data = build_nested_zip(6, width=2)
    depth = 0
    while True:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            data = archive.read(names[0])
        depth += 1
        if not names[0].endswith(".zip"):
            break
        assert len(names) == 2
    assert depth == 6
    assert data == b"detector-test\n"


@pytest.mark.parametrize("size", [0, 1, 2, 1000, (1 << 20) + 3, 3 * (1 << 20)])
def test_crc32_of_zeros(size: int) -> None:
    assert crc32_of_zeros(size) == zlib.crc32(bytes(size))


def test_crc32_combine() -> None:
    assert crc32_combine(zlib.crc32(b"abc"), zlib.crc32(b"defgh"), 5) == zlib.crc32(b"abcdefgh")


def test_padded_zip() -> None:
    doc = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 40
    data = build_padded_zip("請求書.doc", doc, 500 * 1024**2)
    assert len(data) < 1024**2
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        assert info.file_size == 500 * 1024**2
        with archive.open(info) as stream:
            assert stream.read(len(doc) + 10) == doc + bytes(10)
    small = build_padded_zip("a.doc", doc, len(doc) + 5000)
    with zipfile.ZipFile(io.BytesIO(small)) as archive:
        assert archive.testzip() is None
        assert archive.read("a.doc") == doc + bytes(5000)
    with pytest.raises(SampleError):
        build_padded_zip("a.doc", doc, 10)
