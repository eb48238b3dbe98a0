from __future__ import annotations

import json
import mailbox
import os
from pathlib import Path

import pytest

from sekimori.mail.context import Limits
from sekimori.mail.result import Verdict
from sekimori.mail.scan import scan_bytes, scan_file, scan_paths
from tests.conftest import shared_path
from tests.mail.helpers import aes_zip, clean_xlsx, mail, plain_zip

SYNTHETIC = ("office", "synthetic", "synthetic_eml")


def reason_ids(result) -> set[str]:
    return {r.id for r in result.reasons}


def test_japanese_ppap_invoice_with_macro_workbook_is_malicious() -> None:
    result = scan_file(shared_path(*SYNTHETIC, "jp_2020_pwzip_invoice.eml"))
    assert result.verdict == Verdict.MALICIOUS
    assert {"archive.password_from_body", "office.xlm_macros"} <= reason_ids(result)
    zip_node = result.attachments[0]
    assert zip_node.name == "請求書_0902.zip" and zip_node.facts["password"] == "Gd82kLp"
    assert zip_node.children[0].name == "請求書_0902.xls"
    assert len(zip_node.children[0].sha256) == 64
    assert zip_node.children[0].verdict == Verdict.MALICIOUS
    assert result.message["subject"] == "請求書の送付"


def test_ppap_of_clean_spreadsheet_is_not_malicious() -> None:
    raw = mail(
        "いつもお世話になっております。\n見積書を送付いたします。\n\nパスワード: Ab12cd34\n",
        attachments={"見積書.zip": aes_zip({"見積書.xlsx": clean_xlsx()}, "Ab12cd34")},
        headers={"Authentication-Results": "mx.example.jp; spf=softfail; dkim=none"},
    )
    result = scan_bytes(raw, "ppap.eml")
    assert result.verdict == Verdict.CLEAN
    assert "archive.password_from_body" in reason_ids(result)
    assert result.attachments[0].children[0].kind == "ooxml"


def test_ppap_with_password_sent_separately_is_unscannable() -> None:
    raw = mail(
        "パスワードは別途お送りします。",
        attachments={"見積書.zip": aes_zip({"見積書.xlsx": clean_xlsx()}, "Ab12cd34")},
    )
    result = scan_bytes(raw, "ppap.eml")
    assert result.verdict == Verdict.UNSCANNABLE and result.unscannable


def test_oletools_zip_opened_with_body_password() -> None:
    data = shared_path("office", "oletools-test-data", "msodde", "dde-test-from-office2003.doc.zip")
    raw = mail("Password: infected-test", attachments={"order.zip": data.read_bytes()})
    result = scan_bytes(raw, "x.eml")
    assert {"archive.password_from_body", "office.dde"} <= reason_ids(result)


def test_zip_bomb_is_unscannable() -> None:
    bomb = plain_zip({"zeros.bin": b"\0" * (20 * 1024 * 1024)})
    result = scan_bytes(mail("see attached", attachments={"data.zip": bomb}), "bomb.eml")
    assert result.verdict == Verdict.UNSCANNABLE and "archive.bomb" in reason_ids(result)


def test_nesting_beyond_depth_limit() -> None:
    data = b"innermost"
    for level in range(5):
        data = plain_zip({f"level{level}.zip" if level else "a.txt": data})
    result = scan_bytes(data, "deep.zip", limits=Limits(max_depth=3))
    assert "archive.too_deep" in reason_ids(result)


@pytest.mark.parametrize(
    ("name", "verdicts", "expected"),
    [
        ("jp_2019_replychain_macro_doc.eml", {"malicious"}, {"sender.reply_hijack"}),
        ("en_2018_link_invoice_doc.eml", {"suspicious"}, {"link.download"}),
        ("en_2022_lnk_in_zip.eml", {"suspicious", "malicious"}, {"lnk.shortcut"}),
        ("en_2023_onenote.eml", {"suspicious"}, {"onenote.document"}),
    ],
)
def test_emotet_style_mails(name: str, verdicts: set[str], expected: set[str]) -> None:
    result = scan_file(shared_path(*SYNTHETIC, name))
    assert result.verdict.value in verdicts
    assert expected <= reason_ids(result)


@pytest.mark.parametrize(
    "name",
    ["test.eml", "test_links.eml", "test_email_link_stress.eml", "test_email_encoded_headers.eml"],
)
def test_ordinary_mails_are_clean(name: str) -> None:
    assert scan_file(shared_path("office", "strelka-fixtures", name)).verdict == Verdict.CLEAN


def test_json_form_is_serializable(tmp_path) -> None:
    result = scan_file(shared_path(*SYNTHETIC, "jp_2020_pwzip_invoice.eml"))
    doc = json.loads(json.dumps(result.to_json(), ensure_ascii=False))
    assert set(doc) >= {"file", "verdict", "score", "reasons", "attachments", "urls", "observables"}
    assert doc["reasons"][0]["ja"] and doc["reasons"][0]["techniques"]
    assert any(o["type"] == "hash" for o in doc["observables"])


def test_folders_and_mbox(tmp_path) -> None:
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    box.add(mail("hello"))
    box.add(mail("see http://203.0.113.5/invoice.doc"))
    box.close()
    (tmp_path / "doc.vba").write_bytes(b'Sub AutoOpen()\nShell "cmd /c echo x"\nEnd Sub\n')
    results = {r.file.rsplit("/", 1)[-1]: r for r in scan_paths([tmp_path])}
    assert results["doc.vba"].verdict == Verdict.MALICIOUS
    assert results["inbox.mbox#1"].verdict == Verdict.CLEAN
    assert results["inbox.mbox#2"].verdict == Verdict.SUSPICIOUS


def test_file_names_that_are_not_utf8_are_shown_not_lost(tmp_path) -> None:
    folder = os.fsencode(tmp_path)
    for name, data in (
        (b"m\xff.eml", mail("hello")),
        (b"d\x83.vba", b'Sub AutoOpen()\nShell "x"\n'),
    ):
        (Path(os.fsdecode(folder + b"/" + name))).write_bytes(data)
    box = mailbox.mbox(os.fsdecode(folder + b"/box\xfe.mbox"))
    box.add(mail("hello"))
    box.close()
    results = {r.file.rsplit("/", 1)[-1]: r for r in scan_paths([tmp_path])}
    assert set(results) == {"m\\xff.eml", "d\\x83.vba", "box\\xfe.mbox#1"}
    assert results["d\\x83.vba"].verdict == Verdict.MALICIOUS
    assert results["d\\x83.vba"].attachments[0].name == "d\\x83.vba"
    for result in results.values():
        json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")


def test_garbage_is_a_clean_document_and_not_a_crash() -> None:
    result = scan_bytes(b"\x00\x01\x02garbage", "x.bin")
    assert result.kind == "document" and result.verdict == Verdict.CLEAN
    truncated = shared_path("office", "oletools-test-data", "oleobj", "embedded-simple-2007.doc")
    assert scan_bytes(truncated.read_bytes()[:3000], "t.doc").verdict is not None


@pytest.mark.parametrize(
    ("builder", "verdict", "expected"),
    [
        ("emotet_invoice_mail", "malicious", {"archive.password_from_body", "office.vba_macros"}),
        ("reply_hijack_mail", "malicious", {"sender.reply_hijack", "office.mraptor_suspicious"}),
        ("link_mail", "malicious", {"link.text_mismatch", "link.raw_ip", "link.download"}),
        ("emotet_lnk_mail", "malicious", {"lnk.command", "decode.powershell_encoded"}),
        ("emotet_xlm_mail", "malicious", {"office.xlm_macros", "office.xlm_execution"}),
        ("clean_ppap_mail", "clean", {"archive.password_from_body"}),
        ("ppap_password_mail", "clean", set()),
        ("clean_mail", "clean", set()),
    ],
)
def test_sample_scenarios(builder: str, verdict: str, expected: set[str]) -> None:
    from sekimori.samples import mail as samples

    result = scan_bytes(getattr(samples, builder)(), f"{builder}.eml")
    assert result.verdict.value == verdict
    assert expected <= reason_ids(result)


def test_outlook_msg_with_macro_document() -> None:
    from sekimori.samples.office import build_docm
    from tests.mail.helpers import build_msg

    data = build_msg(
        "請求書", "ご確認ください。", "sato@examp1e.invalid", "tanaka@example.jp",
        [("請求書.docm", build_docm())],
    )  # fmt: skip
    result = scan_bytes(data, "invoice.msg")
    assert result.kind == "message" and result.verdict == Verdict.MALICIOUS
    assert "office.mraptor_suspicious" in reason_ids(result)


def test_encrypted_docm_opened_with_body_password() -> None:
    from sekimori.samples.encrypted import build_encrypted_ooxml
    from sekimori.samples.office import build_docm

    locked = build_encrypted_ooxml(build_docm(), "Qz7-2026", spin_count=1000)
    raw = mail("請求書を送付します。\nパスワード：Qz7-2026\n", attachments={"請求書.docm": locked})
    result = scan_bytes(raw, "m.eml")
    assert {"office.encrypted_opened", "office.mraptor_suspicious"} <= reason_ids(result)
    assert result.verdict == Verdict.MALICIOUS
    assert result.attachments[0].children[0].name == "請求書.docm (decrypted)"


def test_deeply_nested_mime_is_unscannable_not_a_crash() -> None:
    from sekimori.errors import MailError
    from sekimori.mail.sanitize import sanitize_message

    depth = 3000
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                    for i in range(depth))  # fmt: skip
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    raw = b"From: a@x.example\r\nTo: b@y.example\r\nSubject: deep\r\n" + head + b"hi" + tail
    result = scan_bytes(raw, "deep.eml")
    assert result.verdict == Verdict.UNSCANNABLE and "nested" in (result.unscannable or "")
    with pytest.raises(MailError):
        sanitize_message(raw)


def test_too_many_attachments_is_reported() -> None:
    raw = mail("x", attachments={f"f{i}.txt": b"x" for i in range(30)})
    result = scan_bytes(raw, "many.eml", limits=Limits(max_files=10))
    assert "archive.bomb" in reason_ids(result) and len(result.attachments) == 10
