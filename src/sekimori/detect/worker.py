"""One detector run in a worker process, beside the process that reads the files.

A hunt has two big costs of about the same size: reading (JSON and EVTX
parsing, building frames) and the Sigma engine. In one process they take
turns on one CPU; with the engine in a worker process, the next batch is
read while the last one is evaluated.

The worker builds the detector itself, from a recipe (a picklable callable,
such as ``sigma.launch.sigma_recipe``'s), and owns it for the whole run:
batches go to it in the order they were read, and what it matched comes back
in that order. The worker does the detector's ``matches``; this process
builds the findings from them (``Detector.builder``), and keeps the state
they need, as it has time to while the worker evaluates the next batch; so
a hunt finds the same with or without it, and after it, if it dies. Inside,
an ordinary ``DetectorRun`` runs the detector, so a detector error is
reported the same way too. Batches of at most ``max_rows`` rows in all wait
for the worker: when reading is faster than detection, reading waits, and
memory stays bounded.

A batch travels as Arrow IPC, LZ4-compressed: a tenth of the time of
pickling the frame, and a tenth of the bytes through the pipe.

The worker starts with ``spawn``: polars runs its own threads, which a
forked child would inherit in whatever state they were.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import queue
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any

from sekimori.detect.base import Detector, FindingBuilder, wants_dataset
from sekimori.detect.runner import DetectorRun, note_error
from sekimori.errors import SekimoriError
from sekimori.gcpause import fewer_collections
from sekimori.mainscript import main_script_hidden
from sekimori.model import EventBatch, Finding

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

Recipe = Callable[[], Detector]
# How often a wait for the worker checks that it is still alive (seconds).
_POLL = 0.5


@dataclass(slots=True)
class WorkerRun:
    """A ``DetectorRun`` whose detector lives in a worker process.

    ``detect`` hands a batch to the worker and returns the findings of the
    batches finished since; ``finish`` returns the rest. Each batch goes to
    the worker as it is given (its queue's thread writes it to the pipe as
    the worker reads), so that the worker never waits for this process to
    come back from reading; the findings are built here
    (``Detector.builder``) in the order the batches were given.

    ``notes`` are the detector's (``Detector.notes``), known once the worker
    has built it; ``errors`` are the run's errors, as for a
    ``DetectorRun``. A worker that dies before it is ready leaves the
    detector to this process; one that dies later is an error, and the
    batches it did not answer, and the ones after, are evaluated by the
    detector built here. A detector that cannot be built raises its error
    (``SekimoriError``) in the hunt, at the first batch or at ``finish``.
    """

    name: str
    datasets: frozenset[str] | None
    recipe: Recipe
    process: BaseProcess
    requests: Queue[tuple[str, Any]]
    replies: Queue[tuple[str, Any]]
    max_rows: int
    seconds: float = 0.0
    batches: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Batches given and not yet sent (with their number, in the order given): the
    # ones a worker that died did not answer, for the detector built here.
    # Each as it travels (``_Packed``): LZ4 Arrow IPC takes a fraction of the frame's memory.
    waiting: deque[tuple[int, _Packed]] = field(default_factory=deque)
    # Batches sent and not yet answered, kept until they are, in case the worker dies.
    sent: deque[tuple[int, _Packed]] = field(default_factory=deque)
    # The rows of both.
    rows_held: int = 0
    # What ``Detector.matches`` returned for a batch, until its turn to be built.
    parts: dict[int, tuple[Any, str]] = field(default_factory=dict)
    given: int = 0
    built: int = 0
    ready: bool = False
    # Nothing more will come from the worker (``done``: it said so, and ends by itself).
    ended: bool = False
    done: bool = False
    # The worker's own end-of-run findings.
    last: list[Finding] = field(default_factory=list)
    # The detector in this process that evaluates what a worker that died (or did
    # not start) left.
    rescue: DetectorRun | None = None
    # Builds the findings of a batch from what the worker sends: made by the
    # detector's ``builder_recipe``, which the worker sends once it is ready.
    build: FindingBuilder = field(default_factory=Detector.builder)

    @classmethod
    def start(
        cls, recipe: Recipe, name: str, datasets: frozenset[str] | None, max_rows: int
    ) -> WorkerRun:
        """Start a worker that builds its detector with ``recipe``.

        ``recipe`` must be picklable (a class or a module's function, or a
        ``functools.partial`` of one); ``name`` and ``datasets`` are the
        detector's (``Detector.name``, ``Detector.datasets``): the hunt may
        start the worker before it imports the detector. ``max_rows`` bounds
        the rows of the batches given and not yet evaluated.
        """
        context = multiprocessing.get_context("spawn")
        requests: Queue[tuple[str, Any]] = context.Queue()
        replies: Queue[tuple[str, Any]] = context.Queue()
        process = context.Process(
            target=_serve, args=(recipe, requests, replies), name=f"sekimori-{name}"
        )
        # A worker must not outlive the hunt that started it.
        process.daemon = True
        # Nor run its main script again (``sekimori.mainscript``).
        with main_script_hidden():
            process.start()
        return cls(
            name=name,
            datasets=datasets,
            recipe=recipe,
            process=process,
            requests=requests,
            replies=replies,
            max_rows=max_rows,
        )

    def detect(self, batch: EventBatch) -> list[Finding]:
        """Give ``batch`` to the worker; the findings of the batches finished since."""
        if batch.frame.height == 0 or not wants_dataset(self.datasets, batch.dataset):
            return []
        if self.ended:
            if self.rescue is not None:
                where = batch.path or batch.dataset
                self.parts[self.given] = (self.rescue.matches(batch), where)
                self.given += 1
            return self._findings()
        self.waiting.append((self.given, _Packed.of(batch)))
        self.given += 1
        self.rows_held += batch.frame.height
        self._send()
        self._collect(block=False)
        while self.rows_held > self.max_rows and not self.ended:
            self._collect(block=True)
        self._here()
        return self._findings()

    def finish(self) -> Iterator[Finding]:
        """Every finding still to come, the end-of-run ones included; then stop the worker.

        Yielded as batches are finished, so that the hunt stores the
        findings of the last batches while the worker is still on the ones
        after.
        """
        while (self.waiting or self.sent) and not self.ended:
            self._collect(block=True)
            yield from self._findings()
        if not self.ended:
            self.requests.put(("finish", None))
        while not self.ended:
            self._collect(block=True)
        self.close()
        self._here()
        yield from self._findings(all_left=True)
        yield from self.last
        rescue = self.rescue
        if rescue is not None:
            yield from rescue.finish()
            self.seconds += rescue.seconds
            self.batches += rescue.batches
            self.errors.extend(e for e in rescue.errors if e not in self.errors)
        yield from self._build_finish()

    def wait_ready(self) -> None:
        """Block until the worker has built its detector (or has died)."""
        while not self.ready:
            self._collect(block=True)

    def close(self) -> None:
        """Stop the worker, whatever state it is in.

        A worker that answered ``finish`` ends by itself: the hunt goes on
        without waiting for it to free its memory.
        """
        if not self.done:
            if self.process.is_alive():
                self.process.terminate()
            self.process.join(timeout=5)
        for q in (self.requests, self.replies):
            q.close()
            q.cancel_join_thread()

    def _send(self) -> None:
        """Hand the worker every batch waiting.

        Also before it is ready: it takes them as soon as it is, while this
        process reads on. Each is kept here until answered, in case the worker
        dies. Handed two at a time, the worker sat idle while this process
        read the next window of events, and evaluated most of the last
        window's batches after reading.
        """
        while self.waiting and not self.ended:
            number, packed = self.waiting.popleft()
            self.requests.put(("batch", (packed.dataset, packed.path, packed.data)))
            self.sent.append((number, packed))

    def _here(self) -> None:
        """With the worker gone: the batches it did not answer, evaluated here."""
        while self.rescue is not None and self.waiting:
            number, packed = self.waiting.popleft()
            self.parts[number] = (self.rescue.matches(packed.batch()), packed.where)

    def _collect(self, block: bool) -> None:
        """Take the replies waiting (with ``block``: at least one reply, or death)."""
        while not self.ended:
            try:
                kind, body = self.replies.get(timeout=_POLL) if block else self.replies.get_nowait()
            except queue.Empty:
                if block and not self.process.is_alive():
                    self._died()
                    continue
                if block:
                    continue
                return
            block = False
            if kind == "ready":
                notes, recipe = body
                self.ready = True
                self.notes.extend(notes)
                self.build = recipe()
                self._send()
            elif kind == "failed":
                self.close()
                error, message, where = body
                raise error(message, where)
            elif kind == "found":
                number, packed = self.sent.popleft()
                self.rows_held -= packed.rows
                self.parts[number] = (body, packed.where)
                self._send()
            elif kind == "done":
                self.last, seconds, batches, findings, errors = body
                self.seconds, self.batches = seconds, batches
                self.findings += findings
                self.errors.extend(errors)
                self.ended = self.done = True

    def _findings(self, all_left: bool = False) -> list[Finding]:
        """The findings of the finished batches whose turn it is (``all_left``: all of them)."""
        parts = self.parts
        if all_left:
            numbers = sorted(parts)
        else:
            numbers = []
            while self.built + len(numbers) in parts:
                numbers.append(self.built + len(numbers))
        found: list[Finding] = []
        for number in numbers:
            part, where = parts.pop(number)
            self.built = number + 1
            found.extend(self._build(part, where))
        return found

    def _build(self, part: Any, where: str) -> list[Finding]:
        """The findings of what a detector's ``matches`` returned for a batch (None: nothing)."""
        if part is None:
            return []
        try:
            found = self.build(part)
        except Exception as exc:  # as a detector that breaks on a batch (runner.DetectorRun)
            log.debug("detector %s failed", self.name, exc_info=True)
            note_error(self.errors, self.name, where, exc)
            return []
        self.findings += len(found)
        return found

    def _build_finish(self) -> list[Finding]:
        """The builder's end-of-run findings (those of the state it keeps)."""
        try:
            found = self.build.finish()
        except Exception as exc:  # see _build
            log.debug("detector %s failed", self.name, exc_info=True)
            note_error(self.errors, self.name, "end of run", exc)
            return []
        self.findings += len(found)
        return found

    def _died(self) -> None:
        code = self.process.exitcode
        # Its batches are evaluated here instead: the hunt finds all it would have found.
        self.waiting.extendleft(reversed(self.sent))
        self.sent.clear()
        self.rows_held = 0
        self.ended = True
        left = len(self.waiting)
        if not self.ready:
            log.warning(
                "%s: worker process did not start (exit code %s); detecting in this process",
                self.name,
                code,
            )
            detector = self.recipe()
            self.notes.extend(detector.notes())
            self.build = detector.builder_recipe()()
            self.ready = True
            self.rescue = DetectorRun.start(detector)
            return
        try:
            # Sigma's ``matches`` need no state (the builder here keeps it): the
            # same detector built here goes on exactly where the worker stopped.
            # A detector whose ``matches`` keep state starts it afresh.
            self.rescue = DetectorRun.start(self.recipe())
            fate = "evaluated in this process instead"
        except Exception:  # the worker's end is the error reported
            log.debug("detector %s could not be built here", self.name, exc_info=True)
            fate = "not evaluated, nor the ones after"
            self.waiting.clear()
        text = f"{self.name}: worker process ended (exit code {code}); {left} batch(es) {fate}"
        self.errors.append(text)
        log.warning("detector failed: %s", text)


@dataclass(frozen=True, slots=True)
class _Packed:
    """A batch as it travels to the worker: its frame as LZ4-compressed Arrow IPC."""

    dataset: str
    path: str | None
    data: bytes
    rows: int

    @classmethod
    def of(cls, batch: EventBatch) -> _Packed:
        data = batch.frame.write_ipc(None, compression="lz4").getvalue()
        return cls(batch.dataset, batch.path, data, batch.frame.height)

    @property
    def where(self) -> str:
        """The batch's path, or its dataset."""
        return self.path or self.dataset

    def batch(self) -> EventBatch:
        """The batch again."""
        return EventBatch(self.dataset, _frame(self.data), path=self.path)


def _frame(data: bytes) -> pl.DataFrame:
    import polars as pl  # imported by the worker, not by a hunt that starts it

    return pl.read_ipc(io.BytesIO(data))


def _serve(
    recipe: Recipe,
    requests: Queue[tuple[str, Any]],
    replies: Queue[tuple[str, Any]],
) -> None:
    """The worker's loop: build the detector, then answer batches until told to finish."""
    try:
        detector = recipe()
    except SekimoriError as exc:
        # Raised again in the hunt, as if the detector had been built there.
        replies.put(("failed", (type(exc), exc.message, exc.where)))
        return
    run = DetectorRun.start(detector)
    replies.put(("ready", (detector.notes(), detector.builder_recipe())))
    with fewer_collections():
        _answer(run, requests, replies)


def _answer(
    run: DetectorRun, requests: Queue[tuple[str, Any]], replies: Queue[tuple[str, Any]]
) -> None:
    """Batches in, findings out, until the hunt says it is finished."""
    while True:
        kind, body = requests.get()
        if kind == "batch":
            dataset, path, data = body
            batch = EventBatch(dataset, _frame(data), path=path)
            del data, body
            replies.put(("found", run.matches(batch)))
            continue
        found = run.finish()
        replies.put(("done", (found, run.seconds, run.batches, run.findings, run.errors)))
        return


__all__ = ["WorkerRun"]
