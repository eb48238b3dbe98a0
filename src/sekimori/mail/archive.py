"""Archive analyzers: zip (ZipCrypto and AES, via pyzipper: ``zipcrypto``), 7z (py7zr), gzip.

Members are unpacked in memory, never to disk, within the limits of the
scan context: member count, declared and real uncompressed size, and
compression ratio; an archive beyond a limit is reported unscannable as a
possible bomb (``archive.bomb``) and not expanded further. Encrypted
archives are opened with the passwords found in the message (PPAP,
``passwords.py``) and the scan says which one worked
(``archive.password_from_body``); when none works the archive is
unscannable (``archive.encrypted_locked``), but its member names, which zip
keeps in clear, are still reported.
"""

from __future__ import annotations

import contextlib
import io
import logging
import lzma
import zlib
from typing import Any

from sekimori.mail.context import ScanContext
from sekimori.mail.result import Analysis, Child

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


def _encode_password(password: str) -> list[bytes]:
    # Zip tools on Japanese Windows write CP932 passwords; others UTF-8.
    out: list[bytes] = []
    for codec in ("utf-8", "cp932"):
        try:
            raw = password.encode(codec)
        except UnicodeEncodeError:
            continue
        if raw not in out:
            out.append(raw)
    return out


def member_name(info: Any) -> str:
    """A zip member's name as its author wrote it (UTF-8 flag, else UTF-8 or CP932 guessed)."""
    name = str(info.filename)
    # Zip names without the UTF-8 flag are CP437 by the spec; in practice UTF-8 or CP932.
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for codec in ("utf-8", "cp932"):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode(codec)
    return name


def _bounded_read(opener: Any, limit: int) -> bytes | None:
    """Read at most ``limit`` bytes from a member; None when it is bigger."""
    out = bytearray()
    with opener() as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return bytes(out)
            out += chunk
            if len(out) > limit:
                return None


def analyze_zip(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Unpack a zip archive (also encrypted ones), within the limits of ``ctx``."""
    from sekimori.mail.zipcrypto import BAD_ZIP, ZipFile

    result = Analysis(kind="zip")
    limits = ctx.limits
    try:
        zf = ZipFile(io.BytesIO(data))
    except (*BAD_ZIP, OSError, ValueError, EOFError, NotImplementedError) as exc:
        result.hit("archive.corrupt", error=f"{type(exc).__name__}: {exc}")
        result.unscannable = "not a readable zip archive"
        return result
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = [member_name(i) for i in infos]
        result.facts["members"] = names[:100]
        result.facts["member_count"] = len(infos)
        declared = sum(i.file_size for i in infos)
        if len(infos) > limits.max_members:
            result.hit("archive.bomb", limit="members", members=len(infos))
            result.unscannable = f"{len(infos)} members (limit {limits.max_members})"
            return result
        if declared > ctx.room():
            result.hit("archive.bomb", limit="total size", declared_size=declared)
            result.unscannable = f"declares {declared} bytes unpacked (limit {ctx.room()})"
            return result
        for info in infos:
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
                result.hit(
                    "archive.bomb", limit="ratio", member=member_name(info), ratio=round(ratio)
                )
                result.unscannable = f"compression ratio {ratio:.0f}:1 (limit {limits.max_ratio}:1)"
                return result
        encrypted = [i for i in infos if i.flag_bits & 0x1]
        already: dict[str, bytes] = {}
        if encrypted:
            limit = min(limits.max_file_size, ctx.room())
            opened = _find_zip_password(zf, encrypted[0], ctx.passwords, limit)
            if opened is None:
                result.hit("archive.encrypted_locked", members=names[:20], tried=len(ctx.passwords))
                result.unscannable = "encrypted, and no password from the message opens it"
                result.facts["encrypted"] = True
                return result
            password, first = opened
            if first is not None:
                already[encrypted[0].filename] = first
            result.facts["encrypted"] = True
            result.facts["password"] = password
            result.hit("archive.password_from_body", password=password)
            zf.setpassword(_encode_password(password)[0])
        _extract_members(zf, infos, names, result, ctx, already)
    return result


def _find_zip_password(
    zf: Any, info: Any, candidates: tuple[str, ...], limit: int
) -> tuple[str, bytes | None] | None:
    """The password that opens ``info`` and, when small enough, the member it opened."""
    from sekimori.mail.zipcrypto import BAD_ZIP

    for candidate in candidates:
        for raw in _encode_password(candidate):
            try:
                # Read the whole member so that a CRC check catches a lucky check byte.
                content: bytearray | None = bytearray()
                with zf.open(info, pwd=raw) as fh:
                    while chunk := fh.read(_CHUNK):
                        if content is not None:
                            content += chunk
                            if len(content) > limit:
                                content = None
            except (RuntimeError, ValueError, zlib.error, OSError, NotImplementedError, *BAD_ZIP):
                continue
            zf.setpassword(raw)
            return candidate, bytes(content) if content is not None else None
    return None


def _extract_members(
    zf: Any,
    infos: list[Any],
    names: list[str],
    result: Analysis,
    ctx: ScanContext,
    already: dict[str, bytes],
) -> None:
    from sekimori.mail.zipcrypto import BAD_ZIP

    limits = ctx.limits
    for info, member in zip(infos, names, strict=True):
        limit = min(limits.max_file_size, ctx.room())
        try:
            content = already.get(info.filename)
            if content is None:
                content = _bounded_read(lambda info=info: zf.open(info), limit)
        except (
            RuntimeError,
            ValueError,
            zlib.error,
            OSError,
            EOFError,
            NotImplementedError,
            *BAD_ZIP,
        ) as exc:
            result.hit("archive.corrupt", member=member, error=f"{type(exc).__name__}: {exc}")
            result.unscannable = result.unscannable or f"member {member!r} is unreadable"
            continue
        if content is None:
            result.hit("archive.bomb", limit="member size", member=member)
            result.unscannable = f"member {member!r} unpacks beyond {limit} bytes"
            return
        if not ctx.take(len(content)):
            result.hit("archive.bomb", limit="total size", member=member)
            result.unscannable = "the message unpacks beyond the total size limit"
            return
        result.children.append(Child(member, content))


def analyze_7z(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Unpack a 7z archive (also encrypted ones), within the limits of ``ctx``."""
    import py7zr
    from py7zr.io import BytesIOFactory

    result = Analysis(kind="7z")
    limits = ctx.limits
    try:
        probe = py7zr.SevenZipFile(io.BytesIO(data))
        needs_password = probe.needs_password()
        entries = [f for f in probe.list() if not f.is_directory]
        probe.close()
    except (py7zr.exceptions.Bad7zFile, py7zr.exceptions.PasswordRequired) as exc:
        result.hit("archive.encrypted_locked" if "assword" in str(exc) else "archive.corrupt")
        result.unscannable = f"7z archive cannot be listed: {exc}"
        return result
    except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as exc:
        result.hit("archive.corrupt", error=f"{type(exc).__name__}: {exc}")
        result.unscannable = "not a readable 7z archive"
        return result
    names = [str(e.filename) for e in entries]
    result.facts["members"] = names[:100]
    result.facts["member_count"] = len(entries)
    declared = sum(int(e.uncompressed or 0) for e in entries)
    if len(entries) > limits.max_members or declared > ctx.room():
        result.hit("archive.bomb", members=len(entries), declared_size=declared)
        result.unscannable = "7z archive beyond the member-count or size limit"
        return result
    candidates: tuple[str | None, ...] = (None,)
    if needs_password:
        result.facts["encrypted"] = True
        candidates = tuple(ctx.passwords)
    for password in candidates:
        factory = BytesIOFactory(limit=min(limits.max_file_size, ctx.room()) + 1)
        try:
            with py7zr.SevenZipFile(io.BytesIO(data), password=password) as szf:
                szf.extract(factory=factory)
        except (py7zr.exceptions.Bad7zFile, py7zr.exceptions.PasswordRequired, OSError) as exc:
            log.debug("7z password attempt failed: %s", exc)
            continue
        except (ValueError, EOFError, KeyError, IndexError, TypeError, lzma.LZMAError) as exc:
            # py7zr reports a wrong password as a failed CRC or a broken stream.
            log.debug("7z password attempt failed: %s", exc)
            continue
        if password is not None:
            result.facts["password"] = password
            result.hit("archive.password_from_body", password=password)
        for member in names:
            if member not in factory.products:
                continue
            product = factory.products[member]
            product.seek(0)
            content = product.read()
            if len(content) > min(limits.max_file_size, ctx.room()) or not ctx.take(len(content)):
                result.hit("archive.bomb", limit="member size", member=member)
                result.unscannable = f"member {member!r} unpacks beyond the limit"
                return result
            result.children.append(Child(member, content))
        return result
    result.hit("archive.encrypted_locked", members=names[:20], tried=len(ctx.passwords))
    result.unscannable = "encrypted, and no password from the message opens it"
    return result


def analyze_gzip(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Decompress a gzip file, stopping at the size limit."""
    result = Analysis(kind="gzip")
    limit = min(ctx.limits.max_file_size, ctx.room())
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        result.hit("archive.corrupt", error=str(exc))
        result.unscannable = "not a readable gzip stream"
        return result
    if len(content) > limit or (inflater.unconsumed_tail and len(content) >= limit):
        result.hit("archive.bomb", limit="size", ratio=round(limit / max(1, len(data))))
        result.unscannable = f"unpacks beyond {limit} bytes"
        return result
    ctx.take(len(content))
    inner = name[:-3] if name.lower().endswith(".gz") else (name + ".out")
    result.children.append(Child(inner or "content", content))
    return result


def analyze_unsupported(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """An archive format the gateway does not unpack (RAR, CAB): say so, do not guess."""
    result = Analysis(kind="archive")
    result.hit("archive.unsupported", name=name)
    result.unscannable = "archive format not supported"
    return result
