"""Runs detectors over batches: timing, state and error capture in one place.

Detectors themselves never catch blanket exceptions (STYLE.md, 3): a detector
that breaks on a batch is reported once per kind of error, and the run goes on
with the other detectors and batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sekimori.detect.base import Detector
from sekimori.model import EventBatch, Finding

log = logging.getLogger(__name__)


class Run(Protocol):
    """A detector in one run, wherever it runs (here: ``DetectorRun``; ``worker.WorkerRun``)."""

    notes: list[str]
    errors: list[str]

    def detect(self, batch: EventBatch) -> list[Finding]:
        """Findings for ``batch`` (a run in a worker: of the batches it has finished)."""
        ...

    def finish(self) -> Iterable[Finding]:
        """Every finding still to come, the end-of-run ones included (read them all)."""
        ...

    def close(self) -> None:
        """Let go of what the run holds (a worker process); safe to call twice."""
        ...


@dataclass(slots=True)
class DetectorRun:
    """One detector in one run: its state, the time it took, and what went wrong."""

    detector: Detector
    state: Any = None
    seconds: float = 0.0
    batches: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)
    # Built in this process, a detector's notes are the hunt's from the start.
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, detector: Detector) -> DetectorRun:
        """A run with the detector's fresh state."""
        return cls(detector=detector, state=detector.new_state())

    def _note_error(self, where: str, exc: Exception) -> None:
        note_error(self.errors, self.detector.name, where, exc)

    def detect(self, batch: EventBatch) -> list[Finding]:
        """Findings of this detector for ``batch`` (none if it does not read this dataset)."""
        found: list[Finding] | None = self._run(self.detector.detect, batch)
        if found is None:
            return []
        self.findings += len(found)
        return found

    def matches(self, batch: EventBatch) -> Any:
        """What ``Detector.matches`` returns for ``batch``.

        None when there is nothing to build findings from: the detector does
        not read the batch, or failed on it (the error is noted).
        """
        return self._run(self.detector.matches, batch)

    def _run(self, step: Callable[[EventBatch, Any], Any], batch: EventBatch) -> Any:
        if batch.frame.height == 0 or not self.detector.wants(batch.dataset):
            return None
        started = time.perf_counter()
        try:
            found = step(batch, self.state)
        except Exception as exc:  # one broken detector must not end the run
            log.debug("detector %s failed", self.detector.name, exc_info=True)
            self._note_error(batch.path or batch.dataset, exc)
            found = None
        self.seconds += time.perf_counter() - started
        self.batches += 1
        return found

    def finish(self) -> list[Finding]:
        """Findings only the end of the run can tell."""
        started = time.perf_counter()
        try:
            found = self.detector.finish(self.state)
        except Exception as exc:  # see detect()
            self._note_error("end of run", exc)
            found = []
        self.seconds += time.perf_counter() - started
        self.findings += len(found)
        return found

    def close(self) -> None:
        """Nothing to let go of: the detector lives in this process."""


def note_error(errors: list[str], name: str, where: str, exc: Exception) -> None:
    """Add ``exc`` of detector ``name`` to ``errors``, once per kind of error."""
    text = f"{name}: {where}: {type(exc).__name__}: {exc}"
    kind = f"{type(exc).__name__}"
    if not any(kind in e for e in errors):
        errors.append(text)
        log.warning("detector failed: %s", text)
    log.debug("detector %s failed on %s", name, where)


def run_all(runs: Iterable[Run], batch: EventBatch) -> list[Finding]:
    """Every detector's findings for one batch."""
    found: list[Finding] = []
    for run in runs:
        found.extend(run.detect(batch))
    return found
