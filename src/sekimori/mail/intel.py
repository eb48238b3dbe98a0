"""Threat intelligence on a verdict: observables of the message against known-bad indicators.

Every URL, domain, IP and file hash the scan found is looked up in an
``intel.matcher.IntelIndex`` (abuse.ch, MISP, STIX, plain lists …); a match
adds ``intel.known_bad`` with the indicators as evidence and the verdict is
decided again. Applied after the scan, in the calling process, so that the
index never travels to the sandbox workers.
"""

from __future__ import annotations

from typing import Any

from sekimori.mail.result import Hit, ScanResult, Verdict
from sekimori.mail.verdict import decide

MAX_MATCHES = 20


def apply_intel(result: ScanResult, index: Any) -> ScanResult:
    """``result`` with ``intel.known_bad`` added when an observable is a known indicator.

    ``index`` is an ``IntelIndex`` (anything with ``lookup(value) -> list``).
    The result is updated in place and returned.
    """
    matches: list[dict[str, Any]] = []
    for observable in result.observables:
        if observable.type == "email":
            continue
        for indicator in index.lookup(observable.value):
            matches.append(
                {
                    "observable": observable.value,
                    "indicator": indicator.value,
                    "type": indicator.type,
                    "source": indicator.source,
                    "malware": indicator.malware,
                    "threat": indicator.threat,
                }
            )
            if len(matches) >= MAX_MATCHES:
                break
    if not matches:
        return result
    hits = [Hit(r.id, r.evidence, r.location) for r in result.reasons]
    hits.append(Hit("intel.known_bad", {"matches": matches}, "intel"))
    decision = decide(hits)
    result.verdict, result.score, result.reasons = (
        decision.verdict,
        decision.score,
        list(decision.reasons),
    )
    result.unscannable = (
        decision.unscannable_reason if decision.verdict == Verdict.UNSCANNABLE else None
    )
    return result
