"""The mail-hunt bridge: ``email`` events → the gateway's verdict → findings.

The ``.eml``/mbox source (``sources/eml.py``) only normalizes headers; this
detector re-reads each message from ``log.file.path`` (and ``log.offset``
inside an mbox), scans it with ``sekimori.mail.scan`` and turns a
suspicious, malicious or unscannable verdict into one finding per reason:
``rule.id`` is the reason id, the ruleset ``sekimori-mail``, the stage
delivery, the observables the URLs, domains, IPs and hashes the scan found.
The recipient (first ``email.to.address``) is the user; the host is
``mail-gateway`` unless ``hosts`` maps the recipient to a workstation.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sekimori.detect.base import Detector
from sekimori.mail.result import ScanResult, Verdict
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    LOG_FILE_PATH,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
    Severity,
    Stage,
    path_of_shown,
    utc,
)

if TYPE_CHECKING:
    # The scanner and its sandbox are imported with the first message: most
    # hunts read no mail, and they cost every hunt's start-up 0.05 s.
    from sekimori.mail.sandbox import Sandbox, SandboxLimits

log = logging.getLogger(__name__)

RULESET = "sekimori-mail"
GATEWAY_HOST = "mail-gateway"
MAX_MESSAGE = 64 << 20
_SEVERITY = {
    Verdict.MALICIOUS: Severity.HIGH,
    Verdict.SUSPICIOUS: Severity.MEDIUM,
    Verdict.UNSCANNABLE: Severity.LOW,
}
# A reason's own weight says how much it alone tells (mail/verdict.py): a
# macro that starts programs is high, the PPAP zip it came in is low.
_WEIGHT_SEVERITY = ((30, Severity.HIGH), (15, Severity.MEDIUM), (5, Severity.LOW))


def reason_severity(weight: int, verdict: Verdict) -> Severity:
    """Severity of one reason's finding: by its weight, never above the message's verdict."""
    own = next((sev for floor, sev in _WEIGHT_SEVERITY if weight >= floor), Severity.INFORMATIONAL)
    cap = _SEVERITY[verdict]
    return own if own.rank <= cap.rank else cap


_NEXT_MBOX_MESSAGE = re.compile(rb"\nFrom [^\r\n]*\r?\n")


def read_message(path: str, offset: int | None) -> bytes:
    """The raw message at ``offset`` of an mbox, or the whole file (gzip undone)."""
    data = Path(path).read_bytes()
    if data.startswith(b"\x1f\x8b"):
        data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_MESSAGE)
    if offset is None or not data.startswith(b"From "):
        return data[:MAX_MESSAGE]
    start = data.find(b"\n", offset) + 1
    match = _NEXT_MBOX_MESSAGE.search(data, start)
    end = match.start() + 1 if match else len(data)
    return re.sub(rb"(?m)^>(>*From )", rb"\1", data[start:end])


@dataclass(slots=True)
class MailState:
    """Per-run state: the sandbox the messages are scanned in, started on the first one."""

    sandbox: Sandbox | None = None


class MailDetector(Detector):
    """Scans each message of an ``email`` batch; findings for every non-clean verdict.

    With ``isolate`` (the default) messages are scanned in sandbox worker
    processes that live as long as the run's state (``new_state`` …
    ``finish``); with a ``None`` state, or ``isolate=False``, in this process.
    """

    name: ClassVar[str] = "mail"
    datasets: ClassVar[frozenset[str] | None] = frozenset({"email"})

    def __init__(
        self,
        hosts: Mapping[str, str] | None = None,
        internal_domains: Iterable[str] = (),
        isolate: bool = True,
        limits: SandboxLimits | None = None,
    ) -> None:
        self.hosts = {k.lower(): v for k, v in (hosts or {}).items()}
        self.internal_domains = tuple(internal_domains)
        self.isolate = isolate
        self.limits = limits

    def new_state(self) -> MailState:
        """A state without a sandbox yet: hunts without mail start no worker."""
        return MailState()

    def finish(self, state: Any) -> list[Finding]:
        """Stop the run's sandbox."""
        if isinstance(state, MailState) and state.sandbox is not None:
            state.sandbox.close()
            state.sandbox = None
        return []

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Findings for the messages of ``batch`` the gateway would not deliver as they are."""
        if LOG_FILE_PATH not in batch.frame.columns:
            return []
        rows: list[dict[str, Any]] = []
        targets: list[tuple[str, str, bytes]] = []
        for row in batch.frame.iter_rows(named=True):
            path = row.get(LOG_FILE_PATH)
            if not path:
                continue
            offset = row.get("log.offset")
            try:
                raw = read_message(
                    path_of_shown(str(path)), int(offset) if offset is not None else None
                )
            except OSError as exc:
                log.warning("cannot re-read %s: %s", path, exc)
                continue
            rows.append(row)
            targets.append((str(path), Path(str(path)).name, raw))
        options: dict[str, Any] = {"internal_domains": self.internal_domains}
        if self.isolate and isinstance(state, MailState):
            if state.sandbox is None:
                from sekimori.mail.sandbox import Sandbox, SandboxLimits

                state.sandbox = Sandbox(self.limits or SandboxLimits())
            results = list(state.sandbox.scan_many(targets, **options))
        else:
            from sekimori.mail.scan import scan_bytes

            results = [
                scan_bytes(raw, name, file=label, internal_domains=self.internal_domains)
                for label, name, raw in targets
            ]
        findings: list[Finding] = []
        for row, result in zip(rows, results, strict=True):
            if result.verdict != Verdict.CLEAN:
                findings.extend(self.findings(result, row, batch.path))
        return findings

    def findings(
        self, result: ScanResult, row: Mapping[str, Any], path: str | None = None
    ) -> list[Finding]:
        """One finding per reason of a non-clean verdict."""
        recipients = row.get("email.to.address") or result.message.get("to") or []
        user = str(recipients[0]).lower() if recipients else None
        host = self.hosts.get(user or "", GATEWAY_HOST)
        stamp = row.get(TIMESTAMP)
        timestamp = utc(stamp) if isinstance(stamp, datetime) else datetime.now(UTC)
        message = {k: v for k, v in result.message.items() if v}
        out: list[Finding] = []
        seen: set[str] = set()
        for reason in result.reasons:
            if reason.id in seen:
                continue
            seen.add(reason.id)
            out.append(
                Finding(
                    timestamp=timestamp,
                    tenant=str(row.get(TENANT) or DEFAULT_TENANT),
                    host_name=host,
                    user_name=user,
                    rule_id=reason.id,
                    rule_name=reason.en,
                    description=reason.ja,
                    ruleset=RULESET,
                    severity=reason_severity(reason.weight, result.verdict),
                    tactics=("initial-access",),
                    techniques=reason.techniques,
                    stage=Stage.DELIVERY,
                    observables=tuple(result.observables),
                    evidence={
                        "verdict": result.verdict.value,
                        "score": result.score,
                        "location": reason.location,
                        "message": message,
                        **dict(reason.evidence),
                    },
                    log_file_path=str(row.get(LOG_FILE_PATH) or path or result.file),
                    event_id=str(row.get(EVENT_ID)) if row.get(EVENT_ID) else None,
                    dataset="email",
                    confidence=round(result.score / 100, 2),
                )
            )
        return out
