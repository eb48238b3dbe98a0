"""Small builders for the mail tests: messages, zips and minimal OOXML files."""

from __future__ import annotations

import io
import struct
import zipfile
from email.message import EmailMessage

import pyzipper
from extract_msg.ole_writer import OleWriter

CONTENT_TYPES_XLSX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "</Types>"
)


def clean_xlsx() -> bytes:
    """A minimal macro-free workbook."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES_XLSX)
        zf.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            "<sheets/></workbook>",
        )
    return buf.getvalue()


def aes_zip(members: dict[str, bytes], password: str) -> bytes:
    """An AES-256 encrypted zip."""
    buf = io.BytesIO()
    with pyzipper.AESZipFile(
        buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as zf:
        zf.setpassword(password.encode())
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def plain_zip(members: dict[str, bytes]) -> bytes:
    """An unencrypted deflated zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def mail(
    body: str,
    *,
    subject: str = "資料送付",
    sender: str = "山田 <yamada@partner.example.com>",
    to: str = "tanaka@example.jp",
    attachments: dict[str, bytes] | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A message with a UTF-8 body and attachments, as bytes."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@partner.example.com>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def prop_entry(tag: int, ptype: int, flags: int, value8: bytes) -> bytes:
    """One 16-byte MS-OXMSG property entry."""
    return struct.pack("<HHI", ptype, tag, flags) + value8


def u(text: str) -> bytes:
    return text.encode("utf-16-le")


def build_msg(
    subject: str, body: str, sender: str, to: str, attachments: list[tuple[str, bytes]]
) -> bytes:
    """A minimal Outlook .msg (MS-OXMSG) with Unicode string properties and attachments."""
    w = OleWriter()
    strings = {
        0x0037: subject,
        0x1000: body,
        0x0C1F: sender,
        0x0E04: to,
        0x0C1A: "Sender",
        0x001A: "IPM.Note",
        0x007D: f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n",
    }
    props = b"\0" * 8 + struct.pack("<IIII", 1, len(attachments), 1, len(attachments)) + b"\0" * 8
    for tag, text in strings.items():
        w.addEntry(f"__substg1.0_{tag:04X}001F", u(text))
        props += prop_entry(tag, 0x001F, 6, struct.pack("<II", len(u(text)) + 2, 0))
    w.addEntry("__properties_version1.0", props)
    w.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        w.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    w.addEntry("__recip_version1.0_#00000000", storage=True)
    w.addEntry("__recip_version1.0_#00000000/__substg1.0_3003001F", u(to))
    w.addEntry("__recip_version1.0_#00000000/__substg1.0_3001001F", u(to))
    rprops = b"\0" * 8 + prop_entry(0x0C15, 0x0003, 6, struct.pack("<II", 1, 0))
    w.addEntry("__recip_version1.0_#00000000/__properties_version1.0", rprops)
    for i, (name, data) in enumerate(attachments):
        base = f"__attach_version1.0_#{i:08X}"
        w.addEntry(base, storage=True)
        w.addEntry(f"{base}/__substg1.0_37010102", data)
        w.addEntry(f"{base}/__substg1.0_3707001F", u(name))
        w.addEntry(f"{base}/__substg1.0_3704001F", u(name))
        aprops = (
            b"\0" * 8
            + prop_entry(0x3705, 0x0003, 6, struct.pack("<II", 1, 0))
            + prop_entry(0x3701, 0x0102, 6, struct.pack("<II", len(data), 0))
        )
        w.addEntry(f"{base}/__properties_version1.0", aprops)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
