"""Writer of Microsoft Compound File Binary files (MS-CFB, version 3, 512-byte sectors).

A compound file is a small file system inside one file: storages (folders) and
streams (files) in a tree. This writer lays them out as MS-CFB section 2 says:

- the 512-byte header (MS-CFB 2.2) with the first 109 DIFAT entries;
- FAT sectors (2.3) chaining every regular sector, located through the header
  DIFAT and, beyond 109 FAT sectors, DIFAT sectors (2.5);
- streams shorter than the 4,096-byte cutoff live in the mini stream, 64-byte
  mini sectors chained by the mini FAT (2.4) and held by the root entry;
- the directory (2.6): one 128-byte entry per object; the children of a
  storage form a binary search tree ordered as 2.6.4 says (shorter name first,
  then code-point comparison of the upper-cased names). The tree is balanced
  and every node is black, which 2.6.4 explicitly allows.

The output is deterministic: no timestamps, no random CLSIDs. Read it back with
``olefile``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sekimori.samples import SampleError

SECTOR_SIZE = 512
MINI_SECTOR_SIZE = 64
MINI_STREAM_CUTOFF = 4096
DIR_ENTRY_SIZE = 128
HEADER_DIFAT_ENTRIES = 109

MAXREGSECT = 0xFFFFFFFA
DIFSECT = 0xFFFFFFFC
FATSECT = 0xFFFFFFFD
ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
NOSTREAM = 0xFFFFFFFF

SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")

_TYPE_STORAGE = 1
_TYPE_STREAM = 2
_TYPE_ROOT = 5
_BLACK = 1
_FORBIDDEN_NAME_CHARS = frozenset("/\\:!")
_ENTRIES_PER_SECTOR = SECTOR_SIZE // 4


@dataclass(frozen=True)
class Stream:
    """A stream (a file) in a compound file: a name and its bytes."""

    name: str
    data: bytes


@dataclass
class Storage:
    """A storage (a folder) in a compound file, holding streams and storages.

    ``clsid`` is the 16-byte CLSID written in the directory entry (MS-CFB 2.6.3);
    the root storage's CLSID names the application (e.g. Word.Document.8).
    """

    name: str
    children: list[Storage | Stream] = field(default_factory=list)
    clsid: bytes = bytes(16)

    def child(self, name: str) -> Storage | Stream | None:
        """The direct child called ``name`` (compared case-insensitively), if any."""
        key = name.upper()
        for node in self.children:
            if node.name.upper() == key:
                return node
        return None

    def storage(self, path: str) -> Storage:
        """The storage at ``path`` ("A/B"), created with its parents when missing."""
        node: Storage = self
        for part in _split(path):
            found = node.child(part)
            if found is None:
                found = Storage(part)
                node.children.append(found)
            if not isinstance(found, Storage):
                raise SampleError(f"{part!r} is a stream, not a storage", where=path)
            node = found
        return node

    def add_stream(self, path: str, data: bytes) -> Stream:
        """Add (or replace) the stream at ``path`` ("A/B/name"), creating storages."""
        parts = _split(path)
        if not parts:
            raise SampleError("empty stream path", where=path)
        parent = self.storage("/".join(parts[:-1])) if len(parts) > 1 else self
        existing = parent.child(parts[-1])
        if isinstance(existing, Storage):
            raise SampleError(f"{parts[-1]!r} is a storage, not a stream", where=path)
        if existing is not None:
            parent.children.remove(existing)
        stream = Stream(parts[-1], bytes(data))
        parent.children.append(stream)
        return stream

    def walk(self, prefix: str = "") -> Iterable[tuple[str, Stream]]:
        """Every stream below this storage with its slash-separated path."""
        for node in self.children:
            path = f"{prefix}{node.name}"
            if isinstance(node, Stream):
                yield path, node
            else:
                yield from node.walk(path + "/")


def storage_from_paths(streams: Mapping[str, bytes], clsid: bytes = bytes(16)) -> Storage:
    """A root storage holding ``streams`` keyed by slash-separated paths."""
    root = Storage("Root Entry", clsid=clsid)
    for path, data in streams.items():
        root.add_stream(path, data)
    return root


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def sort_key(name: str) -> tuple[int, str]:
    """Sibling order of MS-CFB 2.6.4: name length first, then upper-cased code points."""
    upper = "".join(c.upper() if len(c.upper()) == 1 else c for c in name)
    return (len(name.encode("utf-16-le")) // 2, upper)


@dataclass
class _Entry:
    name: str
    kind: int
    clsid: bytes = bytes(16)
    data: bytes = b""
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    start: int = ENDOFCHAIN
    size: int = 0


def _check_name(name: str, where: str) -> None:
    if not name:
        raise SampleError("empty entry name", where=where)
    if len(name.encode("utf-16-le")) // 2 > 31:
        raise SampleError(f"entry name longer than 31 characters: {name!r}", where=where)
    if _FORBIDDEN_NAME_CHARS.intersection(name):
        raise SampleError(f"entry name contains one of / \\ : ! : {name!r}", where=where)


def _flatten(root: Storage) -> list[_Entry]:
    """Directory entries in stream-id order with the sibling trees linked."""
    entries = [_Entry("Root Entry", _TYPE_ROOT, clsid=root.clsid)]
    pending: list[tuple[int, Storage, str]] = [(0, root, "")]
    while pending:
        parent_id, storage, path = pending.pop(0)
        children = sorted(storage.children, key=lambda node: sort_key(node.name))
        keys = [sort_key(node.name) for node in children]
        for before, after in itertools.pairwise(keys):
            if before == after:
                raise SampleError(f"two entries named {after[1]!r}", where=path or "/")
        ids: list[int] = []
        for node in children:
            _check_name(node.name, path + node.name)
            if len(node.clsid if isinstance(node, Storage) else bytes(16)) != 16:
                raise SampleError("CLSID must be 16 bytes", where=path + node.name)
            ids.append(len(entries))
            if isinstance(node, Storage):
                entries.append(_Entry(node.name, _TYPE_STORAGE, clsid=node.clsid))
                pending.append((ids[-1], node, f"{path}{node.name}/"))
            else:
                entries.append(_Entry(node.name, _TYPE_STREAM, data=node.data))
        entries[parent_id].child = _link_balanced(entries, ids, 0, len(ids))
    return entries


def _link_balanced(entries: list[_Entry], ids: list[int], low: int, high: int) -> int:
    """Link ids[low:high] as a balanced search tree and return its root id."""
    if low >= high:
        return NOSTREAM
    middle = (low + high) // 2
    node = entries[ids[middle]]
    node.left = _link_balanced(entries, ids, low, middle)
    node.right = _link_balanced(entries, ids, middle + 1, high)
    return ids[middle]


def _chain(table: list[int], start: int, count: int) -> None:
    for index in range(start, start + count - 1):
        table[index] = index + 1
    table[start + count - 1] = ENDOFCHAIN


def _ceil_div(value: int, unit: int) -> int:
    return -(-value // unit)


def _dir_entry(entry: _Entry) -> bytes:
    encoded = entry.name.encode("utf-16-le") + b"\x00\x00"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded,
        len(encoded),
        entry.kind,
        _BLACK,
        entry.left,
        entry.right,
        entry.child,
        entry.clsid,
        0,
        0,
        0,
        entry.start,
        entry.size,
    )


_EMPTY_ENTRY = struct.pack(
    "<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, bytes(16), 0, 0, 0, 0, 0
)


def write_cfb(root: Storage) -> bytes:
    r"""Serialize ``root`` (its name is ignored: the root is "Root Entry") to CFB bytes.

    Raises SampleError for names MS-CFB 2.6.1 forbids (over 31 characters,
    ``/ \\ : !``) or for two siblings with the same name.
    """
    entries = _flatten(root)

    # Mini stream (MS-CFB 2.4): small streams packed in 64-byte mini sectors.
    mini_fat: list[int] = []
    mini_stream = bytearray()
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != _TYPE_STREAM:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            entry.start = ENDOFCHAIN
        elif entry.size < MINI_STREAM_CUTOFF:
            count = _ceil_div(entry.size, MINI_SECTOR_SIZE)
            entry.start = len(mini_fat)
            mini_fat.extend([FREESECT] * count)
            _chain(mini_fat, entry.start, count)
            mini_stream += entry.data + bytes(count * MINI_SECTOR_SIZE - entry.size)
        else:
            big.append(entry)

    entry_count = _ceil_div(len(entries), SECTOR_SIZE // DIR_ENTRY_SIZE) * 4
    dir_sectors = entry_count * DIR_ENTRY_SIZE // SECTOR_SIZE
    minifat_sectors = _ceil_div(len(mini_fat), _ENTRIES_PER_SECTOR)
    ministream_sectors = _ceil_div(len(mini_stream), SECTOR_SIZE)
    big_sectors = [_ceil_div(entry.size, SECTOR_SIZE) for entry in big]
    data_sectors = dir_sectors + minifat_sectors + ministream_sectors + sum(big_sectors)

    # FAT and DIFAT sizes depend on each other (MS-CFB 2.3, 2.5): iterate to a fixed point.
    fat_sectors, difat_sectors = 1, 0
    while True:
        total = data_sectors + fat_sectors + difat_sectors
        need_fat = _ceil_div(total, _ENTRIES_PER_SECTOR)
        need_difat = _ceil_div(max(0, need_fat - HEADER_DIFAT_ENTRIES), _ENTRIES_PER_SECTOR - 1)
        if (need_fat, need_difat) == (fat_sectors, difat_sectors):
            break
        fat_sectors, difat_sectors = need_fat, need_difat
    total = data_sectors + fat_sectors + difat_sectors
    if total > MAXREGSECT:
        raise SampleError("compound file too large for 32-bit sector numbers")

    fat = [FREESECT] * (fat_sectors * _ENTRIES_PER_SECTOR)
    cursor = 0
    fat_ids = list(range(cursor, cursor + fat_sectors))
    for sector in fat_ids:
        fat[sector] = FATSECT
    cursor += fat_sectors
    difat_ids = list(range(cursor, cursor + difat_sectors))
    for sector in difat_ids:
        fat[sector] = DIFSECT
    cursor += difat_sectors

    def allocate(count: int) -> int:
        nonlocal cursor
        if count == 0:
            return ENDOFCHAIN
        start = cursor
        _chain(fat, start, count)
        cursor += count
        return start

    dir_start = allocate(dir_sectors)
    minifat_start = allocate(minifat_sectors)
    root_entry = entries[0]
    root_entry.start = allocate(ministream_sectors)
    root_entry.size = len(mini_stream)
    for entry, count in zip(big, big_sectors, strict=True):
        entry.start = allocate(count)

    header_difat = fat_ids[:HEADER_DIFAT_ENTRIES]
    header = bytearray(
        struct.pack(
            "<8s16sHHHHH6sIIIIIIIII",
            SIGNATURE,
            bytes(16),
            0x003E,
            0x0003,
            0xFFFE,
            9,
            6,
            bytes(6),
            0,
            fat_sectors,
            dir_start,
            0,
            MINI_STREAM_CUTOFF,
            minifat_start,
            minifat_sectors,
            difat_ids[0] if difat_ids else ENDOFCHAIN,
            difat_sectors,
        )
    )
    header += struct.pack(
        f"<{HEADER_DIFAT_ENTRIES}I",
        *header_difat,
        *([FREESECT] * (HEADER_DIFAT_ENTRIES - len(header_difat))),
    )

    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)
    rest = fat_ids[HEADER_DIFAT_ENTRIES:]
    for index, _sector in enumerate(difat_ids):
        part = rest[index * 127 : (index + 1) * 127]
        nxt = difat_ids[index + 1] if index + 1 < len(difat_ids) else ENDOFCHAIN
        out += struct.pack("<128I", *part, *([FREESECT] * (127 - len(part))), nxt)
    directory = b"".join(_dir_entry(entry) for entry in entries)
    directory += _EMPTY_ENTRY * (entry_count - len(entries))
    out += directory
    if mini_fat:
        padded = mini_fat + [FREESECT] * (minifat_sectors * _ENTRIES_PER_SECTOR - len(mini_fat))
        out += struct.pack(f"<{len(padded)}I", *padded)
    out += mini_stream + bytes(ministream_sectors * SECTOR_SIZE - len(mini_stream))
    for entry, count in zip(big, big_sectors, strict=True):
        out += entry.data + bytes(count * SECTOR_SIZE - entry.size)
    if len(out) != SECTOR_SIZE * (1 + total):
        raise SampleError(f"layout error: {len(out)} bytes for {total} sectors")
    return bytes(out)
