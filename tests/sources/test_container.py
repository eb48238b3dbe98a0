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
