"""The ``Store``: findings, incidents and ingest reports, on SQLite or PostgreSQL.

Writes are idempotent so that at-least-once delivery has an exactly-once
effect (DESIGN.md, "Nothing is lost"): a finding is keyed by its content id
and saved once however often it arrives; an incident is upserted by id and
keeps the analyst's ``status`` across re-correlation.

Reads return the public JSON documents (``docs/output.md``) with the store's
own fields (``incident.status``, ``incident.updated_at``) added.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from sekimori.errors import StoreError
from sekimori.model import Finding, Incident, Severity, iso
from sekimori.sources.base import ReadReport
from sekimori.store import migrate
from sekimori.store.location import default_db_url
from sekimori.store.schema import STATUSES, findings, incidents, ingested_files

log = logging.getLogger(__name__)

# Rows per statement when linking findings to incidents (bound-parameter limits).
_CHUNK = 500
DEFAULT_LIMIT = 200
SUPPORTED_DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """One incident document and the documents of its findings, oldest first."""

    incident: dict[str, Any]
    findings: list[dict[str, Any]]


def _column_text(value: str) -> str:
    """Text safe for an indexed column on every backend (the ``doc`` keeps the original).

    PostgreSQL text cannot hold NUL, and no driver can encode lone surrogates.
    """
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _chunks(values: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _json_dumps(value: Any) -> str:
    # ASCII escapes keep lone surrogates and NUL storable on every backend.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def create_store_engine(url: str | URL) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and its folder created."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}", where="database URL") from exc
    dialect = parsed.get_backend_name()
    where = parsed.render_as_string(hide_password=True)
    if dialect not in SUPPORTED_DIALECTS:
        raise StoreError(
            f"unsupported database {dialect!r}; use sqlite:/// or postgresql+psycopg://",
            where=where,
        )
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps}
    if dialect == "sqlite":
        database = parsed.database
        kwargs["connect_args"] = {"check_same_thread": False}
        if not database or database == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the data folder: {exc}", where=where) from exc
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use this database: {exc}", where=where) from exc
    if dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """Findings, incidents and ingest reports in one SQL database.

    Open with ``Store.open(url)`` (migrates to the newest schema), close with
    ``close()`` or use as a context manager. Safe to share between threads:
    every call takes its own connection from the engine's pool.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._where = engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str | URL | None = None) -> Store:
        """Open the database at ``url`` (``default_db_url()`` when None), migrated to head."""
        engine = create_store_engine(url if url is not None else default_db_url())
        where = engine.url.render_as_string(hide_password=True)
        try:
            migrate.upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open or migrate the store: {exc}", where=where) from exc
        log.info("store open at %s", where)
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._where

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations and tests)."""
        return self._engine

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("store at %s does not answer: %s", self._where, exc)
            return False
        return True

    # writes

    def _insert(self, table: sa.Table) -> Any:
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """A transaction; database failures become ``StoreError``."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write {what}: {exc}", where=self._where) from exc

    def save_findings(self, items: Iterable[Finding]) -> None:
        """Save findings; a finding already stored (same id) is kept as it is."""
        now = _now()
        rows: dict[str, dict[str, Any]] = {}
        for f in items:
            stage = f.kill_chain_stage
            fid = f.id
            rows[fid] = {
                "id": fid,
                "tenant": _column_text(f.tenant),
                "host_name": _column_text(f.host_name),
                "timestamp": f.timestamp,
                "rule_id": _column_text(f.rule_id),
                "rule_name": _column_text(f.rule_name),
                "ruleset": _column_text(f.ruleset),
                "severity": f.severity.value,
                "severity_rank": f.severity.rank,
                "stage": stage.value if stage else None,
                "incident_id": None,
                "doc": f.to_json(),
                "stored_at": now,
            }
        if not rows:
            return
        stmt = self._insert(findings).on_conflict_do_nothing(index_elements=["id"])
        with self._write("findings") as conn:
            conn.execute(stmt, list(rows.values()))

    def upsert_incidents(self, items: Iterable[Incident]) -> None:
        """Insert or replace incidents by id, keep their status, link their findings."""
        now = _now()
        rows: dict[str, dict[str, Any]] = {}
        links: dict[str, tuple[str, ...]] = {}
        for inc in items:
            key = _column_text(inc.id)
            rows[key] = {
                "id": key,
                "tenant": _column_text(inc.tenant),
                "host_name": _column_text(inc.host_name),
                "severity": inc.severity.value,
                "severity_rank": inc.severity.rank,
                "score": float(inc.score),
                "first_seen": inc.first_seen,
                "last_seen": inc.last_seen,
                "summary": _column_text(inc.summary),
                "finding_count": inc.finding_count,
                "doc": inc.to_json(),
                "updated_at": now,
            }
            links[key] = inc.finding_ids
        if not rows:
            return
        stmt = self._insert(incidents)
        updated = {name: stmt.excluded[name] for name in next(iter(rows.values())) if name != "id"}
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=updated)
        with self._write("incidents") as conn:
            conn.execute(stmt, list(rows.values()))
            for incident_id, finding_ids in links.items():
                for chunk in _chunks(finding_ids):
                    conn.execute(
                        findings.update()
                        .where(findings.c.id.in_(chunk))
                        .values(incident_id=incident_id)
                    )

    def set_status(self, incident_id: str, status: str) -> bool:
        """Set an incident's workflow status; False when there is no such incident."""
        if status not in STATUSES:
            raise StoreError(
                f"unknown status {status!r}; one of {', '.join(STATUSES)}", where=incident_id
            )
        with self._write("incident status") as conn:
            result = conn.execute(
                incidents.update()
                .where(incidents.c.id == _column_text(incident_id))
                .values(status=status, updated_at=_now())
            )
        return bool(result.rowcount)

    def record_file(
        self, report: ReadReport, *, run_id: str | None = None, tenant: str = "default"
    ) -> int:
        """Keep what happened to one input file (events, skipped records, error); return its id."""
        row = {
            "run_id": run_id,
            "tenant": _column_text(tenant),
            "path": _column_text(report.path),
            "source": _column_text(report.source),
            "events": report.events,
            "skipped": report.skipped,
            "error": _column_text(report.error) if report.error is not None else None,
            "detail": {
                "path": report.path,
                "error": report.error,
                "problems": list(report.problems),
            },
            "ingested_at": _now(),
        }
        with self._write("ingest report") as conn:
            result = conn.execute(ingested_files.insert().values(**row))
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    # reads

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading; database failures become ``StoreError``."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store: {exc}", where=self._where) from exc

    def list_incidents(
        self,
        tenant: str | None = None,
        min_severity: Severity | str | None = None,
        limit: int = DEFAULT_LIMIT,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Incident documents, most severe first, then highest score, then most recent."""
        query = sa.select(incidents.c.id, incidents.c.status, incidents.c.updated_at)
        query = query.add_columns(incidents.c.doc)
        if tenant is not None:
            query = query.where(incidents.c.tenant == _column_text(tenant))
        if min_severity is not None:
            rank = Severity(min_severity).rank
            query = query.where(incidents.c.severity_rank >= rank)
        if status is not None:
            query = query.where(incidents.c.status == status)
        query = query.order_by(
            incidents.c.severity_rank.desc(),
            incidents.c.score.desc(),
            incidents.c.last_seen.desc(),
            incidents.c.id,
        ).limit(max(0, limit))
        with self._read() as conn:
            return [_incident_doc(row) for row in conn.execute(query)]

    def get_incident(self, incident_id: str) -> IncidentDetail | None:
        """One incident with its findings (oldest first), or None."""
        query = sa.select(
            incidents.c.id, incidents.c.status, incidents.c.updated_at, incidents.c.doc
        ).where(incidents.c.id == _column_text(incident_id))
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            doc = _incident_doc(row)
            found: dict[str, tuple[datetime, dict[str, Any]]] = {}
            linked = sa.select(findings.c.id, findings.c.timestamp, findings.c.doc).where(
                findings.c.incident_id == row.id
            )
            for f in conn.execute(linked):
                found[f.id] = (f.timestamp, f.doc)
            # Findings saved after their incident are not linked yet; the document lists them.
            listed = [i for i in doc.get("findings", []) if i not in found]
            for chunk in _chunks(listed):
                by_id = sa.select(findings.c.id, findings.c.timestamp, findings.c.doc).where(
                    findings.c.id.in_(chunk)
                )
                for f in conn.execute(by_id):
                    found[f.id] = (f.timestamp, f.doc)
        ordered = sorted(found.items(), key=lambda item: (item[1][0], item[0]))
        return IncidentDetail(incident=doc, findings=[d for _, (_, d) in ordered])

    def findings_for(self, tenant: str, host_name: str) -> list[Finding]:
        """Every stored finding of one tenant + host, oldest first."""
        query = (
            sa.select(findings.c.doc)
            .where(
                findings.c.tenant == _column_text(tenant),
                findings.c.host_name == _column_text(host_name),
            )
            .order_by(findings.c.timestamp, findings.c.id)
        )
        with self._read() as conn:
            return [Finding.from_json(row.doc) for row in conn.execute(query)]

    def count_findings(self, tenant: str | None = None) -> int:
        """How many findings are stored (for one tenant, or all)."""
        query = sa.select(sa.func.count()).select_from(findings)
        if tenant is not None:
            query = query.where(findings.c.tenant == _column_text(tenant))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def list_files(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Ingest reports, oldest first (of one run, or all)."""
        query = sa.select(ingested_files).order_by(ingested_files.c.id)
        if run_id is not None:
            query = query.where(ingested_files.c.run_id == run_id)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            detail = item.pop("detail")
            # The path and error as they were, even where the column had to be cleaned.
            item["path"] = detail.get("path", row["path"])
            item["error"] = detail.get("error", row["error"])
            item["problems"] = list(detail.get("problems", []))
            item["ingested_at"] = iso(row["ingested_at"])
            out.append(item)
        return out


def _incident_doc(row: Any) -> dict[str, Any]:
    doc = dict(row.doc)
    doc["incident"] = {
        "id": row.id,
        **doc.get("incident", {}),
        "status": row.status,
        "updated_at": iso(row.updated_at),
    }
    return doc
