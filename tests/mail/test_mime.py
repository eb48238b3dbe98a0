from __future__ import annotations

import mailbox
from email.header import Header
from urllib.parse import quote

import pytest

from sekimori.errors import MailError
from sekimori.mail.mime import (
    decode_bytes,
    decode_header_value,
    iter_mailbox,
    parse_message,
)
from tests.conftest import shared_path
from tests.mail.helpers import mail


def _jis(text: str) -> bytes:
    return Header(text, "iso-2022-jp").encode().encode()


ISO2022 = (
    b"From: " + _jis("山田") + b" <yamada@example.jp>\r\n"
    b"To: tanaka@example.jp\r\n"
    b"Subject: " + _jis("請求書") + b"\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
    + "お世話になっております。".encode("iso2022_jp")
    + b"\r\n--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename*=iso-2022-jp''" + quote("請求書.zip".encode("iso2022_jp")).encode() + b"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n"
    b"--XX--\r\n"
)


def test_iso2022jp_headers_body_and_rfc2231_filename() -> None:
    msg = parse_message(ISO2022)
    assert msg.sender is not None and msg.sender.name == "山田"
    assert msg.subject == "請求書"
    assert "お世話になっております" in msg.text
    assert [a.name for a in msg.attachments] == ["請求書.zip"]


@pytest.mark.parametrize("codec", ["shift_jis", "euc_jp", "utf-8"])
def test_japanese_body_charsets(codec: str) -> None:
    charset = {"shift_jis": "Shift_JIS", "euc_jp": "EUC-JP", "utf-8": "UTF-8"}[codec]
    raw = (
        b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: t\r\n"
        b"Content-Type: text/plain; charset="
        + charset.encode()
        + b"\r\n\r\n"
        + (
            "パスワード: Ab12cd ①".encode("cp932")
            if codec == "shift_jis"
            else "パスワード: Ab12cd".encode(codec)
        )
    )
    assert "パスワード: Ab12cd" in parse_message(raw).text


def test_undeclared_8bit_header_is_guessed() -> None:
    raw = (
        b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: "
        + "会議".encode("cp932")
        + b"\r\n\r\nbody"
    )
    assert parse_message(raw).subject == "会議"
    assert decode_bytes("テスト".encode("euc_jp"), None) == "テスト"


def test_encoded_words_in_quotes_and_split_words() -> None:
    assert decode_header_value('"=?utf-8?b?5L2Q6Jek?=" <a@b.example>') == "佐藤 <a@b.example>"
    assert decode_header_value("RE: =?utf-8?b?5Lya6K2w6LOH5paZ44Gu5Lu2?=") == "RE: 会議資料の件"


def test_not_a_message_raises_unless_named_as_mail() -> None:
    with pytest.raises(MailError):
        parse_message(b"\x00\x01binary")
    broken = shared_path("office", "strelka-fixtures", "test_broken.eml").read_bytes()
    msg = parse_message(broken, require_headers=False)
    assert msg.defects and "Can I have access?" in msg.text


@pytest.mark.parametrize(
    "name",
    [
        "test.eml",
        "test_broken.eml",
        "test_email_special_cases.eml",
        "test_email_malformed_addresses.eml",
        "test_email_encoded_headers.eml",
        "test_email_group_syntax.eml",
        "test_headers_multihop.eml",
    ],
)
def test_strelka_fixtures_parse_without_exceptions(name: str) -> None:
    msg = parse_message(
        shared_path("office", "strelka-fixtures", name).read_bytes(), require_headers=False
    )
    assert msg.headers or msg.text


def test_malformed_multipart_records_defects() -> None:
    raw = shared_path("office", "strelka-fixtures", "test_email_special_cases.eml").read_bytes()
    assert "StartBoundaryNotFoundDefect" in parse_message(raw).defects


def test_mbox_and_maildir(tmp_path) -> None:
    box = mailbox.mbox(tmp_path / "box.mbox")
    for i in range(3):
        box.add(mail(f"body {i}", subject=f"s{i}"))
    box.close()
    assert len(list(iter_mailbox(tmp_path / "box.mbox"))) == 3
    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    md.add(mail("hello"))
    md.close()
    messages = list(iter_mailbox(tmp_path / "Maildir"))
    assert len(messages) == 1 and parse_message(messages[0][1]).text.strip() == "hello"


def test_nested_message_becomes_attachment() -> None:
    inner = mail("inner body", subject="inner")
    raw = (
        b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: outer\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain\r\n\r\nouter body\r\n--B\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--B--\r\n"
    )
    msg = parse_message(raw)
    assert msg.text.strip() == "outer body"
    assert len(msg.attachments) == 1 and b"inner body" in msg.attachments[0].data


def test_outlook_msg() -> None:
    from sekimori.mail.filetype import sniff
    from sekimori.mail.mime import parse_msg
    from tests.mail.helpers import build_msg

    attachment = ("請求書.xlsx", b"PK\x05\x06" + b"\0" * 18)
    body = "添付をご確認ください。"
    data = build_msg("請求書", body, "sato@examp1e.invalid", "tanaka@example.jp", [attachment])
    assert sniff(data, "mail.bin") == "outlook"
    msg = parse_msg(data)
    assert msg.subject == "請求書" and msg.sender is not None
    assert msg.sender.address == "sato@examp1e.invalid"
    assert [a.name for a in msg.attachments] == ["請求書.xlsx"]
    assert "添付をご確認ください" in msg.text
    with pytest.raises(MailError):
        parse_msg(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
