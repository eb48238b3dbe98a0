"""Typed results of the mail analyzers: hits, per-file analyses, the scan result.

An analyzer (``mail/office.py``, ``mail/pdf.py`` …) looks at one file and
returns an ``Analysis``: the reasons it found (``Hit``, an id from
``mail/reasons.py`` plus the evidence), the URLs and observables it saw, the
files it unpacked (``Child``) and, when it could not finish, why. ``scan.py``
walks those into a tree of ``FileNode`` and a ``ScanResult`` per message or
document; ``verdict.py`` turns hits into a verdict and a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sekimori.model import Observable


class Verdict(StrEnum):
    """The verdict on a message, a document or one file inside it."""

    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    UNSCANNABLE = "unscannable"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        """Order of precedence when verdicts are combined: malicious wins."""
        return list(Verdict).index(self)


@dataclass(frozen=True, slots=True)
class Hit:
    """One reason that applies, with the evidence that made it apply.

    ``id`` names an entry of ``reasons.REASONS``; ``location`` is the place in
    the message (``body``, ``headers``, ``invoice.zip/invoice.xls``) where it was
    seen, filled in by the scanner.
    """

    id: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    location: str = ""


@dataclass(frozen=True, slots=True)
class Child:
    """A file an analyzer unpacked from its input (archive member, attachment …)."""

    name: str
    data: bytes


@dataclass(slots=True)
class Analysis:
    """What one analyzer found in one file.

    ``facts`` holds the analyzer's own typed findings for the report (number of
    VBA modules, PDF keys seen, the decrypted password …); ``unscannable`` is
    set when the analyzer could not see the whole file and says why.
    """

    kind: str
    hits: list[Hit] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    unscannable: str | None = None

    def hit(self, reason_id: str, **evidence: Any) -> None:
        """Record that ``reason_id`` applies, with ``evidence``."""
        self.hits.append(Hit(reason_id, evidence))

    def merge(self, other: Analysis) -> None:
        """Add the hits, URLs, observables and new facts of ``other`` (not its children)."""
        self.hits.extend(other.hits)
        for key, value in other.facts.items():
            self.facts.setdefault(key, value)
        self.urls.extend(u for u in other.urls if u not in self.urls)
        self.observables.extend(o for o in other.observables if o not in self.observables)


@dataclass(frozen=True, slots=True)
class Reason:
    """A hit explained: the catalogue entry plus evidence and place."""

    id: str
    en: str
    ja: str
    techniques: tuple[str, ...]
    weight: int
    evidence: Mapping[str, Any]
    location: str

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "id": self.id,
            "en": self.en,
            "ja": self.ja,
            "techniques": list(self.techniques),
            "weight": self.weight,
            "location": self.location,
            "evidence": dict(self.evidence),
        }


@dataclass(slots=True)
class FileNode:
    """One file in the attachment tree, with its hash, type and own verdict."""

    name: str
    location: str
    kind: str
    size: int
    sha256: str
    verdict: Verdict = Verdict.CLEAN
    score: int = 0
    reasons: list[Reason] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    children: list[FileNode] = field(default_factory=list)
    unscannable: str | None = None

    def walk(self) -> list[FileNode]:
        """Return this node and every node below it, depth first."""
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form of the node and its subtree."""
        doc: dict[str, Any] = {
            "name": self.name,
            "location": self.location,
            "type": self.kind,
            "size": self.size,
            "sha256": self.sha256,
            "verdict": self.verdict.value,
            "score": self.score,
            "reasons": [r.id for r in self.reasons],
        }
        if self.facts:
            doc["facts"] = self.facts
        if self.unscannable:
            doc["unscannable"] = self.unscannable
        if self.children:
            doc["children"] = [c.to_json() for c in self.children]
        return doc


@dataclass(slots=True)
class ScanResult:
    """The verdict on one message or one standalone document.

    ``kind`` is ``message`` for mail (eml, mbox entry, Maildir file, Outlook
    msg) and ``document`` otherwise; ``attachments`` is the file tree (for a
    document, the document itself is the single root).
    """

    file: str
    kind: str
    verdict: Verdict
    score: int
    reasons: list[Reason] = field(default_factory=list)
    attachments: list[FileNode] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)
    message: dict[str, Any] = field(default_factory=dict)
    unscannable: str | None = None

    def to_json(self) -> dict[str, Any]:
        """One JSON object per message or document (``sekimori scan --json``)."""
        doc: dict[str, Any] = {
            "file": self.file,
            "kind": self.kind,
            "verdict": self.verdict.value,
            "score": self.score,
            "reasons": [r.to_json() for r in self.reasons],
            "attachments": [a.to_json() for a in self.attachments],
            "urls": list(self.urls),
            "observables": [o.to_json() for o in self.observables],
        }
        if self.message:
            doc["message"] = self.message
        if self.unscannable:
            doc["unscannable"] = self.unscannable
        return doc
