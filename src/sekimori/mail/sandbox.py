"""Hostile files must not take the gateway down: scans run in limited worker processes.

A ``Sandbox`` is a pool of worker processes (``concurrent.futures``
``ProcessPoolExecutor`` on a ``forkserver`` context, so that workers are
clean forks of a small server process, not of a threaded gateway). Each
worker starts with ``resource.setrlimit`` limits on address space
(``RLIMIT_AS``) and CPU time (``RLIMIT_CPU``) and with sockets disabled, and
every job has a wall-clock timeout. A job that times out, exhausts memory or
kills its worker costs one ``unscannable`` result (``scan.timeout`` /
``scan.crash``); the pool is torn down and rebuilt, and the other jobs that
were in flight are run again once.

Workers are reused from job to job: the CPU-time limit is renewed at the
start of every job (``RLIMIT_CPU`` counts a process's whole life), so each
job, not each worker, gets ``cpu_seconds``. ``scan_many`` sends small
messages and documents to the workers in batches (up to ``batch`` targets
of at most ``batch_bytes`` together, each no bigger than
``batch_item_bytes``), which saves a round trip per message; a batch that
times out or crashes is scanned again one target per job, so that only the
target at fault becomes ``unscannable``. ``start`` starts the workers ahead
of the first job (the mail filter and the bench do; otherwise the pool
starts at the first job).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sekimori.mail.result import ScanResult
from sekimori.mainscript import main_script_hidden

log = logging.getLogger(__name__)

T = TypeVar("T")
# Parsing libraries that log their complaints about hostile files.
QUIET_LOGGERS = ("olevba", "oletools", "olefile", "msodde", "rtfobj", "pikepdf", "py7zr")
PRELOAD = (
    "sekimori.mail.scan",
    "oletools.olevba",
    "oletools.mraptor",
    "oletools.msodde",
    "oletools.rtfobj",
    "pikepdf",
    "sekimori.mail.zipcrypto",
    "msoffcrypto",
)


# Jobs per worker given out at most, finished ones waiting for their turn included:
# a batch of macro documents takes ten times a batch of plain mail, and the
# other workers go on meanwhile.
AHEAD = 8


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Per-worker limits: memory (MiB), CPU seconds, wall-clock seconds per job, workers."""

    memory_mb: int = 1024
    cpu_seconds: int = 120
    timeout: float = 60.0
    workers: int = max(1, min(4, os.cpu_count() or 1))
    batch: int = 16
    batch_bytes: int = 1024 * 1024
    batch_item_bytes: int = 256 * 1024


class _NoNetwork(socket.socket):
    """A socket class that refuses to exist: parsers have no business on the network."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("network access is disabled in scan workers")


_cpu_budget = 0


def _limit_worker(memory_mb: int, cpu_seconds: int) -> None:
    """Worker initializer: address-space and CPU limits, no sockets."""
    global _cpu_budget
    if memory_mb > 0:
        size = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    _cpu_budget = cpu_seconds
    _renew_cpu_budget()
    socket.socket = _NoNetwork  # type: ignore[misc]
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _renew_cpu_budget() -> None:
    """Allow this worker ``cpu_seconds`` more CPU time from now (SIGXCPU ends it past that)."""
    if _cpu_budget <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + _cpu_budget
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)  # the hard limit is never raised (nor lowered: renewals raise soft)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _budgeted(func: Callable[..., T], *args: Any) -> T:
    """Run one job in a worker with a fresh CPU-time budget."""
    _renew_cpu_budget()
    return func(*args)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one job: its value, or why there is none (``timeout``/``crash``)."""

    value: Any = None
    failure: str | None = None
    detail: str = ""


class Sandbox:
    """A rebuildable pool of limited worker processes; use as a context manager."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.rebuilds = 0
        self._warming: threading.Thread | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._pool_locked()

    def _pool_locked(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that has the parsers imported already. The
            # main script is run neither there nor in the workers (``main_script_hidden``).
            context.set_forkserver_preload(list(PRELOAD))
            self._pool = ProcessPoolExecutor(
                max_workers=self.limits.workers,
                mp_context=context,
                initializer=_limit_worker,
                initargs=(self.limits.memory_mb, self.limits.cpu_seconds),
            )
        return self._pool

    def _kill(self, pool: ProcessPoolExecutor | None = None) -> None:
        """Tear the pool down, killing workers that may be stuck in a parser.

        With ``pool`` given, only that pool is torn down: a thread whose job
        failed on a pool another thread already replaced leaves the new one be.
        """
        with self._lock:
            if pool is not None and pool is not self._pool:
                return
            pool, self._pool = self._pool, None
        if pool is None:
            return
        self.rebuilds += 1
        processes = dict(getattr(pool, "_processes", None) or {})
        for process in processes.values():
            # A worker that already died may have its handle closed under us.
            with contextlib.suppress(OSError, ValueError):
                if process.is_alive():
                    process.kill()
        with contextlib.suppress(OSError):
            pool.shutdown(wait=True, cancel_futures=True)

    def warm(self) -> None:
        """Start the fork server and every worker now, without waiting for them.

        A command calls this first, so that the workers import the parsers
        while it gets on with its own start-up. Starting a worker waits for
        the fork server to have imported them (0.3 s), so that happens in
        a thread of its own.
        """
        self._warming = threading.Thread(
            target=self._warm, name="sekimori-sandbox-start", daemon=True
        )
        self._warming.start()

    def _warm(self) -> None:
        pool = self._get_pool()
        with contextlib.suppress(BrokenProcessPool, RuntimeError, OSError), main_script_hidden():
            for _ in range(self.limits.workers):
                pool.submit(_budgeted, _ready)

    def start(self) -> bool:
        """Start every worker now and wait until each has run a job.

        False when they could not start; the pool is then rebuilt at the next job.
        """
        pool = self._get_pool()
        try:
            with main_script_hidden():
                futures = [pool.submit(_budgeted, _ready) for _ in range(self.limits.workers)]
            for future in futures:
                future.result(timeout=max(60.0, self.limits.timeout))
        except (BrokenProcessPool, FutureTimeout, RuntimeError, OSError) as exc:
            log.warning("scan workers did not start: %s", exc)
            self._kill(pool)
            return False
        return True

    def close(self) -> None:
        """Stop the workers."""
        if self._warming is not None:
            # Else the pool it is starting would outlive the sandbox.
            self._warming.join(timeout=60)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def call(self, func: Callable[..., T], *args: Any) -> Outcome:
        """Run ``func(*args)`` in a worker; never raises for what the worker does."""
        return next(self.call_many(func, [args]))

    def call_many(
        self, func: Callable[..., Any], jobs: Iterable[tuple[Any, ...]]
    ) -> Iterator[Outcome]:
        """Run ``func`` over ``jobs`` in the workers, yielding outcomes in job order.

        At most two unfinished jobs per worker are in flight, and a job's
        timeout starts when the job before it has finished. Finished jobs wait
        for their turn (up to ``AHEAD`` per worker in all), so that a worker
        is not left idle behind one long job. After a timeout or a crash the
        pool is rebuilt and the other in-flight jobs are retried once.
        """
        # Two jobs per worker keep workers busy while results travel back.
        window = max(1, 2 * self.limits.workers)
        ahead = max(window, AHEAD * self.limits.workers)
        pending: list[tuple[tuple[Any, ...], Future[Any], int]] = []
        order: dict[int, int] = {}
        iterator = iter(jobs)
        exhausted = False

        def top_up() -> None:
            nonlocal exhausted
            while (
                not exhausted
                and len(pending) < ahead
                and sum(1 for p in pending if not p[1].done()) < window
            ):
                try:
                    args = next(iterator)
                except StopIteration:
                    exhausted = True
                    return
                order[id(args)] = len(order)
                pending.append((args, self._submit(func, args), 0))

        while True:
            top_up()
            if not pending:
                return
            args, future, retries = pending[0]
            # Wait for the first job, giving out more as the others finish.
            deadline = time.monotonic() + self.limits.timeout
            while not future.done() and (left := deadline - time.monotonic()) > 0:
                running = [p[1] for p in pending if not p[1].done()]
                wait(running, timeout=left, return_when=FIRST_COMPLETED)
                top_up()
            pending.pop(0)
            outcome = self._wait(future, timeout=max(0.0, deadline - time.monotonic()))
            if outcome.failure is not None:
                # The pool is gone; jobs that had finished keep their results.
                finished = [p for p in pending if _succeeded(p[1])]
                bystanders = [(a, r) for (a, f, r) in pending if not _succeeded(f)]
                if outcome.failure == "crash" and retries == 0 and bystanders:
                    # A crash cannot be pinned on one job when several ran: rerun it alone.
                    retry = self._wait(self._submit(func, args))
                    outcome = retry if retry.failure is None else outcome
                pending = finished + [(a, self._submit(func, a), r + 1) for (a, r) in bystanders]
                pending.sort(key=lambda p: order[id(p[0])])
            yield outcome

    def _submit(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
        """Submit to the current pool, replacing it first if it broke since the last job."""
        pool = self._get_pool()
        try:
            with main_script_hidden():  # a submit may start the fork server or a worker
                future = pool.submit(_budgeted, func, *args)
        except (BrokenProcessPool, RuntimeError, OSError):
            self._kill(pool)
            pool = self._get_pool()
            with main_script_hidden():
                future = pool.submit(_budgeted, func, *args)
        # Remember the pool, so that a failure tears down that pool and not its successor.
        future.pool = pool  # type: ignore[attr-defined]
        return future

    def _wait(
        self,
        future: Future[Any],
        pool: ProcessPoolExecutor | None = None,
        timeout: float | None = None,
    ) -> Outcome:
        pool = pool or getattr(future, "pool", None)
        timeout = self.limits.timeout if timeout is None else timeout
        try:
            return Outcome(value=future.result(timeout=timeout))
        except FutureTimeout:
            self._kill(pool)
            return Outcome(failure="timeout", detail=f"no result after {self.limits.timeout:g} s")
        except BrokenProcessPool as exc:
            self._kill(pool)
            return Outcome(failure="crash", detail=f"worker died: {exc}")
        except MemoryError:
            return Outcome(failure="crash", detail="memory limit reached")
        except Exception as exc:  # anything else the job raised is that job's failure
            log.warning("scan job failed: %s", exc, exc_info=True)
            return Outcome(failure="crash", detail=f"{type(exc).__name__}: {exc}")

    def scan(self, label: str, name: str, content: bytes | Path, **options: Any) -> ScanResult:
        """Scan one message or document in a worker; safe to call from many threads.

        A job that fails because another thread's job broke the shared pool is
        run once more on the rebuilt pool before it counts as a crash.
        """
        outcome = Outcome(failure="crash")
        for _ in range(2):
            pool = self._get_pool()
            try:
                with main_script_hidden():
                    future = pool.submit(_budgeted, _scan_job, label, name, content, options)
            except (BrokenProcessPool, RuntimeError):
                self._kill(pool)
                continue
            outcome = self._wait(future, pool)
            if outcome.failure != "crash" or not outcome.detail.startswith("worker died"):
                break
        if outcome.failure is None:
            result: ScanResult = outcome.value
            return result
        return self._failed(label, outcome)

    def scan_many(
        self, targets: Iterable[tuple[str, str, bytes | Path]], **options: Any
    ) -> Iterator[ScanResult]:
        """Scan targets (see ``targets.iter_targets``) in the workers, in order.

        Small targets travel in batches; a batch that fails is scanned again
        one target per job, so a timeout or crash costs only its own target.
        """
        batches: list[list[tuple[str, str, bytes | Path]]] = []

        def jobs() -> Iterator[tuple[Any, ...]]:
            for batch in self._batches(targets):
                batches.append(batch)
                yield (batch, options)

        for index, outcome in enumerate(self.call_many(_scan_batch, jobs())):
            batch = batches[index]
            batches[index] = []
            if outcome.failure is None:
                yield from outcome.value
            elif len(batch) == 1:
                yield self._failed(batch[0][0], outcome)
            else:
                log.info(
                    "a batch of %d failed (%s); scanning one by one", len(batch), outcome.failure
                )
                singles = self.call_many(_scan_job, [(*t, options) for t in batch])
                for target, single in zip(batch, singles, strict=True):
                    yield (
                        single.value if single.failure is None else self._failed(target[0], single)
                    )

    def _batches(
        self, targets: Iterable[tuple[str, str, bytes | Path]]
    ) -> Iterator[list[tuple[str, str, bytes | Path]]]:
        limits = self.limits
        batch: list[tuple[str, str, bytes | Path]] = []
        size = 0
        for target in targets:
            item = _size(target[2])
            if item > limits.batch_item_bytes:
                if batch:
                    yield batch
                    batch, size = [], 0
                yield [target]
                continue
            if batch and (len(batch) >= limits.batch or size + item > limits.batch_bytes):
                yield batch
                batch, size = [], 0
            batch.append(target)
            size += item
        if batch:
            yield batch

    @staticmethod
    def _failed(label: str, outcome: Outcome) -> ScanResult:
        reason = "scan.timeout" if outcome.failure == "timeout" else "scan.crash"
        log.warning("scan of %s failed (%s): %s", label, outcome.failure, outcome.detail)
        from sekimori.mail.scan import unscannable

        return unscannable(label, reason, outcome.detail)


def _size(content: bytes | Path) -> int:
    """Bytes of a target; a file that cannot be sized counts as big (it goes alone)."""
    if isinstance(content, bytes):
        return len(content)
    try:
        return content.stat().st_size
    except OSError:
        return 1 << 62


def _ready() -> bool:
    return True


def _succeeded(future: Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


# The scan is imported where it runs: the workers have it already (``PRELOAD``),
# and a command starts them before it imports the scan itself.


def _scan_job(label: str, name: str, content: bytes | Path, options: dict[str, Any]) -> ScanResult:
    from sekimori.mail.scan import scan_target

    return scan_target(label, name, content, **options)


def _scan_batch(
    batch: list[tuple[str, str, bytes | Path]], options: dict[str, Any]
) -> list[ScanResult]:
    from sekimori.mail.scan import scan_target

    results = []
    for label, name, content in batch:
        _renew_cpu_budget()
        results.append(scan_target(label, name, content, **options))
    return results
