"""Mail disarm: a valid .eml without the active content, and a list of what went.

What is removed, per attachment (content decides, not the name):
macro-enabled OOXML files lose their VBA project and become their
macro-free type (docm→docx, xlsm→xlsx, pptm→pptx …: ``vbaProject.bin``,
its relationship and content types dropped, ECMA-376 Part 2); legacy OLE
documents with macros, workbooks with XLM macro sheets, RTF with objects,
shortcuts, OneNote, executables, scripts, disk images and archives the
scan found dangerous or could not open are replaced by a text notice;
PDFs lose their JavaScript, OpenAction/AA, Launch actions and embedded
files (pikepdf). HTML bodies become plain text, and every link in the text
is defanged (``hxxp://example[.]com``). Each removal is listed in the
``X-Sekimori-Sanitized`` header and in a short bilingual note at the top of
the body. Originals are for the quarantine (``quarantine.py``).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from sekimori.errors import MailError
from sekimori.mail.archive import member_name
from sekimori.mail.filetype import extension, sniff
from sekimori.mail.links import html_links
from sekimori.mail.observables import URL_RE
from sekimori.mail.result import FileNode, ScanResult, Verdict

log = logging.getLogger(__name__)

HEADER = "X-Sekimori-Sanitized"
# Office packages are rebuilt in memory; beyond this they are replaced by a notice.
MAX_REBUILD = 200 * 1024 * 1024
_MACRO_FREE = {
    ".docm": (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ".dotm": (".dotx", "application/vnd.openxmlformats-officedocument.wordprocessingml.template"),
    ".xlsm": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".xltm": (".xltx", "application/vnd.openxmlformats-officedocument.spreadsheetml.template"),
    ".pptm": (".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ".ppsm": (".ppsx", "application/vnd.openxmlformats-officedocument.presentationml.slideshow"),
    ".potm": (".potx", "application/vnd.openxmlformats-officedocument.presentationml.template"),
}
_CONTENT_TYPES = {
    "application/vnd.ms-word.document.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    ),
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
    ),
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    ),
    "application/vnd.ms-excel.template.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml"
    ),
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
    ),
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml"
    ),
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml"
    ),
}
_VBA_PART = re.compile(r"(?i)(^|/)vba(Project|Data|ProjectSignature\w*)\.(bin|xml)$")
_ALWAYS_REMOVED = {"lnk", "onenote", "executable", "script", "disk_image", "cab", "rar"}
_ARCHIVES = {"zip", "7z", "gzip", "message", "outlook"}


@dataclass(slots=True)
class Disarmed:
    """A replacement for one attachment, and what was taken out of it."""

    name: str
    data: bytes
    content_type: str
    removed: str


@dataclass(slots=True)
class Sanitized:
    """The disarmed message, what was removed, and the originals that changed."""

    data: bytes
    removals: list[str] = field(default_factory=list)
    originals: list[tuple[str, bytes]] = field(default_factory=list)


def defang(text: str) -> str:
    """Every URL in ``text`` made unclickable: ``hxxp://example[.]com/x``."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        scheme = re.sub(r"(?i)^(h)tt(ps?)$", r"\1xx\2", scheme).replace("ftp", "fxp")
        return f"{scheme}://{host.replace('.', '[.]')}{slash}{path}"

    return URL_RE.sub(one, text)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, followed by its link targets, all defanged."""
    links, text = html_links(markup)
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.splitlines()]
    body = "\n".join(ln for ln in lines if ln)
    targets = [f"- {ln.text or '(link)'}: {ln.href}" for ln in links if ln.href.startswith("http")]
    if targets:
        body += "\n\nLinks / リンク:\n" + "\n".join(dict.fromkeys(targets))
    return defang(body)


def _notice(name: str, data: bytes, why: str) -> Disarmed:
    sha = hashlib.sha256(data).hexdigest()
    text = (
        f"The attachment {name!r} was removed by the mail gateway: {why}.\n"
        f"SHA-256: {sha}\n"
        "Ask your administrator to release it from quarantine if you need it.\n\n"
        f"添付ファイル「{name}」はメールゲートウェイにより削除されました（{why}）。\n"
        "必要な場合は管理者に隔離からの取り出しを依頼してください。\n"
    )
    return Disarmed(f"{name}.removed.txt", text.encode("utf-8"), "text/plain", f"{name}: {why}")


def strip_vba(data: bytes) -> bytes | None:
    """A macro-enabled OOXML package without its VBA project, or None when it has none."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    if not any(_VBA_PART.search(n) for n in names):
        return None
    out = io.BytesIO()
    with src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if _VBA_PART.search(info.filename) or info.filename.endswith("vbaProject.bin.rels"):
                continue
            content = src.read(info)
            if info.filename == "[Content_Types].xml":
                content = _fix_content_types(content)
            elif info.filename.endswith(".rels"):
                content = re.sub(
                    rb"<Relationship\b[^>]{0,4000}vbaProject[^>]{0,4000}/>",
                    b"",
                    content,
                    flags=re.IGNORECASE,
                )
            dst.writestr(info, content)
    return out.getvalue()


def _fix_content_types(content: bytes) -> bytes:
    text = content.decode("utf-8")
    for macro, plain in _CONTENT_TYPES.items():
        text = text.replace(macro, plain)
    text = re.sub(r"<Default\b[^>]{0,4000}vbaProject[^>]{0,4000}/>", "", text, flags=re.IGNORECASE)
    text = re.sub(
        r"<Override\b[^>]{0,4000}PartName=\"[^\"]{0,400}vba[^\"]{0,400}\"[^>]{0,4000}/>",
        "",
        text,
        flags=re.I,
    )
    return text.encode("utf-8")


def strip_pdf(data: bytes) -> tuple[bytes, list[str]]:
    """A PDF without JavaScript, automatic actions, Launch actions and embedded files."""
    import pikepdf

    removed: list[str] = []
    bad_actions = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/GoToE"}
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for key in ("/OpenAction", "/AA"):
            if key in pdf.Root:
                del pdf.Root[key]
                removed.append(key)
        names = pdf.Root.get("/Names")
        if isinstance(names, pikepdf.Dictionary):
            for key in ("/JavaScript", "/EmbeddedFiles"):
                if key in names:
                    del names[key]
                    removed.append(key)
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                continue
            for key in ("/AA", "/JS", "/EF"):
                if key in obj:
                    del obj[key]
                    removed.append(key)
            action = obj.get("/A")
            if isinstance(action, pikepdf.Dictionary) and str(action.get("/S", "")) in bad_actions:
                del obj["/A"]
                removed.append(str(action.get("/S")))
            if str(obj.get("/S", "")) in bad_actions:
                removed.append(str(obj.get("/S")))
                for key in list(obj.keys()):
                    del obj[key]
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue(), sorted(set(removed))


def _has_macros(data: bytes, name: str) -> bool:
    from oletools.olevba import VBA_Parser

    try:
        parser = VBA_Parser(name or "document", data=data)
    except Exception:  # not an Office file olevba can read: nothing to disarm there
        return False
    try:
        return bool(parser.detect_vba_macros() or parser.detect_xlm_macros())
    finally:
        parser.close()


def disarm(name: str, data: bytes, node: FileNode | None = None) -> Disarmed | None:
    """The disarmed form of one attachment, or None when it can go through as it is."""
    kind = sniff(data, name)
    verdict = node.verdict if node is not None else None
    if kind in _ALWAYS_REMOVED:
        return _notice(name, data, f"{kind.replace('_', ' ')} files are not delivered")
    if kind == "zip" and node is not None and verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS):
        repacked = _disarm_zip(name, data, node)
        if repacked is not None:
            return repacked
    if kind in _ARCHIVES and verdict not in (None, Verdict.CLEAN):
        return _notice(name, data, f"archive judged {verdict.value if verdict else 'unsafe'}")
    if kind == "ooxml":
        if verdict == Verdict.UNSCANNABLE:
            return _notice(name, data, "Office file the gateway could not inspect")
        return _disarm_ooxml(name, data)
    if kind in ("ole", "slk") and (
        _has_macros(data, name) or (verdict not in (None, Verdict.CLEAN))
    ):
        return _notice(name, data, "legacy Office document with macros or unsafe content")
    if kind == "rtf" and verdict not in (None, Verdict.CLEAN):
        return _notice(name, data, "RTF document with embedded objects")
    if kind == "pdf":
        try:
            clean, removed = strip_pdf(data)
        except Exception as exc:  # a PDF pikepdf cannot rewrite cannot be vouched for
            log.debug("PDF could not be rewritten: %s", exc)
            if verdict in (None, Verdict.CLEAN):
                return None
            return _notice(name, data, "PDF with active content that could not be removed")
        if removed:
            return Disarmed(
                name, clean, "application/pdf", f"{name}: PDF {' '.join(removed)} removed"
            )
    if kind == "html" and re.search(rb"(?i)<script|<form|<iframe", data[:5_000_000]):
        text = html_to_text(data.decode("utf-8", "replace"))
        return Disarmed(f"{name}.txt", text.encode(), "text/plain", f"{name}: HTML reduced to text")
    return None


def _disarm_zip(name: str, data: bytes, node: FileNode) -> Disarmed | None:
    """A zip rebuilt without encryption, each member disarmed; None when that is not safe.

    Only archives the scan could fully open (no member unscannable, no
    nested archive) are rebuilt; the PPAP password, if any, comes from the scan.
    """
    from sekimori.mail.zipcrypto import BAD_ZIP, ZipFile

    members = {child.name: child for child in node.children}
    if node.unscannable or any(
        c.unscannable or c.children or c.kind in _ARCHIVES for c in node.children
    ):
        return None
    password = node.facts.get("password")
    out = io.BytesIO()
    removed: list[str] = []
    try:
        with (
            ZipFile(io.BytesIO(data)) as src,
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            if password:
                src.setpassword(str(password).encode("utf-8"))
            for info in src.infolist():
                if info.is_dir():
                    continue
                content = src.read(info)
                member = member_name(info)
                replaced = disarm(member, content, members.get(member))
                if replaced is not None:
                    removed.append(replaced.removed)
                    member, content = replaced.name, replaced.data
                dst.writestr(member, content)
    except (RuntimeError, ValueError, OSError, KeyError, *BAD_ZIP):
        return None
    what = "; ".join(removed) or "repacked"
    note = "without password, " if password else ""
    return Disarmed(name, out.getvalue(), "application/zip", f"{name}: {note}{what}")


def _disarm_ooxml(name: str, data: bytes) -> Disarmed | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.namelist()
            unpacked = sum(i.file_size for i in zf.infolist())
        if unpacked > MAX_REBUILD:
            return _notice(name, data, "Office file too large to rebuild")
        if any("/macrosheets/" in p for p in parts):
            return _notice(name, data, "workbook with Excel 4.0 macro sheets")
        stripped = strip_vba(data)
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError, KeyError) as exc:
        return _notice(name, data, f"damaged Office file ({type(exc).__name__})")
    if stripped is None:
        return None
    ext = extension(name)
    new_ext, ctype = _MACRO_FREE.get(ext, (ext or ".docx", "application/octet-stream"))
    new_name = (name[: -len(ext)] if ext else name) + new_ext
    return Disarmed(
        new_name, stripped, ctype, f"{name}: VBA macros removed ({ext or 'ooxml'}→{new_ext})"
    )


def _node_for(result: ScanResult | None, data: bytes) -> FileNode | None:
    if result is None:
        return None
    digest = hashlib.sha256(data).hexdigest()
    return next((n for n in result.attachments if n.sha256 == digest), None)


def _leaves(msg: Message) -> list[Message]:
    """Leaf parts, with an attached message counted as one leaf."""
    if msg.is_multipart() and msg.get_content_type() != "message/rfc822":
        payload = msg.get_payload()
        out: list[Message] = []
        for part in payload if isinstance(payload, list) else []:
            if isinstance(part, Message):
                out.extend(_leaves(part))
        return out
    return [msg]


def _payload(part: Message) -> bytes:
    raw = part.get_payload(decode=True)
    return raw if isinstance(raw, bytes) else b""


def _note(removals: list[str]) -> str:
    listed = "\n".join(f"  - {r}" for r in removals) or "  - links defanged"
    return (
        "[Sekimori] This message was sanitized by the mail gateway. Removed:\n"
        f"{listed}\n"
        "[Sekimori] このメールはメールゲートウェイで無害化されました（上記を削除）。\n"
        + "-" * 60
        + "\n\n"
    )


def sanitize_message(raw: bytes, result: ScanResult | None = None) -> Sanitized:
    """Disarm a message; ``result`` (its scan) tells which archives to hold back.

    Raises ``MailError`` for a message too deeply nested to parse or rebuild.
    """
    try:
        return _sanitize(raw, result)
    except RecursionError:
        raise MailError("message nested too deeply to rebuild") from None


def _sanitize(raw: bytes, result: ScanResult | None) -> Sanitized:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = Sanitized(data=b"")
    texts: list[EmailMessage] = []
    for part in _leaves(msg):
        if not isinstance(part, EmailMessage):
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if ctype == "message/rfc822" or (filename is None and disposition != "attachment"):
            if ctype == "text/html":
                part.set_content(html_to_text(_text(part)), subtype="plain", charset="utf-8")
                out.removals.append("HTML body reduced to text")
                texts.append(part)
            elif ctype == "text/plain":
                part.set_content(defang(_text(part)), subtype="plain", charset="utf-8")
                texts.append(part)
            continue
        data = _payload(part)
        replacement = disarm(filename or "attachment", data, _node_for(result, data))
        if replacement is None:
            continue
        maintype, _, subtype = replacement.content_type.partition("/")
        part.set_content(
            replacement.data,
            maintype=maintype,
            subtype=subtype,
            disposition="attachment",
            filename=replacement.name,
        )
        out.removals.append(replacement.removed)
        out.originals.append((filename or "attachment", data))
    note = _note(out.removals)
    if texts:
        texts[0].set_content(note + _text(texts[0]), subtype="plain", charset="utf-8")
    elif isinstance(msg, EmailMessage) and msg.is_multipart():
        body = EmailMessage()
        body.set_content(note, charset="utf-8")
        msg.attach(body)
    del msg[HEADER]
    msg[HEADER] = "; ".join(out.removals) or "links defanged"
    out.data = msg.as_bytes()
    return out


def _text(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, ValueError):
        from sekimori.mail.mime import decode_bytes

        return decode_bytes(_payload(part), part.get_content_charset())
