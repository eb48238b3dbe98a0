"""Scan a message or a document: the whole tree, one verdict, every reason explained.

``scan_bytes``/``scan_file`` sniff what they are given: a message (.eml,
an mbox entry, a Maildir file, an Outlook .msg) is checked for its sender,
links and passwords, then every attachment is analyzed recursively; any
other file is analyzed as a standalone document. Each file goes to the
analyzers registered for its kind in ``ANALYZERS`` (Strelka-style: one
analyzer per file type, one wrapper here that catches what an analyzer
did not expect and turns it into ``scan.parser_error``). The result holds
the attachment tree with SHA-256 and a verdict per file, the verdict of the
whole with its reasons, and every URL and observable found.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sekimori.errors import MailError
from sekimori.mail import archive, lnk, office, onenote, pdf, rtf
from sekimori.mail.context import Limits, ScanContext
from sekimori.mail.decode import analyze_text
from sekimori.mail.filetype import (
    DISK_IMAGE_EXTENSIONS,
    DOCUMENT_EXTENSIONS,
    EXECUTABLE_EXTENSIONS,
    extension,
    sniff,
)
from sekimori.mail.links import analyze_links, html_links
from sekimori.mail.mime import (
    ParsedMessage,
    parse_message,
    parse_msg,
)
from sekimori.mail.observables import merge
from sekimori.mail.passwords import find_passwords
from sekimori.mail.result import Analysis, Child, FileNode, Hit, ScanResult, Verdict
from sekimori.mail.sender import analyze_sender
from sekimori.mail.targets import iter_targets
from sekimori.mail.verdict import decide
from sekimori.model import Observable, shown_path

log = logging.getLogger(__name__)

Analyzer = Callable[[bytes, str, ScanContext], Analysis]


def analyze_script(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """A script attachment (js, vbs, hta, bat, ps1 …): decode what it would run."""
    result = analyze_text(data[:2_000_000].decode("utf-8", "replace"), origin="script")
    result.kind = "script"
    return result


def analyze_html_file(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """An HTML attachment: its links, and any script it would run."""
    markup = data[:5_000_000].decode("utf-8", "replace")
    result = analyze_links("", [markup])
    result.kind = "html"
    if re.search(r"(?i)<script", markup):
        result.merge(analyze_text(markup, origin="html-script"))
    return result


def analyze_attached_message(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """A message attached to a message: its links, passwords and attachments."""
    result = Analysis(kind="message")
    try:
        msg = parse_msg(data) if data.startswith(b"\xd0\xcf\x11\xe0") else parse_message(data)
    except MailError as exc:
        result.hit("mime.unparseable", error=exc.message)
        result.unscannable = exc.message
        return result
    result.merge(analyze_links(msg.text, msg.html))
    result.children.extend(msg.attachments)
    ctx.passwords = (*ctx.passwords, *_message_passwords(msg))
    result.facts["message"] = msg.summary()
    return result


_OFFICE: tuple[Analyzer, ...] = (office.analyze_office,)
ANALYZERS: Mapping[str, tuple[Analyzer, ...]] = {
    "zip": (archive.analyze_zip,),
    "7z": (archive.analyze_7z,),
    "gzip": (archive.analyze_gzip,),
    "rar": (archive.analyze_unsupported,),
    "cab": (archive.analyze_unsupported,),
    "ole": _OFFICE,
    "ooxml": _OFFICE,
    "slk": _OFFICE,
    "vba": _OFFICE,
    "office_xml": _OFFICE,
    "csv": (office.analyze_dde,),
    "rtf": (rtf.analyze_rtf, office.analyze_dde),
    "pdf": (pdf.analyze_pdf,),
    "lnk": (lnk.analyze_lnk,),
    "onenote": (onenote.analyze_onenote,),
    "message": (analyze_attached_message,),
    "outlook": (analyze_attached_message,),
    "script": (analyze_script,),
    "html": (analyze_html_file,),
}


@dataclass(slots=True)
class _Walk:
    """What a scan gathers while it walks the tree."""

    ctx: ScanContext
    hits: list[Hit] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)

    def add(self, analysis: Analysis, location: str) -> list[Hit]:
        placed = [Hit(h.id, h.evidence, location) for h in analysis.hits]
        self.hits.extend(placed)
        self.urls.extend(u for u in analysis.urls if u not in self.urls)
        merge(self.observables, analysis.observables)
        return placed


def _name_hits(name: str, kind: str) -> list[Hit]:
    hits: list[Hit] = []
    ext = extension(name)
    if kind == "executable" or (ext in EXECUTABLE_EXTENSIONS and ext != ".lnk"):
        hits.append(Hit("attachment.executable", {"name": name, "type": kind}))
    if kind == "disk_image" or ext in DISK_IMAGE_EXTENSIONS:
        hits.append(Hit("attachment.disk_image", {"name": name}))
    stem = name[: -len(ext)] if ext else name
    if (
        ext
        and ext in EXECUTABLE_EXTENSIONS | DISK_IMAGE_EXTENSIONS
        and (extension(stem) in DOCUMENT_EXTENSIONS or re.search(r"\s{3,}$", stem))
    ):
        hits.append(Hit("attachment.double_extension", {"name": name}))
    return hits


def _run(analyzer: Analyzer, data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """The one wrapper around analyzers: what they did not expect becomes a hit."""
    try:
        return analyzer(data, name, ctx)
    except MemoryError:
        raise
    except Exception as exc:  # one broken parser must cost one reason, not the scan
        log.warning("analyzer %s failed on %r: %s", analyzer.__name__, name, exc, exc_info=True)
        failed = Analysis(kind="error")
        failed.hit("scan.parser_error", parser=analyzer.__name__, error=f"{type(exc).__name__}")
        return failed


def _scan_node(child: Child, location: str, depth: int, walk: _Walk) -> FileNode:
    data = child.data
    kind = sniff(data, child.name)
    node = FileNode(
        name=child.name,
        location=location,
        kind=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    start = len(walk.hits)
    walk.hits.extend(Hit(h.id, h.evidence, location) for h in _name_hits(child.name, kind))
    if len(data) > walk.ctx.limits.max_file_size:
        walk.hits.append(Hit("scan.too_large", {"size": len(data)}, location))
        node.unscannable = f"{len(data)} bytes (limit {walk.ctx.limits.max_file_size})"
    else:
        for analyzer in ANALYZERS.get(kind, ()):
            analysis = _run(analyzer, data, child.name, walk.ctx)
            walk.add(analysis, location)
            node.facts.update({k: v for k, v in analysis.facts.items() if k != "vba_code"})
            node.unscannable = node.unscannable or analysis.unscannable
            for inner in analysis.children:
                inner_location = f"{location}/{inner.name}"
                if depth + 1 > walk.ctx.limits.max_depth:
                    walk.hits.append(Hit("archive.too_deep", {"depth": depth + 1}, inner_location))
                    node.unscannable = node.unscannable or "nested too deep"
                    break
                node.children.append(_scan_node(inner, inner_location, depth + 1, walk))
    decision = decide(walk.hits[start:])
    node.verdict, node.score, node.reasons = (
        decision.verdict,
        decision.score,
        list(decision.reasons),
    )
    if node.verdict.rank >= Verdict.SUSPICIOUS.rank and node.verdict != Verdict.UNSCANNABLE:
        merge(walk.observables, [Observable("hash", node.sha256)])
    return node


def _message_passwords(msg: ParsedMessage) -> tuple[str, ...]:
    visible = [html_links(h)[1] for h in msg.html]
    return find_passwords("\n".join([msg.subject, msg.text, *visible]))


def scan_message(
    msg: ParsedMessage,
    file: str,
    *,
    limits: Limits | None = None,
    internal_domains: Sequence[str] = (),
) -> ScanResult:
    """Scan a parsed message: sender, links, passwords, then every attachment."""
    ctx = ScanContext(limits=limits or Limits(), passwords=_message_passwords(msg))
    walk = _Walk(ctx)
    walk.add(analyze_sender(msg, internal_domains), "headers")
    walk.add(analyze_links(msg.text, msg.html), "body")
    body_code = analyze_text(msg.text, origin="body", urls=False)
    walk.add(Analysis(kind="body", hits=body_code.hits), "body")
    if msg.defects:
        walk.hits.append(Hit("mime.malformed", {"defects": sorted(set(msg.defects))[:10]}, "mime"))
    if len(msg.attachments) > ctx.limits.max_files:
        walk.hits.append(
            Hit("archive.bomb", {"limit": "attachments", "count": len(msg.attachments)}, "mime")
        )
    nodes = [_scan_node(att, att.name, 1, walk) for att in msg.attachments[: ctx.limits.max_files]]
    return _result(file, "message", walk, nodes, msg.summary())


def _result(
    file: str, kind: str, walk: _Walk, nodes: list[FileNode], message: dict[str, object]
) -> ScanResult:
    decision = decide(walk.hits)
    return ScanResult(
        file=file,
        kind=kind,
        verdict=decision.verdict,
        score=decision.score,
        reasons=list(decision.reasons),
        attachments=nodes,
        urls=walk.urls,
        observables=walk.observables,
        message=dict(message),
        unscannable=decision.unscannable_reason
        if decision.verdict == Verdict.UNSCANNABLE
        else None,
    )


def unscannable(file: str, reason_id: str, why: str, kind: str = "message") -> ScanResult:
    """A result for content that could not be analyzed at all."""
    walk = _Walk(ScanContext())
    walk.hits.append(Hit(reason_id, {"error": why}, ""))
    result = _result(file, kind, walk, [], {})
    result.unscannable = why
    return result


def scan_bytes(
    data: bytes,
    name: str = "",
    *,
    limits: Limits | None = None,
    internal_domains: Sequence[str] = (),
    file: str | None = None,
) -> ScanResult:
    """Scan one message or document held in memory."""
    label = file if file is not None else name
    kind = sniff(data, name)
    if kind in ("message", "outlook"):
        try:
            if kind == "outlook":
                msg = parse_msg(data)
            else:
                msg = parse_message(data, require_headers=extension(name) not in (".eml", ".mht"))
        except MailError as exc:
            return unscannable(label, "mime.unparseable", exc.message)
        return scan_message(msg, label, limits=limits, internal_domains=internal_domains)
    ctx = ScanContext(limits=limits or Limits())
    walk = _Walk(ctx)
    root = _scan_node(Child(name or "document", data), name or "document", 0, walk)
    return _result(label, "document", walk, [root], {})


def scan_file(path: Path, **options: object) -> ScanResult:
    """Scan one file (a message or a document); an unreadable file is unscannable."""
    # A name that is not UTF-8 is shown as ``\xNN`` (``model.shown_path``), not lost.
    label, name = shown_path(str(path)), shown_path(path.name)
    limits = options.get("limits")
    max_size = limits.max_file_size if isinstance(limits, Limits) else Limits().max_file_size
    try:
        size = path.stat().st_size
        if size > max_size:
            return unscannable(label, "scan.too_large", f"{size} bytes", kind="document")
        data = path.read_bytes()
    except OSError as exc:
        return unscannable(label, "scan.crash", exc.strerror or str(exc), kind="document")
    return scan_bytes(data, name, file=label, **options)  # type: ignore[arg-type]


def scan_target(label: str, name: str, content: bytes | Path, **options: object) -> ScanResult:
    """Scan one target produced by ``targets.iter_targets``."""
    if isinstance(content, Path):
        return scan_file(content, **options)
    return scan_bytes(content, name, file=label, **options)  # type: ignore[arg-type]


def scan_paths(paths: Iterable[Path], **options: object) -> Iterator[ScanResult]:
    """Scan every message and document under ``paths``, in this process."""
    for label, name, content in iter_targets(paths):
        yield scan_target(label, name, content, **options)
