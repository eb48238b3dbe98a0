"""From hits to a verdict: clean | suspicious | malicious | unscannable, and a score.

The score is the sum of the weights of the distinct reasons (one reason id
counts once per file, however often it was seen), capped at 100. A score of
``MALICIOUS_AT`` or more is malicious, ``SUSPICIOUS_AT`` or more suspicious.
A file the gateway could not see through is unscannable unless what it did
see is already malicious. Weights are set so that Japanese business habits
stay clean: a password-protected zip whose password is in the body (PPAP)
weighs 5, a failed SPF alone 15; only content that acts (macros that run
programs, shortcuts that start PowerShell, download links) reaches the
thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sekimori.mail.reasons import spec
from sekimori.mail.result import Hit, Reason, Verdict

MALICIOUS_AT = 60
SUSPICIOUS_AT = 30
MAX_SCORE = 100


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict, its score and the reasons behind it (heaviest first)."""

    verdict: Verdict
    score: int
    reasons: tuple[Reason, ...]

    @property
    def unscannable_reason(self) -> str | None:
        """The first reason that made the content unscannable, if any."""
        for reason in self.reasons:
            if spec(reason.id).unscannable:
                return reason.en
        return None


def explain(hit: Hit) -> Reason:
    """The catalogue entry of a hit joined with its evidence."""
    entry = spec(hit.id)
    return Reason(
        id=entry.id,
        en=entry.en,
        ja=entry.ja,
        techniques=entry.techniques,
        weight=entry.weight,
        evidence=hit.evidence,
        location=hit.location,
    )


def decide(hits: Iterable[Hit]) -> Decision:
    """The verdict on a set of hits (pure: same hits, same decision)."""
    first: dict[tuple[str, str], Hit] = {}
    for hit in hits:
        first.setdefault((hit.id, hit.location), hit)
    reasons = sorted((explain(h) for h in first.values()), key=lambda r: (-r.weight, r.id))
    # A reason counts once per message, wherever it was seen.
    weights = {r.id: r.weight for r in reasons}
    score = min(MAX_SCORE, sum(weights.values()))
    unscannable = any(spec(r.id).unscannable for r in reasons)
    if score >= MALICIOUS_AT:
        verdict = Verdict.MALICIOUS
    elif unscannable:
        verdict = Verdict.UNSCANNABLE
    elif score >= SUSPICIOUS_AT:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.CLEAN
    return Decision(verdict, score, tuple(reasons))
