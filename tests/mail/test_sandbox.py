from __future__ import annotations

import time

import pytest

from sekimori.mail.result import Verdict
from sekimori.mail.sandbox import Sandbox, SandboxLimits
from tests.conftest import shared_path
from tests.mail import hostile
from tests.mail.helpers import mail


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxLimits(memory_mb=512, cpu_seconds=1, timeout=2.0, workers=2)) as box:
        yield box


def test_jobs_run_in_order(sandbox: Sandbox) -> None:
    outcomes = list(sandbox.call_many(hostile.echo, [(i,) for i in range(6)]))
    assert [o.value for o in outcomes] == list(range(6))


def test_a_long_job_does_not_hold_the_other_worker_back(sandbox: Sandbox) -> None:
    # Results come in job order, but the other worker takes the jobs after the long one meanwhile.
    outcomes = list(sandbox.call_many(hostile.stamp, [(1.0,)] + [(0.05,)] * 12))
    ended = [o.value for o in outcomes]
    assert max(ended[1:]) < ended[0]


def test_hung_worker_is_a_timeout_and_the_pool_recovers(sandbox: Sandbox) -> None:
    before = sandbox.rebuilds
    outcomes = list(sandbox.call_many(hostile.hang, [(30,)]))
    assert outcomes[0].failure == "timeout"
    assert sandbox.rebuilds == before + 1
    assert sandbox.call(hostile.echo, 7).value == 7


def test_crash_and_cpu_limit(sandbox: Sandbox) -> None:
    assert sandbox.call(hostile.crash).failure == "crash"
    assert sandbox.call(hostile.spin).failure in ("crash", "timeout")
    assert sandbox.call(hostile.echo, 1).value == 1


def test_memory_limit(sandbox: Sandbox) -> None:
    assert sandbox.call(hostile.allocate, 2048).failure == "crash"
    assert sandbox.call(hostile.allocate, 16).value == 16 * 1024 * 1024


def test_no_network_in_workers(sandbox: Sandbox) -> None:
    assert "disabled" in sandbox.call(hostile.connect).value


def test_bystanders_survive_a_crash(sandbox: Sandbox) -> None:
    jobs = [("echo", 1), ("echo", 2), ("crash", 0), ("echo", 4), ("echo", 5)]
    outcomes = list(sandbox.call_many(hostile.dispatch, jobs))
    assert [o.value for o in outcomes if o.failure is None] == [1, 2, 4, 5]
    assert outcomes[2].failure == "crash"


def test_scans_in_workers(sandbox: Sandbox) -> None:
    invoice = shared_path("office", "synthetic", "synthetic_eml", "jp_2020_pwzip_invoice.eml")
    targets = [
        ("a.eml", "a.eml", mail("hello")),
        (str(invoice), invoice.name, invoice),
    ]
    results = list(sandbox.scan_many(targets))
    assert [r.verdict for r in results] == [Verdict.CLEAN, Verdict.MALICIOUS]


def test_cpu_limit_is_per_job_not_per_worker(sandbox: Sandbox) -> None:
    # Four jobs of 0.6 s on two workers: each worker spends more than its 1 s in all.
    outcomes = list(sandbox.call_many(hostile.burn, [(0.6,)] * 4))
    assert all(o.failure is None for o in outcomes)
    assert max(o.value for o in outcomes) > 1.0


def test_small_targets_go_in_batches() -> None:
    box = Sandbox(SandboxLimits(batch=3, batch_bytes=100, batch_item_bytes=60))
    sizes = [10, 10, 10, 10, 70, 50, 50, 10]
    targets = [(str(i), "m.eml", b"x" * n) for i, n in enumerate(sizes)]
    batches = [[t[0] for t in b] for b in box._batches(targets)]
    assert batches == [["0", "1", "2"], ["3"], ["4"], ["5", "6"], ["7"]]


def test_a_failing_batch_costs_only_its_own_target(sandbox: Sandbox, tmp_path) -> None:
    import os

    stuck = tmp_path / "stuck.eml"
    os.mkfifo(stuck)  # opening it for reading waits for a writer that never comes
    targets = [
        ("a.eml", "a.eml", mail("hello")),
        (str(stuck), stuck.name, stuck),
        ("b.eml", "b.eml", mail("again")),
    ]
    results = list(sandbox.scan_many(targets))
    assert [r.file for r in results] == ["a.eml", str(stuck), "b.eml"]
    assert [r.verdict for r in results] == [Verdict.CLEAN, Verdict.UNSCANNABLE, Verdict.CLEAN]
    assert results[1].reasons[0].id == "scan.timeout"


def test_start_brings_every_worker_up_before_the_first_job() -> None:
    with Sandbox(SandboxLimits(workers=2, timeout=5.0)) as box:
        assert box.start()
        assert box.call(hostile.echo, 3).value == 3


def test_warm_starts_the_workers_without_waiting() -> None:
    with Sandbox(SandboxLimits(workers=2, timeout=5.0)) as box:
        box.warm()  # returns at once: the workers start in a thread of the sandbox
        deadline = time.monotonic() + 60
        while box._pool is None or len(box._pool._processes) < 2:
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.01)
        pool = box._pool
        assert box.call(hostile.echo, 3).value == 3
        assert box._pool is pool  # the warmed pool does the work, not a new one
