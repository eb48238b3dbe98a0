from __future__ import annotations

from sekimori.mail.mime import parse_message
from sekimori.mail.sender import analyze_sender
from tests.conftest import shared_path
from tests.mail.helpers import mail


def ids(raw: bytes, internal: tuple[str, ...] = ()) -> set[str]:
    return {h.id for h in analyze_sender(parse_message(raw), internal).hits}


def test_reply_hijack_of_internal_thread() -> None:
    raw = shared_path("office", "synthetic", "synthetic_eml", "jp_2019_replychain_macro_doc.eml")
    assert {"sender.reply_hijack", "sender.auth_fail"} <= ids(raw.read_bytes())


def test_reply_hijack_by_quoted_internal_mail() -> None:
    body = "ご確認ください。\n\n-----Original Message-----\nFrom: 鈴木 <suzuki@example.jp>\n"
    raw = mail(body, subject="返信: 見積書", sender="Suzuki <s@other.example.net>")
    assert "sender.reply_hijack" in ids(raw)
    assert "sender.reply_hijack" not in ids(mail(body, subject="見積書"))


def test_authentication_results_spf_dkim_dmarc() -> None:
    header = "mx.example.jp; spf=pass smtp.mailfrom=a.example; dkim=fail; dmarc=fail"
    raw = mail("x", headers={"Authentication-Results": header})
    result = analyze_sender(parse_message(raw))
    assert result.hits[0].evidence["results"] == {"dkim": "fail", "dmarc": "fail"}
    assert ids(mail("x", headers={"Authentication-Results": "mx; spf=pass; dkim=pass"})) == set()


def test_reply_to_and_return_path_mismatch() -> None:
    raw = mail(
        "x",
        headers={"Reply-To": "pay@collector.example.net", "Return-Path": "<b@bulk.example.org>"},
    )
    assert ids(raw) == {"sender.reply_to_mismatch", "sender.return_path_mismatch"}


def test_display_name_impersonation() -> None:
    spoof = mail("x", sender='"ceo@example.jp" <ceo@freemail.example.net>')
    assert "sender.display_name_spoof" in ids(spoof)
    org = mail("x", sender="Example 経理部 <keiri@freemail.example.net>")
    assert "sender.display_name_spoof" in ids(org, ("example.jp",))
    inside = mail("x", sender="Example 経理部 <keiri@example.jp>")
    assert ids(inside, ("example.jp",)) == set()


def test_lookalike_of_recipient_domain() -> None:
    raw = mail("x", sender="Sato <sato@examp1e.jp>", to="tanaka@example.jp")
    assert "sender.lookalike_domain" in ids(raw)
    assert "sender.lookalike_domain" not in ids(mail("x"))


def test_colleague_name_borrowed_from_the_quoted_thread() -> None:
    from sekimori.samples import mail as samples

    result = analyze_sender(parse_message(samples.reply_hijack_mail()))
    spoof = [h for h in result.hits if h.id == "sender.display_name_spoof"]
    assert spoof and spoof[0].evidence["imitates"] == "鈴木 花子"
    quoted = "ok\n\nFrom: 佐藤 一郎 <sato@example.jp>\nSent: Monday\n"
    raw = mail(quoted, sender="佐藤 一郎 <sato@other.example.net>", subject="見積")
    assert "sender.display_name_spoof" in ids(raw)
