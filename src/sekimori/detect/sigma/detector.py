"""``SigmaDetector``: Sigma rules (SigmaHQ folders and our pack) as a Sekimori detector.

In: batches of the ``windows`` dataset (EVTX, evtx JSON, Winlogbeat); out:
one ``Finding`` per matched event and rule, whose evidence holds the fields
the matching selections read, verbatim, and the selections' names; and at
the end of the run, one finding per correlation window. URLs, IPs and
domains in command lines and script blocks (decoded when encoded) become
the finding's observables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from sekimori.detect.base import Detector
from sekimori.detect.sigma.compiled_cache import load_compiled
from sekimori.detect.sigma.compiler import CompiledRule
from sekimori.detect.sigma.correlating import CompiledCorrelation, CorrelationState, Occurrence
from sekimori.detect.sigma.engine import Match, evaluate, group_rules
from sekimori.detect.sigma.fields import column_name
from sekimori.detect.sigma.findings import KEEP_COLUMNS, Matched, SigmaFindings, event_time
from sekimori.detect.sigma.launch import SIGMA_DATASETS, SIGMA_NAME
from sekimori.detect.sigma.loader import (
    LoadReport,
    RuleSet,
    bundled_rules_dir,
    default_cache_dir,
    load_rules,
)
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    HOST_NAME,
    LOG_FILE_PATH,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
)

log = logging.getLogger(__name__)


class SigmaDetector(Detector):
    """Sigma rules on Windows event batches.

    Built from rule folders (``--rules DIR``, repeatable) plus the bundled
    Emotet pack unless ``use_default_rules`` is false. ``load_report`` says how
    many rules loaded and which were rejected and why. ``placeholders`` gives
    values for ``%name%`` placeholders of the ``expand`` modifier;
    ``rule_cache`` keeps parsed rule sets in the user's cache folder.
    """

    name: ClassVar[str] = SIGMA_NAME
    datasets: ClassVar[frozenset[str] | None] = SIGMA_DATASETS

    def __init__(
        self,
        rule_dirs: list[Path],
        use_default_rules: bool = True,
        placeholders: Mapping[str, Sequence[str]] | None = None,
        rule_cache: bool = True,
    ) -> None:
        bundled = bundled_rules_dir() if use_default_rules else None
        self.ruleset: RuleSet = (
            load_compiled(rule_dirs, bundled, placeholders, default_cache_dir())
            if rule_cache
            else load_rules(rule_dirs, bundled=bundled, placeholders=placeholders)
        )
        self.load_report: LoadReport = self.ruleset.report
        self.groups = group_rules(self.ruleset.rules)
        self._keep = KEEP_COLUMNS
        self._correlations_of: dict[str, list[int]] = {}
        for index, corr in enumerate(self.ruleset.correlations):
            for key in corr.refs:
                self._correlations_of.setdefault(key, []).append(index)

    def notes(self) -> list[str]:
        """One note per rule that could not be loaded, with the reason."""
        return [
            f"sigma rule not loaded: {what}: {' '.join(why.split())}"
            for what, why in self.load_report.rejected
        ]

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """The compiled detection rules."""
        return self.ruleset.rules

    def new_state(self) -> CorrelationState:
        """Matches kept for the correlation rules, empty."""
        return CorrelationState()

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """One finding per matched event and rule; correlation inputs go to ``state``."""
        return self._findings(state)(self.matches(batch, state))

    def matches(self, batch: EventBatch, state: Any = None) -> Matched:
        """What the rules match in ``batch``, for ``SigmaFindings``; needs no state."""
        matched = Matched(batch.dataset)
        if not self.wants(batch.dataset) or batch.frame.height == 0:
            return matched
        for match in evaluate(batch.frame, self.groups, keep=self._keep):
            if match.rule.output:
                matched.add(match)
            for index in self._correlations_of.get(match.rule.key, ()):
                matched.occurrences.append((index, self._occurrences(index, match)))
        return matched

    def builder_seed(self) -> tuple[CompiledCorrelation, ...]:
        """The correlation rules, which ``SigmaFindings`` evaluates."""
        return self.ruleset.correlations

    @classmethod
    def builder(cls, seed: Any = None) -> SigmaFindings:
        """``SigmaFindings`` of the correlation rules ``seed`` (``builder_seed``)."""
        return SigmaFindings(seed or ())

    def builder_recipe(self) -> partial[SigmaFindings]:
        """``SigmaFindings`` of the correlation rules, named without this class.

        The hunt's process builds it from a Sigma worker's recipe without
        importing this module (nor the compiler, nor pySigma).
        """
        return partial(SigmaFindings, self.ruleset.correlations)

    def finish(self, state: Any) -> list[Finding]:
        """One finding per correlation window that holds."""
        if not isinstance(state, CorrelationState):
            return []
        return self._findings(state).finish()

    def _findings(self, state: Any) -> SigmaFindings:
        correlations = self.ruleset.correlations
        if isinstance(state, CorrelationState):
            return SigmaFindings(correlations, state)
        return SigmaFindings(correlations)

    def _occurrences(self, index: int, match: Match) -> list[Occurrence]:
        corr = self.ruleset.correlations[index]
        key = match.rule.key
        ref = corr.refs[key]
        group_cols = [column_name(f) for f in corr.group_fields.get(key, ())]
        value_field = corr.value_fields.get(key)
        # Only the columns an occurrence keeps, of the rule's rows only (the
        # findings' builder converts the rows it needs itself).
        wanted = [TIMESTAMP, TENANT, HOST_NAME, EVENT_ID, LOG_FILE_PATH, *group_cols]
        if value_field:
            wanted.append(column_name(value_field))
        present = [c for c in dict.fromkeys(wanted) if c in match.rows.schema]
        rows = match.rows[list(match.indices)].select(present)
        out = []
        for row in rows.iter_rows(named=True):
            out.append(
                Occurrence(
                    timestamp=event_time(row),
                    ref=ref,
                    group=tuple(_lower(row.get(c)) for c in group_cols),
                    value=_lower(row.get(column_name(value_field))) if value_field else None,
                    tenant=str(row.get(TENANT) or DEFAULT_TENANT),
                    host=str(row.get(HOST_NAME) or "unknown"),
                    event_id=str(row[EVENT_ID]) if row.get(EVENT_ID) is not None else None,
                    log_file_path=str(row[LOG_FILE_PATH]) if row.get(LOG_FILE_PATH) else None,
                )
            )
        return out


def _lower(value: object) -> str | None:
    return None if value is None else str(value).lower()


__all__ = ["LoadReport", "SigmaDetector"]
