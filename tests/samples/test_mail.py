from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
import pyzipper
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.mraptor import MacroRaptor
from oletools.olevba import VBA_Parser

from sekimori.samples import SampleError, mail
from sekimori.samples.onenote import carve_embedded_files
from sekimori.samples.shortcut import parse_lnk

DATE = datetime(2026, 11, 25, 0, 12, tzinfo=UTC)


def _parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert not part.defects, part.defects
    return message


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    out = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        name = part.get_filename()
        assert name is not None
        out[name] = part.get_content()
    return out


@pytest.mark.parametrize("charset", ["iso-2022-jp", "utf-8", "shift_jis"])
def test_japanese_headers_body_and_file_names(charset: str) -> None:
    raw = mail.build_mail(
        ("経理部 田中", "tanaka@example.com"),
        ["山本 <yamamoto@example.com>", ("", "sato@example.com")],
        "請求書送付のご案内（11月分）とても長い件名がここで折り返されることを確認します",
        "本文です。\nよろしくお願いします。\n",
        attachments=[("請求書_11月.pdf", b"%PDF-1.7 test", "application/pdf")],
        charset=charset,  # type: ignore[arg-type]
        reply_to="other@example.net",
        date=DATE,
    )
    assert raw.isascii() or charset != "iso-2022-jp"
    assert b"\r\n" in raw
    message = _parse(raw)
    assert message["Subject"].startswith("請求書送付のご案内（11月分）")
    assert message["Subject"].endswith("確認します")
    assert message["From"].addresses[0].display_name == "経理部 田中"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "yamamoto@example.com",
        "sato@example.com",
    ]
    assert message["Reply-To"] == "other@example.net"
    assert message["Date"].datetime == DATE
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content_charset() == charset
    assert body.get_content().replace("\r\n", "\n") == "本文です。\nよろしくお願いします。\n"
    assert _attachments(message) == {"請求書_11月.pdf": b"%PDF-1.7 test"}
    encoded_subject = re.search(rb"^Subject: (.*)$", raw, re.M)
    assert encoded_subject is not None
    assert b"=?" in encoded_subject.group(1)


def test_rfc2231_and_rfc2047_file_names() -> None:
    attachment = [("見積書.xlsx", b"x", "application/octet-stream")]
    rfc2231 = mail.build_mail("a@example.com", "b@example.com", "s", "b", attachments=attachment)
    assert b"filename*=utf-8''%E8%A6%8B" in rfc2231
    rfc2047 = mail.build_mail(
        "a@example.com", "b@example.com", "s", "b", attachments=attachment, filename_style="rfc2047"
    )
    assert b'filename="=?iso-2022-jp?b?' in rfc2047
    for raw in (rfc2231, rfc2047):
        assert list(_attachments(_parse(raw))) == ["見積書.xlsx"]


def test_trace_and_thread_headers() -> None:
    raw = mail.build_mail(
        "a@example.com",
        "b@example.com",
        "Re: hello",
        "quoted",
        html="<p>quoted</p>",
        return_path="bounce@example.net",
        in_reply_to="<1@example.com>",
        references=["<0@example.com>", "<1@example.com>"],
        auth_results=mail.auth_results("fail", "none", "fail", "example.net"),
        received=["from mx.example.net (mx.example.net [192.0.2.25]) by mx.example.com"],
        date=DATE,
    )
    assert raw.startswith(b"Return-Path: <bounce@example.net>\r\nReceived: from mx.example.net")
    message = _parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert message["In-Reply-To"] == "<1@example.com>"
    assert message["References"] == "<0@example.com> <1@example.com>"
    assert "spf=fail" in message["Authentication-Results"]
    html = message.get_body(("html",))
    assert html is not None
    assert html.get_content().strip() == "<p>quoted</p>"


def test_deterministic_given_a_date() -> None:
    assert mail.clean_mail(date=DATE) == mail.clean_mail(date=DATE)


def test_bad_input() -> None:
    with pytest.raises(SampleError):
        mail.build_mail("no address", "b@example.com", "s", "b")
    with pytest.raises(SampleError):
        mail.build_mail("a@example.com", "b@example.com", "s", "①②", charset="iso-2022-jp")
    with pytest.raises(SampleError):
        mail.build_mail("a@example.com", "b@example.com", "s", "b", date=datetime(2026, 1, 1))  # noqa: DTZ001


def _macro_verdict(name: str, data: bytes) -> str:
    parser = VBA_Parser(name, data=data)
    assert parser.detect_vba_macros()
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    return raptor.get_flags()


def test_emotet_invoice_mail() -> None:
    message = _parse(mail.emotet_invoice_mail())
    assert "請求書" in message["Subject"]
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(r"パスワード: (\S+)", body.get_content())
    assert match is not None
    ((name, archive),) = _attachments(message).items()
    assert name.endswith(".zip")
    with pyzipper.AESZipFile(io.BytesIO(archive)) as package:
        (info,) = package.infolist()
        assert info.flag_bits & 0x1
        assert info.filename.endswith(".docm")
        with pytest.raises(RuntimeError):
            package.read(info)
        package.setpassword(match.group(1).encode())
        docm = package.read(info)
    assert _macro_verdict("invoice.docm", docm) == "A-X"
    assert "dmarc=fail" in message["Authentication-Results"]


def test_reply_hijack_mail() -> None:
    message = _parse(mail.reply_hijack_mail())
    assert message["Subject"].startswith("Re: ")
    sender = message["From"].addresses[0]
    assert sender.display_name == "鈴木 花子"
    assert sender.domain != mail.INTERNAL_DOMAIN
    assert message["In-Reply-To"].endswith(f"@{mail.INTERNAL_DOMAIN}>")
    body = message.get_body(("plain",))
    assert body is not None
    assert "> 来週の定例会議の資料" in body.get_content()
    ((name, docm),) = _attachments(message).items()
    assert _macro_verdict(name, docm) == "A-X"


def test_link_mail() -> None:
    message = _parse(mail.link_mail())
    html = message.get_body(("html",))
    assert html is not None
    match = re.search(r'<a href="([^"]+)">([^<]+)</a>', html.get_content())
    assert match is not None
    href, text = match.groups()
    assert href == "http://203.0.113.10/invoice.doc"
    assert text.startswith("https://www.example.com/")


@pytest.mark.parametrize("in_body", [True, False])
def test_clean_ppap_mail(in_body: bool) -> None:
    message = _parse(mail.clean_ppap_mail(password_in_body=in_body))
    ((_name, archive),) = _attachments(message).items()
    with pyzipper.AESZipFile(io.BytesIO(archive)) as package:
        package.setpassword(b"Pa55-2026")
        (inner,) = package.namelist()
        sheet = package.read(inner)
    assert inner.endswith(".xlsx")
    assert not VBA_Parser(inner, data=sheet).detect_vba_macros()
    body = message.get_body(("plain",))
    assert body is not None
    assert ("Pa55-2026" in body.get_content()) is in_body
    assert "spf=pass" in message["Authentication-Results"]
    follow_up = _parse(mail.ppap_password_mail())
    assert "Pa55-2026" in follow_up.get_content()


def test_clean_mail() -> None:
    message = _parse(mail.clean_mail(charset="utf-8"))
    assert message.get_content_type() == "text/plain"
    assert not list(message.iter_attachments())
    assert message["From"].addresses[0].domain == mail.INTERNAL_DOMAIN


def test_emotet_lnk_mail() -> None:
    message = _parse(mail.emotet_lnk_mail())
    ((_name, archive),) = _attachments(message).items()
    with pyzipper.AESZipFile(io.BytesIO(archive)) as package:
        package.setpassword(b"Lk7p2Wd")
        (inner,) = package.namelist()
        link = parse_lnk(package.read(inner))
    assert inner.endswith(".lnk")
    assert link.target.endswith("powershell.exe")
    assert "-enc" in link.arguments


def test_emotet_xlm_mail() -> None:
    message = _parse(mail.emotet_xlm_mail())
    ((name, data),) = _attachments(message).items()
    assert name.endswith(".xls")
    parser = VBA_Parser(name, data=data)
    assert parser.detect_xlm_macros()


_japanese = st.text(
    alphabet=st.sampled_from("あいうえおカキクケコ請求書会議資料のご案内確認ABCxyz0123 -_"),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip() == text and "  " not in text)


@settings(max_examples=40, deadline=None)
@given(
    subject=_japanese,
    name=_japanese,
    charset=st.sampled_from(["iso-2022-jp", "utf-8", "shift_jis"]),
)
def test_any_japanese_subject_and_file_name_round_trip(
    subject: str, name: str, charset: str
) -> None:
    raw = mail.build_mail(
        "a@example.com",
        "b@example.com",
        subject,
        "本文",
        attachments=[(name + ".zip", b"PK", "application/zip")],
        charset=charset,  # type: ignore[arg-type]
        date=DATE,
    )
    message = _parse(raw)
    assert message["Subject"] == subject
    assert list(_attachments(message)) == [name + ".zip"]


def test_emotet_padded_doc_mail() -> None:
    raw = mail.emotet_padded_doc_mail()
    assert len(raw) < 2 * 1024**2
    ((_name, archive),) = _attachments(_parse(raw)).items()
    with zipfile.ZipFile(io.BytesIO(archive)) as package:
        (info,) = package.infolist()
        assert info.file_size == 500 * 1024**2
        assert info.filename.endswith(".doc")
        with package.open(info) as stream:
            head = stream.read(8)
    assert head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def test_emotet_onenote_mail() -> None:
    ((name, data),) = _attachments(_parse(mail.emotet_onenote_mail())).items()
    assert name.endswith(".one")
    (embedded,) = carve_embedded_files(data)
    assert b"WScript.Shell" in embedded
