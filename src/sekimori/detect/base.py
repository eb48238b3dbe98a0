"""The interface every detector implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Protocol

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
        instead of the findings, and the hunt's process builds them with its
        ``builder``: the worker is the slower of the two, and building
        findings is work the reading process has time for. The default is the
        findings themselves.
        """
        return self.detect(batch, state)

    def builder_seed(self) -> Any:
        """What ``builder`` needs of this detector (picklable; it crosses processes)."""
        return None

    @classmethod
    def builder(cls, seed: Any = None) -> FindingBuilder:
        """Turns what ``matches`` returns, batch after batch, into the findings of ``detect``.

        ``seed`` is the built detector's ``builder_seed``. The builder's
        ``finish`` adds findings only the end of the run can tell, if the
        builder (rather than the worker's detector) keeps the state they need.
        """
        return _FindingsAsIs()

    def builder_recipe(self) -> Callable[[], FindingBuilder]:
        """``builder(builder_seed())``, picklable: what a worker sends the hunt's process.

        A detector may name a builder that lives apart from its own module,
        so that the hunt's process does not import the detector's (the
        Sigma detector's imports pySigma).
        """
        return partial(type(self).builder, self.builder_seed())

    def finish(self, state: Any) -> list[Finding]:
        """Findings that only the end of the run can tell (windows, aggregates)."""
        return []


class FindingBuilder(Protocol):
    """``Detector.builder``: findings out of what ``Detector.matches`` returned."""

    def __call__(self, part: Any) -> list[Finding]:
        """The findings of one batch's ``matches``, in batch order."""
        ...

    def finish(self) -> list[Finding]:
        """Findings that only the end of the run can tell."""
        ...


class _FindingsAsIs:
    """The builder of a detector whose ``matches`` are its findings."""

    def __call__(self, part: Any) -> list[Finding]:
        return list(part)

    def finish(self) -> list[Finding]:
        return []
