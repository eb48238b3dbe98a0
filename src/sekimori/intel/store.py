"""The indicator store: one SQLite table (SQLAlchemy Core) in Sekimori's data folder.

``intel.sqlite`` lives in ``SEKIMORI_HOME`` when set, else in
``platformdirs.user_data_dir("sekimori")``. An indicator is identified by
(type, value, source): reading the same feed again updates last seen, expiry
and details instead of adding a row. Expired rows stay until ``purge``; the
readers of the store (``active``, exports) leave them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from sekimori.errors import IntelError
from sekimori.home import intel_store_path
from sekimori.intel.indicator import Indicator
from sekimori.intel.matcher import IntelIndex

_CHUNK = 5000

metadata = sa.MetaData()
indicators_table = sa.Table(
    "intel_indicators",
    metadata,
    sa.Column("type", sa.String(8), primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("first_seen", sa.DateTime(timezone=True)),
    sa.Column("last_seen", sa.DateTime(timezone=True)),
    sa.Column("malware", sa.String(200)),
    sa.Column("confidence", sa.Integer),
    sa.Column("expires", sa.DateTime(timezone=True), index=True),
    sa.Column("threat", sa.String(100)),
    sa.Column("port", sa.Integer),
    sa.Column("reference", sa.Text),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
)
_FIELDS = (
    "type",
    "value",
    "source",
    "first_seen",
    "last_seen",
    "malware",
    "confidence",
    "expires",
    "threat",
    "port",
    "reference",
)
_TIMES = ("first_seen", "last_seen", "expires")


def default_path() -> Path:
    """``intel.sqlite`` in ``SEKIMORI_HOME`` or the platform's user data folder."""
    return intel_store_path()


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes; everything stored is UTC
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(indicator: Indicator, now: datetime) -> dict[str, Any]:
    row = {name: getattr(indicator, name) for name in _FIELDS}
    row["updated"] = now
    return row


def _indicator(row: sa.Row[Any]) -> Indicator:
    values = dict(row._mapping)
    values.pop("updated", None)
    for name in _TIMES:
        values[name] = _aware(values[name])
    return Indicator(**values)


class IntelStore:
    """Indicators kept between runs (``sekimori intel update/import/list/search/export``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(f"sqlite:///{self.path.as_posix()}")
            metadata.create_all(self.engine)
        except (OSError, SQLAlchemyError) as exc:
            raise IntelError(
                f"cannot open the indicator store: {exc}", where=str(self.path)
            ) from exc

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def upsert(self, indicators: Iterable[Indicator], now: datetime | None = None) -> int:
        """Insert or refresh ``indicators``; returns how many were written."""
        stamp = now or datetime.now(UTC)
        rows = [_row(i, stamp) for i in indicators]
        table = indicators_table
        try:
            with self.engine.begin() as db:
                for start in range(0, len(rows), _CHUNK):
                    statement = sqlite_insert(table).values(rows[start : start + _CHUNK])
                    excluded = statement.excluded
                    statement = statement.on_conflict_do_update(
                        index_elements=["type", "value", "source"],
                        set_={
                            "first_seen": sa.func.coalesce(table.c.first_seen, excluded.first_seen),
                            "last_seen": sa.func.coalesce(excluded.last_seen, table.c.last_seen),
                            "malware": sa.func.coalesce(excluded.malware, table.c.malware),
                            "confidence": sa.func.coalesce(excluded.confidence, table.c.confidence),
                            "expires": excluded.expires,
                            "threat": sa.func.coalesce(excluded.threat, table.c.threat),
                            "port": sa.func.coalesce(excluded.port, table.c.port),
                            "reference": sa.func.coalesce(excluded.reference, table.c.reference),
                            "updated": excluded.updated,
                        },
                    )
                    db.execute(statement)
        except SQLAlchemyError as exc:
            raise IntelError(f"cannot write indicators: {exc}", where=str(self.path)) from exc
        return len(rows)

    def _select(self, query: sa.Select[Any]) -> Iterator[Indicator]:
        try:
            with self.engine.connect() as db:
                for row in db.execute(query):
                    yield _indicator(row)
        except SQLAlchemyError as exc:
            raise IntelError(f"cannot read indicators: {exc}", where=str(self.path)) from exc

    def active(self, now: datetime | None = None, source: str | None = None) -> list[Indicator]:
        """Indicators not expired at ``now`` (all when ``now`` is None), optionally of one feed."""
        table = indicators_table
        query = sa.select(table).order_by(table.c.type, table.c.value, table.c.source)
        if now is not None:
            query = query.where(sa.or_(table.c.expires.is_(None), table.c.expires > now))
        if source is not None:
            query = query.where(table.c.source == source)
        return list(self._select(query))

    def search(self, value: str, now: datetime | None = None) -> list[Indicator]:
        """Indicators matching ``value`` as an observable (CIDR, parent domain …) or by text."""
        index = IntelIndex.build(self.active(now))
        found = {i.key: i for i in index.lookup(value)}
        table = indicators_table
        needle = value.strip().lower()
        if needle:
            query = (
                sa.select(table).where(table.c.value.contains(needle, autoescape=True)).limit(200)
            )
            for indicator in self._select(query):
                if now is None or not indicator.expired(now):
                    found.setdefault(indicator.key, indicator)
        return sorted(found.values(), key=lambda i: (i.type, i.value, i.source))

    def counts(self, now: datetime) -> list[tuple[str, str, int, int]]:
        """Per feed and type: (source, type, active, expired)."""
        table = indicators_table
        expired = sa.and_(table.c.expires.is_not(None), table.c.expires <= now)
        query = (
            sa.select(
                table.c.source,
                table.c.type,
                sa.func.sum(sa.case((expired, 0), else_=1)),
                sa.func.sum(sa.case((expired, 1), else_=0)),
            )
            .group_by(table.c.source, table.c.type)
            .order_by(table.c.source, table.c.type)
        )
        try:
            with self.engine.connect() as db:
                return [(r[0], r[1], int(r[2]), int(r[3])) for r in db.execute(query)]
        except SQLAlchemyError as exc:
            raise IntelError(f"cannot read indicators: {exc}", where=str(self.path)) from exc

    def purge(self, now: datetime) -> int:
        """Delete indicators expired at ``now``; returns how many."""
        table = indicators_table
        try:
            with self.engine.begin() as db:
                result = db.execute(
                    sa.delete(table).where(table.c.expires.is_not(None), table.c.expires <= now)
                )
        except SQLAlchemyError as exc:
            raise IntelError(f"cannot purge indicators: {exc}", where=str(self.path)) from exc
        return int(result.rowcount or 0)
