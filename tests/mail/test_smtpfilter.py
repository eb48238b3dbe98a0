from __future__ import annotations

import email
import email.policy
import smtplib
import socket

import pytest
from aiosmtpd.controller import Controller

from sekimori.mail.quarantine import Quarantine
from sekimori.mail.result import Verdict
from sekimori.mail.scan import scan_bytes, unscannable
from sekimori.mail.smtpfilter import (
    Action,
    ContentFilter,
    FilterPolicy,
    OnError,
    smtp_reinjector,
    start,
)
from sekimori.samples import mail as samples
from tests.mail.helpers import mail


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []

    def __call__(self, mail_from, rcpt_tos, data) -> None:
        self.sent.append((mail_from, list(rcpt_tos), data))


def make_filter(tmp_path, **kwargs) -> tuple[ContentFilter, Outbox, list]:
    outbox, recorded = Outbox(), []
    content_filter = ContentFilter(
        scanner=kwargs.pop("scanner", lambda data: scan_bytes(data, "m.eml")),
        reinject=kwargs.pop("reinject", outbox),
        quarantine=Quarantine(tmp_path / "q"),
        sink=lambda result, rcpts: recorded.append((result.verdict, list(rcpts))),
        **kwargs,
    )
    return content_filter, outbox, recorded


def headers(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_clean_mail_delivered_with_verdict_header(tmp_path) -> None:
    content_filter, outbox, recorded = make_filter(tmp_path)
    decision = content_filter.process("a@example.jp", ["b@example.jp"], samples.clean_mail())
    assert decision.reply.startswith("250") and decision.action == "deliver"
    assert headers(outbox.sent[0][2])["X-Sekimori-Verdict"].startswith("clean")
    assert recorded == []


def test_malicious_mail_quarantined_not_delivered(tmp_path) -> None:
    content_filter, outbox, recorded = make_filter(tmp_path)
    raw = samples.emotet_invoice_mail()
    decision = content_filter.process("x@example.net", ["tanaka@example.co.jp"], raw)
    assert decision.reply.startswith("250") and decision.action == "quarantine"
    assert outbox.sent == []
    assert Quarantine(tmp_path / "q").release(decision.quarantined) == raw
    assert recorded == [(Verdict.MALICIOUS, ["tanaka@example.co.jp"])]


def test_suspicious_mail_delivered_sanitized(tmp_path) -> None:
    raw = mail("Invoice: http://files.example.net/wp-content/Invoice_12345.doc")
    content_filter, outbox, _ = make_filter(tmp_path)
    decision = content_filter.process("a@partner.example.com", ["b@example.jp"], raw)
    assert decision.action == "sanitize" and decision.quarantined
    delivered = headers(outbox.sent[0][2])
    assert "X-Sekimori-Sanitized" in delivered and delivered["X-Sekimori-Quarantine"]
    assert "hxxp://files[.]example[.]net" in delivered.get_body(("plain",)).get_content()


def test_scanner_crash_delivers_with_warning_or_tempfails(tmp_path) -> None:
    def broken(data: bytes):
        raise RuntimeError("parser exploded")

    content_filter, outbox, _ = make_filter(tmp_path, scanner=broken)
    decision = content_filter.process("a@x.example", ["b@example.jp"], samples.clean_mail())
    assert decision.reply.startswith("250")
    assert "X-Sekimori-Warning" in headers(outbox.sent[0][2])
    timeout = lambda data: unscannable("m", "scan.timeout", "no result after 60 s")  # noqa: E731
    strict, outbox, _ = make_filter(
        tmp_path, scanner=timeout, policy=FilterPolicy(on_error=OnError.TEMPFAIL)
    )
    decision = strict.process("a@x.example", ["b@example.jp"], samples.clean_mail())
    assert decision.reply.startswith("451") and outbox.sent == []


def test_next_hop_down_is_a_tempfail(tmp_path) -> None:
    def down(*args) -> None:
        raise ConnectionRefusedError("refused")

    content_filter, _, _ = make_filter(tmp_path, reinject=down)
    assert content_filter.process("a@x", ["b@y"], samples.clean_mail()).reply.startswith("451")


def test_reject_policy(tmp_path) -> None:
    policy = FilterPolicy(malicious=Action.REJECT)
    content_filter, outbox, _ = make_filter(tmp_path, policy=policy)
    decision = content_filter.process("a@x", ["b@y"], samples.emotet_invoice_mail())
    assert decision.reply.startswith("550") and outbox.sent == []


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp_sink():
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    yield sink, port
    controller.stop()


def test_smtp_round_trip(tmp_path, smtp_sink) -> None:
    sink, sink_port = smtp_sink
    content_filter, _, _ = make_filter(tmp_path, reinject=smtp_reinjector("127.0.0.1", sink_port))
    port = free_port()
    controller = start(content_filter, "127.0.0.1", port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("a@partner.example.com", ["tanaka@example.jp"], samples.clean_mail())
            client.sendmail("x@example.net", ["tanaka@example.jp"], samples.emotet_invoice_mail())
    finally:
        controller.stop()
    assert len(sink.messages) == 1
    rcpts, data = sink.messages[0]
    assert rcpts == ["tanaka@example.jp"] and b"X-Sekimori-Verdict: clean" in data
    assert len(list(Quarantine(tmp_path / "q"))) == 1
