r"""Files and remote objects embedded in Office documents (OLE Package, OOXML parts).

``extract_embedded`` returns the embedded files (OLE ``\\x01Ole10Native``
packages from MS-OLEDS 2.3.6, OOXML ``*/embeddings/*`` parts) as children,
and the targets of external relationships that load content when the
document opens (``attachedTemplate``, ``oleObject``, ``frame``,
``subDocument``: template injection, T1221). Hyperlinks are not listed.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile

from sekimori.mail.result import Child

log = logging.getLogger(__name__)

_EXTERNAL_TYPES = ("attachedtemplate", "oleobject", "frame", "subdocument")
_REL_RE = re.compile(rb"<Relationship\b[^>]{0,4000}>", re.IGNORECASE)
_MAX_PARTS = 50


def _attr(tag: bytes, name: bytes) -> str:
    match = re.search(rb"\b" + name + rb"\s*=\s*\"([^\"]*)\"", tag, re.IGNORECASE)
    return match.group(1).decode("utf-8", "replace") if match else ""


def _ole_native(data: bytes) -> list[Child]:
    r"""Packages (``\\x01Ole10Native`` streams) inside an OLE container."""
    import olefile  # type: ignore[import-untyped]
    from oletools.oleobj import OleNativeStream

    out: list[Child] = []
    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError, IndexError, TypeError):
        return out
    with ole:
        for entry in ole.listdir()[:1000]:
            if entry[-1] != "\x01Ole10Native":
                continue
            try:
                raw = ole.openstream(entry).read()
                native = OleNativeStream(raw)
            except Exception:  # a damaged package stream: keep the raw bytes instead
                log.debug("unreadable Ole10Native stream %s", "/".join(entry), exc_info=True)
                out.append(Child("/".join(entry[:-1]) or "ole-object", raw))
                continue
            name = str(native.filename or native.src_path or "package")
            out.append(Child(name.replace("\\", "/").rsplit("/", 1)[-1], bytes(native.data or b"")))
    return out


def extract_embedded(
    data: bytes, package: zipfile.ZipFile | None = None
) -> tuple[list[Child], list[str]]:
    """``(embedded files, external relationship targets)`` of an Office document.

    ``package`` is the OOXML zip when the caller has it open already.
    """
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return _ole_native(data), []
    if not data.startswith(b"PK"):
        return [], []
    files: list[Child] = []
    external: list[str] = []
    try:
        if package is None:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                _package_parts(zf, files, external)
        else:
            _package_parts(package, files, external)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, NotImplementedError):
        log.debug("unreadable OOXML package while looking for embedded objects")
    return files, external


def _package_parts(zf: zipfile.ZipFile, files: list[Child], external: list[str]) -> None:
    names = zf.namelist()
    for part in [n for n in names if "/embeddings/" in n][:_MAX_PARTS]:
        raw = zf.read(part)[:50_000_000]
        natives = _ole_native(raw) if raw.startswith(b"\xd0\xcf\x11\xe0") else []
        files.extend(natives or [Child(part.rsplit("/", 1)[-1], raw)])
    for rels in [n for n in names if n.endswith(".rels")][:_MAX_PARTS]:
        for tag in _REL_RE.findall(zf.read(rels)[:2_000_000]):
            kind = _attr(tag, b"Type").lower()
            if _attr(tag, b"TargetMode").lower() == "external" and kind.endswith(_EXTERNAL_TYPES):
                external.append(_attr(tag, b"Target"))
