from __future__ import annotations

import io
import struct

import olefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekimori.samples import SampleError
from sekimori.samples.cfb import (
    NOSTREAM,
    Storage,
    sort_key,
    storage_from_paths,
    write_cfb,
)


def _open(data: bytes) -> olefile.OleFileIO:
    # DEFECT_INCORRECT: olefile raises on anything the spec calls incorrect.
    return olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)


def _check_sibling_trees(data: bytes) -> None:
    """Every storage's children form a binary search tree in MS-CFB 2.6.4 order."""
    ole = _open(data)
    entries = ole.direntries
    for entry in entries:
        if entry is None or entry.entry_type not in (olefile.STGTY_ROOT, olefile.STGTY_STORAGE):
            continue

        def inorder(sid: int) -> list[str]:
            if sid == NOSTREAM:
                return []
            node = entries[sid]
            return [*inorder(node.sid_left), node.name, *inorder(node.sid_right)]

        names = inorder(entry.sid_child)
        assert names == sorted(names, key=sort_key)
        assert len(names) == len(entry.kids)


def test_streams_and_storages_read_back() -> None:
    streams = {
        "WordDocument": bytes(range(256)) * 20,  # regular sectors
        "1Table": b"table",  # mini stream
        "\x05SummaryInformation": b"s" * 4095,  # largest mini stream
        "Exactly4096": b"e" * 4096,  # smallest regular stream
        "Empty": b"",
        "Macros/VBA/dir": b"d" * 100,
        "Macros/VBA/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
        "Macros/PROJECT": b"ID=...",
    }
    for index in range(30):
        streams[f"Many/s{index:02d}"] = bytes([index]) * (index * 41)
    data = write_cfb(storage_from_paths(streams))
    ole = _open(data)
    assert len(data) % 512 == 0
    listed = {"/".join(path) for path in ole.listdir()}
    assert listed == set(streams)
    for path, content in streams.items():
        assert ole.openstream(path).read() == content
    assert ole.get_type("Macros/VBA") == olefile.STGTY_STORAGE
    _check_sibling_trees(data)


def test_header_fields() -> None:
    data = write_cfb(storage_from_paths({"a": b"x"}, clsid=bytes(range(16))))
    assert data[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    minor, major, order, shift, mini_shift = struct.unpack_from("<HHHHH", data, 24)
    assert (minor, major, order, shift, mini_shift) == (0x3E, 3, 0xFFFE, 9, 6)
    assert _open(data).root.clsid == "03020100-0504-0706-0809-0A0B0C0D0E0F"


def test_difat_sectors_for_large_files() -> None:
    # More than 109 FAT sectors (109 * 128 * 512 bytes) needs DIFAT sectors.
    big = b"\x5a" * (109 * 128 * 512 + 4096)
    data = write_cfb(storage_from_paths({"big": big, "small": b"abc"}))
    num_difat = struct.unpack_from("<I", data, 0x48)[0]
    assert num_difat >= 1
    ole = _open(data)
    assert ole.openstream("big").read() == big
    assert ole.openstream("small").read() == b"abc"


def test_output_is_deterministic() -> None:
    streams = {"b": b"1", "A": b"2", "c/d": b"3"}
    assert write_cfb(storage_from_paths(streams)) == write_cfb(storage_from_paths(streams))


@pytest.mark.parametrize("name", ["a/b", "x" * 32, "bad:name", "bang!"])
def test_bad_names(name: str) -> None:
    root = Storage("Root Entry")
    root.children.append(Storage(name))
    with pytest.raises(SampleError):
        write_cfb(root)


def test_duplicate_names_case_insensitive() -> None:
    root = storage_from_paths({"Name": b"1"})
    root.storage("x")
    root.children.append(Storage("NAME"))
    with pytest.raises(SampleError):
        write_cfb(root)


def test_stream_and_storage_clash() -> None:
    root = storage_from_paths({"a": b"1"})
    with pytest.raises(SampleError):
        root.add_stream("a/b", b"2")
    with pytest.raises(SampleError):
        root.storage("a")


_names = st.text(
    alphabet=st.characters(blacklist_characters="/\\:!", min_codepoint=0x20, max_codepoint=0x7E),
    min_size=1,
    max_size=31,
)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(_names, st.binary(max_size=5000), min_size=1, max_size=12))
def test_any_flat_tree_reads_back(streams: dict[str, bytes]) -> None:
    unique = {name.upper(): (name, data) for name, data in streams.items()}
    root = Storage("Root Entry")
    for name, data in unique.values():
        root.add_stream(name, data)
    data = write_cfb(root)
    ole = _open(data)
    for name, content in unique.values():
        assert ole.openstream([name]).read() == content
    _check_sibling_trees(data)
