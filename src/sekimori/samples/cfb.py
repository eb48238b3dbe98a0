"""Compound File Binary files (MS-CFB): a tree of storages and streams, and its writer.

A compound file is a small file system inside one file: storages (folders) and
streams (files) in a tree. :class:`Storage` and :class:`Stream` describe the
tree; :func:`write_cfb` validates it (names per MS-CFB 2.6.1, no two siblings
equal under the 2.6.4 comparison) and serializes it with ``extract-msg``'s
``OleWriter``, a maintained MS-CFB version 3 writer (512-byte sectors,
FAT/DIFAT, mini stream for streams under 4,096 bytes, red-black directory
tree in 2.6.4 order). The output is deterministic: no timestamps, no random
CLSIDs. Read it back with ``olefile``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import BytesIO

from extract_msg.exceptions import TooManySectorsError
from extract_msg.ole_writer import OleWriter

from sekimori.samples import SampleError

MINI_STREAM_CUTOFF = 4096
NOSTREAM = 0xFFFFFFFF
SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
_FORBIDDEN_NAME_CHARS = frozenset("/\\:!")


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


def _check_name(name: str, where: str) -> None:
    if not name:
        raise SampleError("empty entry name", where=where)
    if len(name.encode("utf-16-le")) // 2 > 31:
        raise SampleError(f"entry name longer than 31 characters: {name!r}", where=where)
    if _FORBIDDEN_NAME_CHARS.intersection(name):
        raise SampleError(f"entry name contains one of / \\ : ! : {name!r}", where=where)


def _add(writer: OleWriter, storage: Storage, path: list[str]) -> None:
    where = "/".join(path) or "/"
    keys = sorted(sort_key(node.name) for node in storage.children)
    for before, after in itertools.pairwise(keys):
        if before == after:
            raise SampleError(f"two entries named {after[1]!r}", where=where)
    for node in storage.children:
        _check_name(node.name, where)
        if isinstance(node, Stream):
            writer.addEntry([*path, node.name], node.data)
            continue
        if len(node.clsid) != 16:
            raise SampleError("CLSID must be 16 bytes", where=where)
        writer.addEntry([*path, node.name], storage=True, clsid=node.clsid)
        _add(writer, node, [*path, node.name])


def write_cfb(root: Storage) -> bytes:
    r"""Serialize ``root`` (its name is ignored: the root is "Root Entry") to CFB bytes.

    Raises SampleError for names MS-CFB 2.6.1 forbids (over 31 characters,
    ``/ \ : !``), for two siblings with the same name, or for a tree too
    large for a version 3 file.
    """
    if len(root.clsid) != 16:
        raise SampleError("CLSID must be 16 bytes", where="/")
    writer = OleWriter(rootClsid=root.clsid)
    _add(writer, root, [])
    buffer = BytesIO()
    try:
        writer.write(buffer)
    except TooManySectorsError as exc:
        raise SampleError(f"compound file too large: {exc}") from exc
    return buffer.getvalue()
