from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sekimori.sources import sniff
from sekimori.sources.eml import decode_header
from tests.conftest import shared_path
from tests.sources.conftest import read_all


def test_iso_2022_jp_message(data: Path) -> None:
    path = data / "eml" / "iso2022jp_invoice.eml"
    report, frame, datasets = read_all(path)
    assert report.source == "eml" and datasets == ["email"]
    row = frame.row(0, named=True)
    assert row["email.subject"] == "請求書の送付（5月分）"
    assert row["email.from.address"] == "k8x2q@compromised.example.net"
    assert row["email.from.name"] == "山田 太郎"
    assert row["email.to.address"] == ["tanaka@example.jp", "sato@example.jp"]
    assert row["email.cc.address"] == ["keiri@example.jp"]
    assert row["email.reply_to.address"] == ["billing@attacker.invalid"]
    assert row["email.message_id"] == "<4818821887507776325@compromised.example.net>"
    assert row["event.id"] == "4818821887507776325@compromised.example.net"
    assert row["email.attachments.file.name"] == ["請求書_0513.zip"]
    assert row["email.attachments.file.mime_type"] == ["application/zip"]
    assert row["email.direction"] == "unknown"
    assert row["email.origination_timestamp"].isoformat() == "2024-05-13T09:01:38+00:00"
    assert row["@timestamp"] == row["email.origination_timestamp"]
    assert row["log.file.path"] == str(path)
    assert row["host.name"] == "tanaka@example.jp"


def test_mbox_gives_one_event_per_message(data: Path) -> None:
    report, frame, _ = read_all(data / "eml" / "two_messages.mbox")
    assert report.source == "eml" and frame.height == 2
    assert frame["email.subject"].to_list() == ["RE: meeting", "会議資料"]
    assert frame["event.id"].to_list() == ["mbox-1@compromised.example.net", "mbox-2@example.com"]
    assert frame["log.offset"].to_list()[0] == 0 and frame["log.offset"].to_list()[1] > 0


def test_gzip_and_no_extension(tmp_path: Path, data: Path) -> None:
    packed = tmp_path / "message"
    packed.write_bytes(gzip.compress((data / "eml" / "iso2022jp_invoice.eml").read_bytes()))
    source = sniff(packed)
    assert source is not None and source.name == "eml"
    _, frame, _ = read_all(packed)
    assert frame["email.subject"].to_list() == ["請求書の送付（5月分）"]


def test_decode_header_is_lenient() -> None:
    assert decode_header("=?utf-8?B?5LqI5qWt6YCa55+l?= - Delivery") == "予業通知 - Delivery"
    assert decode_header("=?x-unknown?B?5LqI?=") is not None
    assert decode_header("plain") == "plain"
    assert decode_header(None) is None


@pytest.mark.parametrize(
    "name",
    [
        "test.eml",
        "test_broken.eml",
        "test_email_complex_recipients.eml",
        "test_email_encoded_headers.eml",
        "test_email_group_syntax.eml",
        "test_email_malformed_addresses.eml",
        "test_email_special_cases.eml",
        "test_headers_multihop.eml",
    ],
)
def test_strelka_fixtures(name: str) -> None:
    report, frame, _ = read_all(shared_path("office", "strelka-fixtures", name))
    assert report.source == "eml" and report.error is None
    assert frame.height == 1


def test_strelka_fixture_fields() -> None:
    folder = shared_path("office", "strelka-fixtures")
    _, frame, _ = read_all(folder / "test.eml")
    assert frame["email.attachments.file.name"].to_list()[0] == ["image001.jpg", "test.doc"]
    _, frame, _ = read_all(folder / "test_email_encoded_headers.eml")
    assert frame["email.subject"].to_list()[0].startswith("予業通知")
    assert frame["email.from.address"].to_list() == ["tokyo-office@example.jp"]
    _, frame, _ = read_all(folder / "test_email_group_syntax.eml")
    assert "alice@corp.example" in frame["email.to.address"].to_list()[0]
    _, frame, _ = read_all(folder / "test_broken.eml")
    assert frame["event.id"].to_list() == ["test_broken.eml:0"]


def test_synthetic_japanese_mails() -> None:
    folder = shared_path("office", "synthetic", "synthetic_eml")
    _, frame, _ = read_all(folder / "jp_2020_pwzip_invoice.eml")
    assert frame["email.subject"].to_list() == ["請求書の送付"]
    assert frame["email.attachments.file.name"].to_list() == [["請求書_0902.zip"]]
    _, frame, _ = read_all(folder / "jp_2019_replychain_macro_doc.eml")
    assert frame["email.attachments.file.name"].to_list() == [["会議資料_1203.ppt"]]


def test_oversized_message_keeps_its_headers(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    from sekimori.sources import eml

    monkeypatch.setattr(eml, "MAX_MESSAGE", 700)
    _, frame, _ = read_all(data / "eml" / "iso2022jp_invoice.eml")
    row = frame.row(0, named=True)
    assert row["email.subject"] == "請求書の送付（5月分）"
    assert row["email.attachments.file.name"] == []  # body not parsed


def test_yaml_and_http_dumps_are_not_mail() -> None:
    from sekimori.sources.eml import EmlSource

    sigma_rule = (
        b"title: Suspicious Office Child Process\nid: 00000000-0000-0000-0000-000000000000\n"
        b"status: test\nreferences:\n    - https://example.com/\nauthor: someone\n"
        b"date: 2024-01-01\nlogsource:\n    product: windows\n"
    )
    assert not EmlSource().sniff(sigma_rule, "rule.yml")
    http = b"Date: Mon, 13 May 2024 09:00:00 GMT\nContent-Type: text/html\nServer: x\n\n<html>"
    assert not EmlSource().sniff(http, "response.txt")
    mail = b"Received: from a\nFrom: a@example.com\nSubject: hi\n\nbody"
    assert EmlSource().sniff(mail, "message")
