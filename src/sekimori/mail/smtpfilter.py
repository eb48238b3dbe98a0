"""After-queue SMTP content filter for Postfix (the amavisd/rspamd way), on aiosmtpd.

Postfix hands every message to ``127.0.0.1:10025`` (``content_filter``);
the filter scans it in the sandbox, applies the policy of its verdict and
hands it back on ``127.0.0.1:10026``, a second ``smtpd`` without a content
filter. Actions: ``deliver`` (with ``X-Sekimori-*`` verdict headers),
``sanitize`` (deliver the disarmed copy, original to quarantine),
``quarantine`` (keep it, deliver nothing) and ``reject``. A message is
never lost: the SMTP reply is only ``250`` once the message is re-injected
or quarantined; a scanner crash or timeout either delivers with a warning
header or answers ``451`` so that Postfix retries (``on_error``), and a
re-injection failure always answers ``451``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.header import Header
from enum import StrEnum
from typing import Any

from sekimori.mail.quarantine import Quarantine
from sekimori.mail.result import ScanResult, Verdict
from sekimori.mail.sanitize import sanitize_message

log = logging.getLogger(__name__)

SCANNER_FAILURES = frozenset({"scan.timeout", "scan.crash"})


class Action(StrEnum):
    """What to do with a message of a given verdict."""

    DELIVER = "deliver"
    SANITIZE = "sanitize"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class OnError(StrEnum):
    """What to do when the scanner itself fails (crash, timeout)."""

    DELIVER = "deliver"
    TEMPFAIL = "tempfail"


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    """Action per verdict, and what a scanner failure does."""

    clean: Action = Action.DELIVER
    suspicious: Action = Action.SANITIZE
    unscannable: Action = Action.SANITIZE
    malicious: Action = Action.QUARANTINE
    on_error: OnError = OnError.DELIVER

    def action(self, verdict: Verdict) -> Action:
        """The action for ``verdict``."""
        return Action(getattr(self, verdict.value))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the filter did with one message: SMTP reply, action, result."""

    reply: str
    action: str
    result: ScanResult | None = None
    quarantined: str | None = None


Scanner = Callable[[bytes], ScanResult]
FindingSink = Callable[[ScanResult, Sequence[str]], None]


@dataclass(slots=True)
class ContentFilter:
    """The policy engine behind the SMTP handler; usable (and tested) without a socket.

    ``scanner`` scans raw bytes (normally ``Sandbox.scan``); ``reinject``
    sends ``(mail_from, rcpt_tos, data)`` on to the next hop; ``sink``
    receives every non-clean result (to store findings); ``quarantine``
    keeps originals.
    """

    scanner: Scanner
    reinject: Callable[[str, Sequence[str], bytes], None]
    quarantine: Quarantine = field(default_factory=Quarantine)
    policy: FilterPolicy = field(default_factory=FilterPolicy)
    sink: FindingSink | None = None

    def process(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> Decision:
        """Scan, decide, act; the returned reply is what the SMTP client is told."""
        try:
            result = self.scanner(data)
        except Exception as exc:  # the scanner is a boundary: its failure must not lose mail
            log.exception("scanner failed: %s", exc)
            result = None
        ids = {r.id for r in result.reasons} if result is not None else set()
        # Only a result made of scanner failures (and nothing else) means "not scanned".
        failed = result is None or (bool(ids) and ids <= SCANNER_FAILURES)
        if failed:
            if self.policy.on_error == OnError.TEMPFAIL:
                return Decision(
                    "451 4.3.0 Content scanner unavailable, try again later", "tempfail", result
                )
            headers = {"X-Sekimori-Warning": "message not scanned (scanner failure)"}
            return self._deliver(mail_from, rcpt_tos, data, headers, "deliver-unscanned", result)
        if result is None:  # unreachable: a missing result counts as a scanner failure
            return Decision("451 4.3.0 Content scanner unavailable", "tempfail")
        if result.verdict != Verdict.CLEAN and self.sink is not None:
            try:
                self.sink(result, rcpt_tos)
            except Exception as exc:  # the store being down must not stop mail
                log.exception("could not record findings: %s", exc)
        action = self.policy.action(result.verdict)
        headers = _verdict_headers(result)
        if action == Action.DELIVER:
            return self._deliver(mail_from, rcpt_tos, data, headers, action.value, result)
        if action == Action.REJECT:
            return Decision("550 5.7.1 Message rejected as dangerous", action.value, result)
        try:
            sha = self.quarantine.store(data, {**result.to_json(), "rcpt_tos": list(rcpt_tos)})
        except OSError as exc:
            log.error("quarantine failed: %s", exc)
            return Decision("451 4.3.0 Quarantine unavailable, try again later", "tempfail", result)
        headers["X-Sekimori-Quarantine"] = sha
        if action == Action.QUARANTINE:
            log.info("quarantined %s (%s, score %d)", sha, result.verdict.value, result.score)
            return Decision(f"250 2.0.0 Ok: quarantined {sha[:16]}", action.value, result, sha)
        try:
            disarmed = sanitize_message(data, result).data
        except Exception as exc:  # a message the disarm cannot rebuild stays in quarantine
            log.exception("sanitize failed, keeping the message in quarantine: %s", exc)
            return Decision(f"250 2.0.0 Ok: quarantined {sha[:16]}", "quarantine", result, sha)
        decision = self._deliver(mail_from, rcpt_tos, disarmed, headers, action.value, result)
        return Decision(decision.reply, decision.action, result, sha)

    def _deliver(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        headers: dict[str, str],
        action: str,
        result: ScanResult | None,
    ) -> Decision:
        try:
            self.reinject(mail_from, rcpt_tos, _prepend_headers(data, headers))
        except (OSError, smtplib.SMTPException) as exc:
            log.error("re-injection failed: %s", exc)
            return Decision("451 4.4.1 Next hop unavailable, try again later", "tempfail", result)
        return Decision("250 2.0.0 Ok: delivered", action, result)


def _verdict_headers(result: ScanResult) -> dict[str, str]:
    reasons = ", ".join(dict.fromkeys(r.id for r in result.reasons)) or "-"
    return {
        "X-Sekimori-Verdict": f"{result.verdict.value}; score={result.score}",
        "X-Sekimori-Reasons": reasons,
    }


def _prepend_headers(data: bytes, headers: dict[str, str]) -> bytes:
    eol = b"\r\n" if b"\r\n" in data[:4096] else b"\n"
    lines = []
    for name, value in headers.items():
        text = value if value.isascii() else Header(value, "utf-8", header_name=name).encode()
        lines.append(f"{name}: {text}".encode("ascii") + eol)
    return b"".join(lines) + data


def smtp_reinjector(
    host: str, port: int, timeout: float = 60.0
) -> Callable[[str, Sequence[str], bytes], None]:
    """A ``reinject`` callable that relays over SMTP to ``host:port`` (Postfix's 10026)."""

    def send(mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> None:
        with smtplib.SMTP(host, port, timeout=timeout) as client:
            refused = client.sendmail(mail_from, list(rcpt_tos), data)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    return send


class FilterHandler:
    """aiosmtpd handler: runs ``ContentFilter.process`` off the event loop."""

    def __init__(self, content_filter: ContentFilter) -> None:
        self.filter = content_filter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Answer the end of DATA only once the message is safe somewhere."""
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogateescape")
        decision = await asyncio.to_thread(
            self.filter.process, envelope.mail_from or "", list(envelope.rcpt_tos), raw
        )
        log.info(
            "%s from=%s to=%s: %s",
            decision.action,
            envelope.mail_from,
            ",".join(envelope.rcpt_tos),
            decision.reply,
        )
        return decision.reply


def start(content_filter: ContentFilter, host: str = "127.0.0.1", port: int = 10025) -> Any:
    """Start the filter's SMTP server in a background thread; returns the controller."""
    from aiosmtpd.controller import Controller

    controller = Controller(
        FilterHandler(content_filter),
        hostname=host,
        port=port,
        data_size_limit=100 * 1024 * 1024,
        decode_data=False,
        ready_timeout=10.0,
    )
    controller.start()
    return controller
