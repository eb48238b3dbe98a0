"""Small builders for the mail tests: messages, zips and minimal OOXML files."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pyzipper

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
