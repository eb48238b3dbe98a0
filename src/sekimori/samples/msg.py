"""Builder of Outlook messages (.msg, MS-OXMSG) from Internet messages.

:func:`build_msg` turns an RFC 5322 message (for example one made by
:mod:`sekimori.samples.mail`) into the compound file Outlook saves:

- ``__properties_version1.0`` (MS-OXMSG 2.4): a 32-byte header for the
  message (recipient and attachment counts), 8 bytes for recipients and
  attachments, then 16-byte property entries: fixed-size values inline,
  variable-size ones (PtypString, PtypBinary) as a size pointing at a
  ``__substg1.0_IIIITTTT`` stream (2.1.3);
- one ``__recip_version1.0_#<n>`` storage per recipient (2.2.1) and one
  ``__attach_version1.0_#<n>`` storage per attachment (2.2.2, attached
  by value, PidTagAttachMethod 1);
- the ``__nameid_version1.0`` storage (2.2.3) with empty GUID, entry and string
  streams (no named properties).

Properties follow MS-OXPROPS: PidTagMessageClass IPM.Note, PidTagSubject,
PidTagBody, PidTagHtml, sender and sent-representing names and addresses,
PidTagDisplayTo/Cc, PidTagClientSubmitTime, PidTagInternetMessageId and
PidTagTransportMessageHeaders (the original header block). Strings are
Unicode (PtypString 0x001F). ``extract-msg`` reads the result.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default

from sekimori.samples import SampleError
from sekimori.samples.cfb import Storage, Stream, write_cfb

PT_LONG = 0x0003
PT_BOOLEAN = 0x000B
PT_SYSTIME = 0x0040
PT_UNICODE = 0x001F
PT_BINARY = 0x0102
_READ_WRITE = 0x00000006
_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
_STORE_UNICODE_OK = 0x00040000
_MSGFLAG_READ = 0x00000001

Property = tuple[int, int, object]  # (property id, property type, value)


def _filetime(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH_1601
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _properties(props: Sequence[Property], header: bytes) -> Storage:
    """The property stream and substorage streams of one object (MS-OXMSG 2.4)."""
    entries = bytearray(header)
    streams: list[Stream] = []
    for prop_id, prop_type, value in props:
        tag = (prop_id << 16) | prop_type
        if prop_type == PT_UNICODE:
            assert isinstance(value, str)
            raw = value.encode("utf-16-le")
            entries += struct.pack("<IIII", tag, _READ_WRITE, len(raw) + 2, 0)
            streams.append(Stream(f"__substg1.0_{tag:08X}", raw))
        elif prop_type == PT_BINARY:
            assert isinstance(value, bytes)
            entries += struct.pack("<IIII", tag, _READ_WRITE, len(value), 0)
            streams.append(Stream(f"__substg1.0_{tag:08X}", value))
        elif prop_type in (PT_LONG, PT_BOOLEAN):
            assert isinstance(value, int)
            entries += struct.pack("<IIII", tag, _READ_WRITE, value & 0xFFFFFFFF, 0)
        elif prop_type == PT_SYSTIME:
            assert isinstance(value, datetime)
            entries += struct.pack("<IIQ", tag, _READ_WRITE, _filetime(value))
        else:
            raise SampleError(f"unsupported property type 0x{prop_type:04X}")
    return Storage("", children=[Stream("__properties_version1.0", bytes(entries)), *streams])


def _object_storage(name: str, props: Sequence[Property]) -> Storage:
    storage = _properties(props, bytes(8))
    storage.name = name
    return storage


def _header_block(raw: bytes) -> str:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw[: end if end >= 0 else len(raw)]
    return (
        block.decode("ascii", errors="replace").replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
    )


def _addresses(message: EmailMessage, field: str) -> list[Address]:
    header = message[field]
    if header is None:
        return []
    return list(header.addresses)


def build_msg(eml: bytes) -> bytes:
    """The Outlook .msg equivalent of the RFC 5322 message ``eml``.

    Keeps the subject, sender, To/Cc recipients, plain and HTML bodies, date,
    Message-ID, the original header block and every attachment. Raises
    SampleError when ``eml`` has no From or no recipient.
    """
    message = message_from_bytes(eml, policy=default)
    assert isinstance(message, EmailMessage)
    senders = _addresses(message, "From")
    to, cc = _addresses(message, "To"), _addresses(message, "Cc")
    if not senders or not (to or cc):
        raise SampleError("a message needs From and at least one recipient")
    sender = senders[0]
    date_header = message["Date"]
    sent = date_header.datetime if date_header is not None else datetime.now(UTC)
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    body = plain.get_content() if plain is not None else ""
    props: list[Property] = [
        (0x001A, PT_UNICODE, "IPM.Note"),
        (0x0037, PT_UNICODE, str(message["Subject"] or "")),
        (0x1000, PT_UNICODE, body.replace("\r\n", "\n").replace("\n", "\r\n")),
        (0x0C1A, PT_UNICODE, sender.display_name or sender.addr_spec),
        (0x0C1E, PT_UNICODE, "SMTP"),
        (0x0C1F, PT_UNICODE, sender.addr_spec),
        (0x5D01, PT_UNICODE, sender.addr_spec),
        (0x0042, PT_UNICODE, sender.display_name or sender.addr_spec),
        (0x0064, PT_UNICODE, "SMTP"),
        (0x0065, PT_UNICODE, sender.addr_spec),
        (0x0E04, PT_UNICODE, "; ".join(a.display_name or a.addr_spec for a in to)),
        (0x0E03, PT_UNICODE, "; ".join(a.display_name or a.addr_spec for a in cc)),
        (0x0039, PT_SYSTIME, sent),
        (0x0E06, PT_SYSTIME, sent),
        (0x007D, PT_UNICODE, _header_block(eml)),
        (0x0E07, PT_LONG, _MSGFLAG_READ),
        (0x340D, PT_LONG, _STORE_UNICODE_OK),
        (0x3FDE, PT_LONG, 65001),  # PidTagInternetCodepage: UTF-8
    ]
    if message["Message-ID"] is not None:
        props.append((0x1035, PT_UNICODE, str(message["Message-ID"])))
    if html is not None:
        props.append((0x1013, PT_BINARY, html.get_content().encode("utf-8")))

    recipients = [(address, 1) for address in to] + [(address, 2) for address in cc]
    children: list[Storage | Stream] = []
    for index, (address, kind) in enumerate(recipients):
        children.append(
            _object_storage(
                f"__recip_version1.0_#{index:08X}",
                [
                    (0x0C15, PT_LONG, kind),  # PidTagRecipientType: 1 To, 2 Cc
                    (0x3000, PT_LONG, index),  # PidTagRowid
                    (0x3001, PT_UNICODE, address.display_name or address.addr_spec),
                    (0x3002, PT_UNICODE, "SMTP"),
                    (0x3003, PT_UNICODE, address.addr_spec),
                    (0x39FE, PT_UNICODE, address.addr_spec),
                ],
            )
        )
    attachments = [part for part in message.iter_attachments() if isinstance(part, EmailMessage)]
    for index, part in enumerate(attachments):
        name = part.get_filename() or f"attachment{index}"
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            raise SampleError(f"attachment {name!r} is not a leaf part")
        stem, dot, extension = name.rpartition(".")
        short = (stem[:8] if stem.isascii() else "ATTACH") + (dot + extension[:3] if dot else "")
        children.append(
            _object_storage(
                f"__attach_version1.0_#{index:08X}",
                [
                    (0x0E21, PT_LONG, index),  # PidTagAttachNumber
                    (0x3705, PT_LONG, 1),  # PidTagAttachMethod: afByValue
                    (0x3704, PT_UNICODE, short),  # PidTagAttachFilename (8.3)
                    (0x3707, PT_UNICODE, name),  # PidTagAttachLongFilename
                    (0x3001, PT_UNICODE, name),  # PidTagDisplayName
                    (0x3703, PT_UNICODE, dot + extension if dot else ""),
                    (0x370E, PT_UNICODE, part.get_content_type()),  # PidTagAttachMimeTag
                    (0x3701, PT_BINARY, data),  # PidTagAttachDataBinary
                    (0x0E20, PT_LONG, len(data)),  # PidTagAttachSize
                    (0x370B, PT_LONG, -1),  # PidTagRenderingPosition: not rendered
                ],
            )
        )
    nameid = Storage(
        "__nameid_version1.0",
        children=[Stream(f"__substg1.0_000{n}0102", b"") for n in (2, 3, 4)],
    )
    header = struct.pack(
        "<8sIIII8s",
        bytes(8),
        len(recipients),
        len(attachments),
        len(recipients),
        len(attachments),
        bytes(8),
    )
    top = _properties(props, header)
    root = Storage("Root Entry", children=[*top.children, nameid, *children])
    return write_cfb(root)
