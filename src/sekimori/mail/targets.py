"""What a scan of paths covers: every message and document under them, as targets.

A target is ``(label, name, content or path)``: the label shown for it
(a path, or ``mbox#N`` for a message of a mailbox), the name its kind is
told by, and its bytes or the file to read. This module is light (no
analyzer is imported), so that ``sekimori scan`` lists targets while its
workers import the scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from sekimori.errors import MailError
from sekimori.mail.mime import is_maildir, iter_mailbox, looks_like_mbox
from sekimori.model import shown_path


def iter_targets(paths: Iterable[Path]) -> Iterator[tuple[str, str, bytes | Path]]:
    """``(label, name, content or path)`` for every message or document under ``paths``.

    Folders are walked (a Maildir yields its messages), mbox files yield one
    entry per message; everything else is one target per file.
    """
    for path in paths:
        if is_maildir(path):
            for label, raw in iter_mailbox(path):
                yield label, "message.eml", raw
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                # Maildir's tmp/ holds messages still being delivered.
                if child.parent.name == "tmp" and is_maildir(child.parent.parent):
                    continue
                yield from _file_targets(child)
        elif path.exists():
            yield from _file_targets(path)
        else:
            raise MailError("no such file or folder", where=str(path))


def _file_targets(path: Path) -> Iterator[tuple[str, str, bytes | Path]]:
    label, name = shown_path(str(path)), shown_path(path.name)
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        yield label, name, path
        return
    if looks_like_mbox(head):
        for label, raw in iter_mailbox(path):
            yield label, "message.eml", raw
    else:
        yield label, name, path


__all__ = ["iter_targets"]
