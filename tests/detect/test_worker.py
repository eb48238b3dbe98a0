"""A detector in a worker process finds what it finds in the hunt's own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from sekimori.detect.base import Detector, FindingBuilder
from sekimori.detect.runner import DetectorRun, Run, run_all
from sekimori.detect.worker import WorkerRun
from sekimori.errors import RuleError
from sekimori.model import EventBatch, Finding, Severity

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class CountingDetector(Detector):
    """One finding per row whose host is ``host``; at the end, one with the rows seen.

    Its state lives across batches, as a real detector's does, so the end-of-run
    finding tells whether every batch reached the same state, in order.
    """

    name: ClassVar[str] = "counting"
    datasets: ClassVar[frozenset[str] | None] = frozenset({"windows"})

    def __init__(self, host: str, fail_on: str | None = None) -> None:
        self.host = host
        self.fail_on = fail_on

    def new_state(self) -> Any:
        return {"rows": 0, "order": []}

    def notes(self) -> list[str]:
        return [f"counting {self.host}"]

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        if batch.path == self.fail_on:
            raise ValueError(f"cannot read {batch.path}")
        state["rows"] += batch.frame.height
        state["order"].append(batch.path)
        rows = batch.frame.filter(pl.col("host.name") == self.host).rows(named=True)
        return [_finding(row["@timestamp"], row["host.name"], str(row["event.id"])) for row in rows]

    def finish(self, state: Any) -> list[Finding]:
        order = ",".join(str(p) for p in state["order"])
        return [_finding(START, "summary", f"{state['rows']}:{order}")]


class SplitDetector(CountingDetector):
    """A ``CountingDetector`` whose worker sends the matched rows; the hunt builds the findings.

    Its builder keeps state of its own (how many batches it built), as the
    Sigma engine's keeps the correlation state: in a worker run the
    worker's copy of that state stays empty.
    """

    name: ClassVar[str] = "split"

    def new_state(self) -> Any:
        return {**super().new_state(), "built": 0}

    def matches(self, batch: EventBatch, state: Any) -> Any:
        state["rows"] += batch.frame.height
        state["order"].append(batch.path)
        return batch.path, batch.frame.filter(pl.col("host.name") == self.host).rows(named=True)

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        return _Builder(self.host, state)(self.matches(batch, state))

    def finish(self, state: Any) -> list[Finding]:
        return [*super().finish(state), *_Builder(self.host, state).finish()]

    def builder_seed(self) -> Any:
        return self.host

    @classmethod
    def builder(cls, seed: Any = None) -> FindingBuilder:
        return _Builder(seed, {"built": 0})


class _Builder:
    def __init__(self, seed: Any, state: dict[str, Any]) -> None:
        self.seed = seed
        self.state = state

    def __call__(self, part: Any) -> list[Finding]:
        path, rows = part
        if path == "part-2.json":
            raise KeyError("no such rule card")
        self.state["built"] += 1
        return [_finding(r["@timestamp"], r["host.name"], str(r["event.id"])) for r in rows]

    def finish(self) -> list[Finding]:
        built = self.state["built"]
        return [_finding(START, "builder", f"{self.seed} built {built}")] if built else []


def _finding(ts: datetime, host: str, event_id: str) -> Finding:
    return Finding(
        timestamp=ts,
        host_name=host,
        rule_id="counting",
        rule_name="Counting",
        ruleset="test",
        severity=Severity.LOW,
        event_id=event_id,
    )


def _unbuildable() -> Detector:
    raise RuleError("no such rule file or folder", where="/nowhere/rules")


def _batches(count: int, rows: int) -> list[EventBatch]:
    out = []
    for n in range(count):
        frame = pl.DataFrame(
            {
                "@timestamp": [START + timedelta(seconds=n * rows + i) for i in range(rows)],
                "host.name": [f"WS-{(n + i) % 3:02d}" for i in range(rows)],
                "event.id": [str(n * rows + i) for i in range(rows)],
            }
        )
        out.append(EventBatch("windows", frame, path=f"part-{n}.json"))
    return out


def _run(run: Run, batches: list[EventBatch]) -> list[Finding]:
    found: list[Finding] = []
    try:
        for batch in batches:
            found += run_all([run], batch)
        found += run.finish()
    finally:
        run.close()
    return found


def _run_killed_after_first(worker: WorkerRun, batches: list[EventBatch]) -> list[Finding]:
    """A run whose worker is killed once it is ready and has the first batch."""
    found = run_all([worker], batches[0])
    worker.wait_ready()
    worker.process.kill()
    for batch in batches[1:]:
        found += run_all([worker], batch)
    found += worker.finish()
    return found


def test_the_worker_finds_what_the_process_finds_in_the_same_order() -> None:
    batches = [*_batches(7, 50), EventBatch("zeek.conn", _batches(1, 5)[0].frame)]
    here = _run(DetectorRun.start(CountingDetector("WS-01")), batches)
    # Rows in flight bounded at 120: the hunt waits for the worker now and then.
    worker = WorkerRun.start(
        partial(CountingDetector, "WS-01"), CountingDetector.name, CountingDetector.datasets, 120
    )
    there = _run(worker, batches)
    assert [f.id for f in there] == [f.id for f in here]
    assert there[-1].event_id == "350:" + ",".join(f"part-{n}.json" for n in range(7))
    assert worker.notes == ["counting WS-01"]
    assert (worker.batches, worker.findings, worker.errors) == (7, len(here), [])
    worker.process.join(30)
    assert worker.process.exitcode == 0  # it ends by itself once finished


def test_a_detector_error_in_the_worker_is_reported_as_in_the_process() -> None:
    batches = _batches(3, 10)
    recipe = partial(CountingDetector, "WS-01", fail_on="part-1.json")
    here_run = DetectorRun.start(recipe())
    here = _run(here_run, batches)
    worker = WorkerRun.start(recipe, CountingDetector.name, CountingDetector.datasets, 1000)
    there = _run(worker, batches)
    assert [f.id for f in there] == [f.id for f in here]
    assert worker.errors == here_run.errors
    assert "ValueError: cannot read part-1.json" in worker.errors[0]


def test_the_hunt_builds_the_findings_of_what_the_worker_matched() -> None:
    """``Detector.matches`` in the worker, ``Detector.builder`` here; a builder error is noted."""
    batches = _batches(4, 20)
    here_run = DetectorRun.start(SplitDetector("WS-02"))
    here = _run(here_run, batches)
    worker = WorkerRun.start(
        partial(SplitDetector, "WS-02"), SplitDetector.name, SplitDetector.datasets, 1000
    )
    there = _run(worker, batches)
    assert [f.id for f in there] == [f.id for f in here]
    assert there[-2].event_id == "80:" + ",".join(f"part-{n}.json" for n in range(4))
    assert there[-1].event_id == "WS-02 built 3"
    assert worker.findings == len(here)
    assert worker.errors == here_run.errors
    assert "KeyError: 'no such rule card'" in worker.errors[0]


def test_a_detector_that_cannot_be_built_raises_its_error_in_the_hunt() -> None:
    worker = WorkerRun.start(_unbuildable, CountingDetector.name, CountingDetector.datasets, 1000)
    with pytest.raises(RuleError) as caught:
        _run(worker, _batches(1, 3))
    assert str(caught.value) == "/nowhere/rules: no such rule file or folder"
    assert not worker.process.is_alive()


def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    worker = WorkerRun.start(
        partial(CountingDetector, "WS-01"), CountingDetector.name, CountingDetector.datasets, 10
    )
    batches = _batches(4, 10)
    found = _run_killed_after_first(worker, batches)
    assert len(worker.errors) == 1
    assert "worker process ended (exit code -9)" in worker.errors[0]
    assert not worker.process.is_alive()
    # What it had not answered was evaluated here: no WS-01 event is lost.
    here = _run(DetectorRun.start(CountingDetector("WS-01")), batches)
    events = {f.event_id for f in here if f.host_name == "WS-01"}
    assert {f.event_id for f in found if f.host_name == "WS-01"} == events
    assert "evaluated in this process instead" in worker.errors[0]


def test_a_stateless_detector_goes_on_exactly_after_its_worker_dies() -> None:
    """Sigma's way: the builder here keeps the state, so nothing differs, not even the end."""
    batches = _batches(5, 10)
    here_run = DetectorRun.start(SplitDetector("WS-02"))
    here = _run(here_run, batches)
    kind = SplitDetector
    worker = WorkerRun.start(partial(kind, "WS-02"), kind.name, kind.datasets, 10)
    found = _run_killed_after_first(worker, batches)
    built = [f for f in found if f.host_name != "summary"]
    assert [f.id for f in built] == [f.id for f in here if f.host_name != "summary"]
    assert any("worker process ended" in e for e in worker.errors)


def _only_elsewhere(parent: int) -> Detector:
    """A ``CountingDetector`` that cannot be built in the process ``parent``."""
    if os.getpid() == parent:
        raise RuleError("rules unreadable here", where="/rules")
    return CountingDetector("WS-01")


def test_a_dead_worker_whose_detector_cannot_be_built_here_says_what_was_lost() -> None:
    recipe = partial(_only_elsewhere, os.getpid())
    worker = WorkerRun.start(recipe, CountingDetector.name, CountingDetector.datasets, 10)
    _run_killed_after_first(worker, _batches(4, 10))
    (error,) = worker.errors
    assert error.startswith("counting: worker process ended (exit code -9); ")
    # Counted when it was found dead: the batches then sent or waiting.
    assert re.search(r"; [1-4] batch\(es\) not evaluated, nor the ones after$", error)


def test_a_worker_that_cannot_start_leaves_the_detector_to_the_process() -> None:
    batches = _batches(3, 10)
    here = _run(DetectorRun.start(CountingDetector("WS-01")), batches)
    worker = WorkerRun.start(
        partial(CountingDetector, "WS-01"), CountingDetector.name, CountingDetector.datasets, 10
    )
    worker.process.kill()
    there = _run(worker, batches)
    assert [f.id for f in there] == [f.id for f in here]
    assert (worker.batches, worker.errors, worker.notes) == (3, [], ["counting WS-01"])


def test_a_script_without_a_main_guard_gets_its_worker(tmp_path: Path) -> None:
    """spawn would run such a script again in the worker; the worker must not need it."""
    script = tmp_path / "hunt_script.py"
    script.write_text(
        "from functools import partial\n"
        "from sekimori.detect.worker import WorkerRun\n"
        "from tests.detect.test_worker import CountingDetector, _batches, _run\n"
        "kind = CountingDetector\n"
        "worker = WorkerRun.start(partial(kind, 'WS-01'), kind.name, kind.datasets, 100)\n"
        "found = _run(worker, _batches(2, 10))\n"
        "print(len(found), worker.rescue is None, worker.errors)\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8", "True", "[]"]
    assert "did not start" not in done.stderr
