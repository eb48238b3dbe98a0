"""The interface every detector implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from sekimori.model import EventBatch, Finding


def wants_dataset(datasets: frozenset[str] | None, dataset: str) -> bool:
    """True when ``dataset`` is one of ``datasets`` (None: all), or below one (``zeek.conn``)."""
    return (
        datasets is None
        or dataset in datasets
        or any(dataset.startswith(prefix + ".") for prefix in datasets)
    )


class Detector(ABC):
    """Takes a batch of events (and its explicit state) and returns findings.

    Detectors are pure functions of (batch, state): whatever must live across
    batches (beacon windows, brute-force counters) is kept in the object
    returned by ``new_state`` and handed back on every call, so that the
    runner decides where state lives. ``datasets`` names the batch datasets a
    detector reads (``None``: all); ``finish`` flushes windowed state at the
    end of a run.
    """

    name: ClassVar[str]
    datasets: ClassVar[frozenset[str] | None] = None

    def wants(self, dataset: str) -> bool:
        """True when batches of ``dataset`` are for this detector."""
        return wants_dataset(self.datasets, dataset)

    def notes(self) -> list[str]:
        """What the detector could not use (rules it could not load …), a sentence each."""
        return []

    def new_state(self) -> Any:
        """A fresh state for one run (or one partition of hosts)."""
        return None

    @abstractmethod
    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Findings for ``batch``; may update ``state``."""

    def matches(self, batch: EventBatch, state: Any) -> Any:
        """``detect`` up to what its findings are made of: the part a worker process does.

        A detector in a worker process (``detect.worker``) sends this back
        instead of the findings, and the hunt's process builds them with
        ``builder``: the worker is the slower of the two, and building
        findings is work the reading process has time for. The default is the
        findings themselves.
        """
        return self.detect(batch, state)

    @classmethod
    def builder(cls) -> Callable[[Any], list[Finding]]:
        """Turns what ``matches`` returned into the findings ``detect`` would have returned."""
        return _as_findings

    def finish(self, state: Any) -> list[Finding]:
        """Findings that only the end of the run can tell (windows, aggregates)."""
        return []


def _as_findings(part: Any) -> list[Finding]:
    """``Detector.builder`` of a detector whose ``matches`` are its findings."""
    return list(part)
