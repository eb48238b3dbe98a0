"""The findings of a hunt, kept on disk so that memory does not grow with them.

A hunt over a month of logs can produce hundreds of thousands of findings;
correlation only needs per-host aggregates (``correlate.HostFindings``), and
the output is written one finding at a time. So the findings go to a
temporary SQLite file as they are found (deduplicated by ``finding.id``) and
are read back in time order, one at a time, as often as needed. The file is
removed when the log is closed or garbage-collected.

A finding is kept as its field values in ``marshal`` form (pickled when a
value is of a type marshal does not keep, such as a time in evidence): the
file is this process's own scratch file, and either keeps the object as it
was (its id included) at a fraction of the cost of its JSON form going out
and being parsed and checked coming back; marshal at a third of pickle's
cost going out and half coming back.
"""

from __future__ import annotations

import marshal
import operator
import os
import pickle
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sekimori.errors import StoreError
from sekimori.model import FINDING_FIELDS, Finding, Observable, Severity, Stage

_SCHEMA = """
CREATE TABLE findings (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    host TEXT NOT NULL,
    rule TEXT NOT NULL,
    ruleset TEXT NOT NULL,
    dataset TEXT,
    stage TEXT,
    severity INTEGER NOT NULL,
    doc BLOB NOT NULL,
    line BLOB
)
"""
_ORDER = "ORDER BY ts, host, rule, seq"


def _micros(finding: Finding) -> int:
    # Integer microseconds sort correctly where ISO text with and without
    # fractions would not ("…:00.5Z" < "…:00Z").
    ts = finding.timestamp
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


# A finding's state (``Finding.__getstate__``) holds every field, its id included:
# read back, the id is not computed again.
_TIME = FINDING_FIELDS.index("timestamp")
_SEVERITY = FINDING_FIELDS.index("severity")
_STAGE = FINDING_FIELDS.index("stage")
_OBSERVABLES = FINDING_FIELDS.index("observables")
_SEVERITIES = {s.value: s for s in Severity}
_STAGES = {s.value: s for s in Stage}
# The time zones a finding's time is kept in without pickling (polars gives
# ``ZoneInfo("UTC")``, the detectors ``datetime.UTC``), as days, seconds and
# microseconds from the epoch: datetime arithmetic, exact.
_ZONES = (ZoneInfo("UTC"), UTC)
_EPOCHS = tuple(datetime(1970, 1, 1, tzinfo=zone) for zone in _ZONES)
# What ``Finding.__getstate__`` and ``__setstate__`` do, without looking each
# name up again: every finding goes in once and is read back at least twice.
_STATE = operator.attrgetter(*FINDING_FIELDS)
_SETTERS = tuple(getattr(Finding, name).__set__ for name in FINDING_FIELDS)
_MARSHAL = b"m"
_PICKLE = b"p"


def _fields(finding: Finding) -> tuple[Any, ...] | None:
    """The slots of ``finding`` in plain types, or None when one is not of a kept type."""
    if type(finding) is not Finding:
        return None
    values = list(_STATE(finding))
    ts = values[_TIME]
    zone = ts.tzinfo
    if zone is _ZONES[0]:
        kept = 0
    elif zone is _ZONES[1]:
        kept = 1
    else:
        return None
    if ts.fold:
        return None
    since = ts - _EPOCHS[kept]
    values[_TIME] = (kept, since.days, since.seconds, since.microseconds)
    severity, stage = values[_SEVERITY], values[_STAGE]
    if type(severity) is not Severity or (stage is not None and type(stage) is not Stage):
        return None
    values[_SEVERITY] = severity.value
    values[_STAGE] = None if stage is None else stage.value
    observables = values[_OBSERVABLES]
    if observables:
        if type(observables) is not tuple or any(type(o) is not Observable for o in observables):
            return None
        values[_OBSERVABLES] = tuple([(o.type, o.value) for o in observables])
    elif type(observables) is not tuple:
        return None
    return tuple(values)


def _dump(finding: Finding) -> bytes:
    values = _fields(finding)
    if values is not None:
        try:
            return _MARSHAL + marshal.dumps(values)
        except ValueError:  # a value marshal does not keep exactly (a datetime, a subclass)
            pass
    return _PICKLE + pickle.dumps(finding, protocol=pickle.HIGHEST_PROTOCOL)


def _load(blob: bytes) -> Finding:
    body = memoryview(blob)[1:]
    if blob[:1] == _PICKLE:
        finding: Finding = pickle.loads(body)  # noqa: S301 - our own scratch file
        return finding
    state = list(marshal.loads(body))  # noqa: S302 - our own scratch file
    kept, days, seconds, micros = state[_TIME]
    state[_TIME] = _EPOCHS[kept] + timedelta(days, seconds, micros)
    state[_SEVERITY] = _SEVERITIES[state[_SEVERITY]]
    stage = state[_STAGE]
    if stage is not None:
        state[_STAGE] = _STAGES[stage]
    observables = state[_OBSERVABLES]
    if observables:
        state[_OBSERVABLES] = tuple([Observable(t, v) for t, v in observables])
    new = object.__new__(Finding)
    for put, value in zip(_SETTERS, state, strict=True):
        put(new, value)
    return new


def _close(db: sqlite3.Connection, path: Path) -> None:
    db.close()
    path.unlink(missing_ok=True)


class FindingLog:
    """Findings on disk: ``extend`` while hunting, iterate (in time order) after.

    Iterating yields ``Finding`` objects ordered by time, host and rule. A
    finding whose id is already in the log is ignored, as the hunt's
    detectors may report the same detection twice.

    With ``render``, each finding's output line (``model.json_line``) is
    made as it comes in and kept beside it (``lines``): a hunt adds findings
    while it waits for its Sigma worker, and writes them out after
    correlation, when nothing else can run.
    """

    def __init__(
        self, directory: Path | None = None, render: Callable[[Finding], str] | None = None
    ) -> None:
        self.render = render
        try:
            fd, name = tempfile.mkstemp(prefix="sekimori-findings-", suffix=".db", dir=directory)
        except OSError as exc:
            raise StoreError(f"cannot create the findings log: {exc} (set TMPDIR)") from exc
        os.close(fd)
        self.path = Path(name)
        self._db = sqlite3.connect(name, check_same_thread=False)
        self._finalizer = weakref.finalize(self, _close, self._db, self.path)
        with self._guard():
            # A scratch file: nothing to recover after a crash, so no journal.
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            # SQLite's default page cache (2 MB): the file is read back from the
            # system's file cache anyway, and a bigger cache is memory that
            # fills as the findings come (16 MB: 5% of a hunt's peak).
            self._db.execute("PRAGMA cache_size=-2000")
            self._db.execute(_SCHEMA)
            # Read back in this order without sorting (a sort of every finding in memory).
            self._db.execute("CREATE INDEX findings_order ON findings (ts, host, rule, seq)")
        self._count = 0
        self._seq = 0

    @contextmanager
    def _guard(self) -> Iterator[None]:
        # A full disk or a removed file is a clear error, not a traceback.
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(
                f"findings log {self.path}: {exc} (is the disk full? set TMPDIR)"
            ) from exc

    def extend(self, findings: Iterable[Finding]) -> None:
        """Add findings; the ones already in the log (same id) are ignored."""
        render = self.render
        rows = []
        for f in findings:
            stage = f.kill_chain_stage
            self._seq += 1
            rows.append(
                (
                    f.id,
                    self._seq,
                    _micros(f),
                    f.host_name,
                    f.rule_id,
                    f.ruleset,
                    f.dataset,
                    stage.value if stage else None,
                    f.severity.rank,
                    _dump(f),
                    # As bytes: a text may hold lone surrogates (JSON input's
                    # "\udcff"), which SQLite's text would refuse.
                    render(f).encode("utf-8", "surrogatepass") if render else None,
                )
            )
        if rows:
            with self._guard(), self._db:
                cursor = self._db.executemany(
                    "INSERT OR IGNORE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            self._count += cursor.rowcount

    def replace(self, old_id: str, new: Finding) -> None:
        """Put ``new`` in the place of the finding ``old_id`` (its id may differ)."""
        with self._guard(), self._db:
            deleted = self._db.execute("DELETE FROM findings WHERE id = ?", (old_id,))
        self._count -= deleted.rowcount
        self.extend([new])

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Finding]:
        yield from self._read(f"SELECT doc FROM findings {_ORDER}")

    def where(self, condition: str, *params: object) -> Iterator[Finding]:
        """The findings matching an SQL ``condition`` on the columns of the log, in time order.

        Columns: ``rule`` (rule id), ``ruleset``, ``dataset``, ``stage`` (kill-chain stage value),
        ``severity`` (rank), ``host``, ``ts`` (microseconds since the epoch).
        """
        yield from self._read(f"SELECT doc FROM findings WHERE {condition} {_ORDER}", *params)

    def lines(
        self, render: Callable[[Finding], str], condition: str = "1", *params: object
    ) -> Iterator[tuple[str, str]]:
        """(id, output line) of the findings matching ``condition`` (as ``where``), in time order.

        The lines kept as the findings came in (``FindingLog(render=…)``);
        ``render`` makes those of the findings kept without one.
        """
        query = f"SELECT id, line, doc FROM findings WHERE {condition} {_ORDER}"
        with self._guard():
            for finding_id, line, blob in self._db.execute(query, params):
                if line is None:
                    yield finding_id, render(_load(blob))
                else:
                    yield finding_id, line.decode("utf-8", "surrogatepass")

    def _read(self, query: str, *params: object) -> Iterator[Finding]:
        with self._guard():
            for (blob,) in self._db.execute(query, params):
                yield _load(blob)

    def close(self) -> None:
        """Remove the file now (it is removed anyway when the log is collected)."""
        self._finalizer()

    def __enter__(self) -> FindingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["FindingLog"]
