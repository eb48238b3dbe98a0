"""What a finding says about the Sigma rule that produced it.

Apart from the compiler (which imports pySigma): the hunt's process reads
it in the matches and correlation rules a Sigma worker sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from sekimori.model import Severity


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What a finding says about the rule that produced it."""

    rule_id: str
    title: str
    name: str | None
    severity: Severity
    ruleset: str
    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    description: str | None = None
    path: str | None = None


__all__ = ["RuleMeta"]
