from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from sekimori.errors import SourceError
from sekimori.sources.container import iter_line_chunks, open_members, read_head


def test_head_of_gzip_and_zip(tmp_path: Path) -> None:
    text = b"#separator \\x09\n" + b"x" * 10_000
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(text))
    assert read_head(gz, 100) == text[:100]
    zipped = tmp_path / "a.zip"
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner/a.json", text)
    assert read_head(zipped, 100) == text[:100]


def test_zip_members_are_streams(tmp_path: Path) -> None:
    zipped = tmp_path / "b.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("one.json", b"1")
        archive.writestr(".hidden", b"2")
        archive.writestr("dir/two.json", b"3")
    members = [(m.where, m.stream.read()) for m in open_members(zipped)]
    assert members == [(f"{zipped}!one.json", b"1"), (f"{zipped}!dir/two.json", b"3")]


def test_broken_zip_is_a_source_error(tmp_path: Path) -> None:
    broken = tmp_path / "c.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(SourceError):
        list(open_members(broken))


def test_line_chunks_keep_whole_lines_and_numbers() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 101)) + b"tail"
    chunks = list(iter_line_chunks(io.BytesIO(data[5:]), chunk_size=64, prefix=data[:5]))
    assert b"".join(c for _, c in chunks) == data
    for first, chunk in chunks[:-1]:
        assert chunk.endswith(b"\n")
        assert chunk.startswith(b"line %d\n" % first)
    assert chunks[-1] == (101, b"tail")


def test_tar_gz_members_and_head(tmp_path: Path) -> None:
    import tarfile

    inner = tmp_path / "events.json"
    inner.write_bytes(b'{"EventID": 1, "Channel": "Security"}\n')
    packed = tmp_path / "events.tar.gz"
    with tarfile.open(packed, "w:gz") as archive:
        archive.add(inner, arcname="export/events.json")
    assert read_head(packed, 100) == inner.read_bytes()
    members = [(m.where, m.stream.read()) for m in open_members(packed)]
    assert members == [(f"{packed}!export/events.json", inner.read_bytes())]


def test_cut_gzip_keeps_what_was_read_and_counts_the_damage(tmp_path: Path) -> None:
    from sekimori.sources.base import ReadReport

    text = b"".join(b"line %06d\n" % i for i in range(200_000))
    packed = gzip.compress(text)
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    report = ReadReport(path=str(cut), source="t")
    data = b"".join(member.stream.read() for member in open_members(cut, report))
    assert 0 < len(data) < len(text) and text.startswith(data)
    assert report.skipped == 1 and "cut short" in report.problems[0]


def test_gzip_members_concatenated_and_trailing_garbage(tmp_path: Path) -> None:
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n") + b"\n\x00")
    assert [m.stream.read() for m in open_members(path)] == [b"one\ntwo\n"]


def test_reads_return_what_was_asked(tmp_path: Path) -> None:
    text = bytes(range(256)) * 4000
    for name, data in (("plain.bin", text), ("packed.gz", gzip.compress(text))):
        path = tmp_path / name
        path.write_bytes(data)
        for member in open_members(path):
            assert member.stream.read(100_000) == text[:100_000]
            assert member.stream.read() == text[100_000:]


def test_encrypted_zip_member_is_counted(tmp_path: Path) -> None:
    from sekimori.sources.base import ReadReport

    path = tmp_path / "locked.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.json", b"{}")
    data = bytearray(path.read_bytes())
    data[6] |= 0x1  # local header: encrypted
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # central directory: encrypted
    path.write_bytes(bytes(data))
    report = ReadReport(path=str(path), source="t")
    assert list(open_members(path, report)) == []
    assert report.skipped == 1 and "encrypted" in report.problems[0]


def test_zip_head_skips_folders_and_empty_members(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/", b"")
        archive.writestr("export/.DS_Store", b"\x00\x00")
        archive.writestr("export/empty.json", b"")
        archive.writestr("export/events.json", b'{"EventID": 4624, "Channel": "Security"}\n')
    assert read_head(path, 64) == b'{"EventID": 4624, "Channel": "Security"}\n'
