from __future__ import annotations

import io
from datetime import UTC, datetime

import extract_msg
import olefile
import pytest

from sekimori.samples import SampleError, mail
from sekimori.samples.msg import build_msg

DATE = datetime(2026, 11, 25, 0, 12, tzinfo=UTC)


def test_extract_msg_reads_the_lure() -> None:
    message = extract_msg.openMsg(build_msg(mail.emotet_invoice_mail(date=DATE)))
    try:
        assert message.subject == "請求書送付のご案内（20261125）"
        assert "sato@examp1e.invalid" in message.sender
        assert "tanaka@example.com" in message.to
        assert message.date == DATE
        assert "パスワード: Xk3m9Qa" in message.body
        (attachment,) = message.attachments
        assert attachment.longFilename == "請求書_20261125.zip"
        assert attachment.data.startswith(b"PK\x03\x04")
        assert "dmarc=fail" in message.header["Authentication-Results"]
    finally:
        message.close()


def test_html_cc_and_structure() -> None:
    eml = mail.build_mail(
        ("山本", "yamamoto@example.com"),
        "a@example.com",
        "件名",
        "text",
        html="<p>html</p>",
        cc=["b@example.net", "c@example.net"],
        attachments=[("a.txt", b"1", "text/plain"), ("b.bin", b"22", "application/octet-stream")],
        date=DATE,
    )
    data = build_msg(eml)
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    storages = {entry[0] for entry in ole.listdir(streams=False, storages=True)}
    assert storages == {
        "__nameid_version1.0",
        "__recip_version1.0_#00000000",
        "__recip_version1.0_#00000001",
        "__recip_version1.0_#00000002",
        "__attach_version1.0_#00000000",
        "__attach_version1.0_#00000001",
    }
    assert ole.openstream("__substg1.0_0037001F").read().decode("utf-16-le") == "件名"
    message = extract_msg.openMsg(data)
    try:
        assert message.htmlBody.strip() == b"<p>html</p>"
        assert sorted(r.email for r in message.recipients) == [
            "a@example.com",
            "b@example.net",
            "c@example.net",
        ]
        assert message.cc is not None
        assert [a.data for a in message.attachments] == [b"1", b"22"]
    finally:
        message.close()


def test_needs_sender_and_recipient() -> None:
    with pytest.raises(SampleError):
        build_msg(b"Subject: x\r\n\r\nbody\r\n")
