"""Quarantine: originals kept content-addressed by SHA-256, with their verdict.

Layout under ``<data dir>/quarantine`` (the data dir is ``SEKIMORI_HOME``
when set, else ``platformdirs.user_data_dir("sekimori")``, as for the
store): ``ab/cd/<sha256>.bin`` holds the original bytes and
``<sha256>.json`` the verdict and when it was stored. Writes are atomic
(temporary file, then rename) and owner-only; storing the same content
twice keeps the original and its release history. ``release`` hands an
original back to an analyst; ``mark_released`` records that it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sekimori.errors import MailError
from sekimori.home import data_dir
from sekimori.model import iso

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def default_root() -> Path:
    """``<data dir>/quarantine``."""
    return data_dir() / "quarantine"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Quarantine:
    """A content-addressed store of original messages and files."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        if not _SHA256_RE.match(sha256):
            raise MailError("not a SHA-256 hex digest", where=sha256[:80])
        folder = self.root / sha256[:2] / sha256[2:4]
        return folder / f"{sha256}.bin", folder / f"{sha256}.json"

    def store(self, data: bytes, verdict: Mapping[str, Any] | None = None) -> str:
        """Keep ``data`` with its ``verdict``; returns its SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        blob, meta = self._paths(sha256)
        if not blob.exists():
            _write_atomic(blob, data)
        record: dict[str, Any] = {
            "sha256": sha256,
            "size": len(data),
            "stored_at": iso(datetime.now(UTC)),
            "verdict": dict(verdict or {}),
        }
        released = self._released(meta)
        if released:
            record["released"] = released
        _write_atomic(meta, json.dumps(record, ensure_ascii=False, indent=1).encode())
        return sha256

    @staticmethod
    def _released(meta: Path) -> list[Any]:
        try:
            previous = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        released = previous.get("released") if isinstance(previous, dict) else None
        return released if isinstance(released, list) else []

    def info(self, sha256: str) -> dict[str, Any]:
        """The record (size, time, verdict) of a quarantined item."""
        _, meta = self._paths(sha256.lower())
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MailError("not in quarantine", where=sha256) from None
        except (OSError, ValueError) as exc:
            raise MailError(f"quarantine record unreadable: {exc}", where=sha256) from None
        if not isinstance(record, dict):
            raise MailError("quarantine record is not a JSON object", where=sha256)
        return record

    def mark_released(self, sha256: str, to: str = "") -> dict[str, Any]:
        """Record that an item was released (when, and where to); returns the new record."""
        sha256 = sha256.lower()
        record = self.info(sha256)
        released = record.get("released")
        history = released if isinstance(released, list) else []
        history.append({"at": iso(datetime.now(UTC)), "to": to})
        record["released"] = history
        _, meta = self._paths(sha256)
        _write_atomic(meta, json.dumps(record, ensure_ascii=False, indent=1).encode())
        return record

    def release(self, sha256: str) -> bytes:
        """The original bytes of a quarantined item (checked against its hash)."""
        blob, _ = self._paths(sha256.lower())
        try:
            data = blob.read_bytes()
        except FileNotFoundError:
            raise MailError("not in quarantine", where=sha256) from None
        if hashlib.sha256(data).hexdigest() != sha256.lower():
            raise MailError("quarantined file is damaged (hash mismatch)", where=sha256)
        return data

    def __iter__(self) -> Iterator[str]:
        """SHA-256 of every quarantined item."""
        if not self.root.exists():
            return
        for meta in sorted(self.root.glob("*/*/*.json")):
            yield meta.stem

    def __contains__(self, sha256: object) -> bool:
        return (
            isinstance(sha256, str)
            and _SHA256_RE.match(sha256) is not None
            and self._paths(sha256)[0].exists()
        )
