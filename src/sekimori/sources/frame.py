"""Polars helpers every source uses to shape a normalized batch.

A normalized batch has flat dotted column names, the ``REQUIRED_COLUMNS`` of
``sekimori.model`` with their dtypes, and no struct columns. These helpers
flatten nested JSON, parse the timestamp spellings seen in the wild, and add
the required columns last so that every source ends the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence

import polars as pl

from sekimori.model import (
    EVENT_DATASET,
    EVENT_ID,
    HOST_NAME,
    LOG_FILE_PATH,
    REQUIRED_COLUMNS,
    TENANT,
    TIMESTAMP,
    EventBatch,
    shown_path,
)
from sekimori.sources.base import ReadContext

# Every batch's @timestamp: UTC, microseconds.
TIMESTAMP_DTYPE = pl.Datetime("us", "UTC")

UNKNOWN_HOST = "unknown"

# ISO 8601 spellings: offset, "Z", naive (taken as UTC), space instead of "T".
_ISO_FORMATS_AWARE = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_ISO_FORMATS_NAIVE = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)


# A UTF-16 surrogate code point: in a Python text, a lone one (a pair decodes to one character).
_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    r"""``text`` with each lone surrogate replaced by U+FFFD, the text polars can hold.

    The JSON decoder keeps a lone surrogate escape (``"\ud800"``) as is, and
    polars cannot encode it to UTF-8; U+FFFD is what bad UTF-8 bytes become
    elsewhere in the readers (``bytes.decode(errors="replace")``).
    """
    return _SURROGATE.sub("\ufffd", text)


def iso_to_datetime(expr: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 strings (with offset, ``Z`` or naive UTC) into UTC datetimes.

    Values that match no spelling become null; callers decide whether a row
    without a time is kept.
    """
    text = expr.cast(pl.String).str.strip_chars().str.replace(r" UTC$", "")
    aware = [
        text.str.to_datetime(f, time_unit="us", strict=False).dt.convert_time_zone("UTC")
        for f in _ISO_FORMATS_AWARE
    ]
    naive = [
        text.str.to_datetime(f, time_unit="us", strict=False).dt.replace_time_zone("UTC")
        for f in _ISO_FORMATS_NAIVE
    ]
    return pl.coalesce([*aware, *naive]).cast(TIMESTAMP_DTYPE)


# The spelling of evtx TimeCreated and of most shippers: UTC with a "Z".
_ISO_UTC_Z = "%Y-%m-%dT%H:%M:%S%.fZ"


def iso_text_to_datetime(text: pl.Series) -> pl.Series:
    """``iso_to_datetime`` of a text column, read in one pass when every value ends in "Z".

    A column of one logger has one spelling; trying it alone spares the other
    seven formats a pass over every value. The instants are the same: a
    value ending in "Z" matches none of the formats with an offset, tried
    first by ``iso_to_datetime``. Any other column is read by the full list.
    """
    if text.dtype == pl.String:
        # time_zone on a naive format: replace_time_zone("UTC") in the same pass
        utc = text.str.to_datetime(_ISO_UTC_Z, time_unit="us", time_zone="UTC", strict=False)
        if utc.null_count() == text.null_count():
            return utc
    return text.to_frame().select(iso_to_datetime(pl.col(text.name))).to_series()


def epoch_to_datetime(expr: pl.Expr) -> pl.Expr:
    """Seconds since the epoch (float or int, or their text) as UTC datetimes."""
    micros = (expr.cast(pl.Float64, strict=False) * 1_000_000).round(0).cast(pl.Int64, strict=False)
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def any_to_datetime(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A timestamp column of any dtype as UTC datetimes: epoch numbers or ISO text."""
    if dtype.is_numeric():
        return epoch_to_datetime(expr)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return expr.dt.replace_time_zone("UTC").cast(TIMESTAMP_DTYPE)
        return expr.dt.convert_time_zone("UTC").cast(TIMESTAMP_DTYPE)
    text = expr.cast(pl.String)
    numeric = text.str.contains(r"^\s*\d+(\.\d+)?\s*$")
    return (
        pl.when(numeric)
        .then(epoch_to_datetime(text.str.strip_chars()))
        .otherwise(iso_to_datetime(text))
        .cast(TIMESTAMP_DTYPE)
    )


def flatten(frame: pl.DataFrame, sep: str = ".") -> pl.DataFrame:
    """Unnest struct columns recursively into dotted names; lists of structs as JSON text.

    Empty structs (``{}`` in every row) are dropped: they carry nothing.
    """
    while True:
        structs = [n for n, t in frame.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        exprs: list[pl.Expr] = []
        for name in structs:
            dtype = frame.schema[name]
            assert isinstance(dtype, pl.Struct)
            for fld in dtype.fields:
                exprs.append(pl.col(name).struct.field(fld.name).alias(f"{name}{sep}{fld.name}"))
        frame = frame.with_columns(exprs).drop(structs)
    odd_lists = [n for n, t in frame.schema.items() if isinstance(t, pl.List) and _nested(t)]
    if odd_lists:
        frame = frame.with_columns(
            pl.col(n).map_elements(_json_cell, return_dtype=pl.List(pl.String)).alias(n)
            for n in odd_lists
        )
    null_lists = [n for n, t in frame.schema.items() if t == pl.List(pl.Null)]
    if null_lists:
        frame = frame.with_columns(pl.col(n).cast(pl.List(pl.String)) for n in null_lists)
    return frame


def _nested(dtype: pl.List) -> bool:
    """True for lists whose items are structs or lists: kept as JSON text items."""
    return isinstance(dtype.inner, pl.Struct | pl.List | pl.Array)


def _json_cell(value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, pl.Series):
        value = value.to_list()
    if not isinstance(value, list):
        return [json.dumps(value, ensure_ascii=False, default=str)]
    return [json.dumps(v, ensure_ascii=False, default=str) for v in value]


def null_if_blank(expr: pl.Expr, blanks: Sequence[str] = ("", "-")) -> pl.Expr:
    """Text with the placeholders Windows and Zeek use for "nothing" turned into null."""
    text = expr.cast(pl.String)
    return pl.when(text.is_in(list(blanks))).then(None).otherwise(text)


def coalesce_columns(frame: pl.DataFrame, names: Sequence[str]) -> pl.Expr | None:
    """The first non-blank of the named columns that exist, or None if none exists."""
    schema = frame.schema
    present = [
        null_if_blank(pl.col(n)) if schema[n] == pl.String else pl.col(n)
        for n in names
        if n in schema
    ]
    if not present:
        return None
    return pl.coalesce(present) if len(present) > 1 else present[0]


def add_mapped(frame: pl.DataFrame, mapping: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """Add each target column as the first non-blank of its source columns.

    A target column that is already present and non-null wins (a shipper that
    already did the mapping is trusted).
    """
    exprs: list[pl.Expr] = []
    for target, sources in mapping.items():
        names = [target, *sources] if target in frame.columns else list(sources)
        expr = coalesce_columns(frame, names)
        if expr is not None:
            exprs.append(expr.alias(target))
    return frame.with_columns(exprs) if exprs else frame


def finish(
    frame: pl.DataFrame,
    *,
    dataset: str,
    ctx: ReadContext,
    path: str,
) -> EventBatch:
    """Add tenant, dataset and file path, fill the required columns, order them first.

    ``frame`` must already have ``@timestamp``; ``host.name`` and ``event.id``
    fall back to ``unknown`` and the row number when a source cannot name them.
    """
    columns = set(frame.columns)
    exprs: list[pl.Expr] = [
        pl.lit(ctx.tenant, dtype=pl.String).alias(TENANT),
        pl.lit(dataset, dtype=pl.String).alias(EVENT_DATASET),
        pl.lit(shown_path(path), dtype=pl.String).alias(LOG_FILE_PATH),
    ]
    # A query costs more than the whole work on a small batch (one .evtx file
    # often has a few dozen events): no expression for a column already right.
    if HOST_NAME not in columns:
        exprs.append(pl.lit(UNKNOWN_HOST, dtype=pl.String).alias(HOST_NAME))
    elif not _is_full_text(frame.get_column(HOST_NAME)):
        exprs.append(pl.col(HOST_NAME).cast(pl.String).fill_null(UNKNOWN_HOST))
    if EVENT_ID not in columns:
        exprs.append(pl.int_range(pl.len()).cast(pl.String).alias(EVENT_ID))
    elif not _is_full_text(frame.get_column(EVENT_ID)):
        row = pl.int_range(pl.len()).cast(pl.String)
        exprs.append(pl.col(EVENT_ID).cast(pl.String).fill_null(row))
    if TIMESTAMP not in columns:
        exprs.append(pl.lit(None, dtype=TIMESTAMP_DTYPE).alias(TIMESTAMP))
    frame = conform(frame.with_columns(exprs))
    rest = [c for c in frame.columns if c not in REQUIRED_COLUMNS]
    frame = frame[[*REQUIRED_COLUMNS, *rest]]  # by name: select() plans a query
    if frame.get_column(TIMESTAMP).dtype != TIMESTAMP_DTYPE:
        frame = frame.with_columns(pl.col(TIMESTAMP).cast(TIMESTAMP_DTYPE))
    return EventBatch(dataset=dataset, frame=frame, path=path)


def _is_full_text(column: pl.Series) -> bool:
    """A text column without nulls: nothing to cast or fill."""
    return column.dtype == pl.String and not column.null_count()


# The dtype of the shared ECS columns, whatever the source: detectors can rely on it
# even when a batch happens to hold only nulls in a column.
ECS_DTYPES: Mapping[str, pl.DataType] = {
    **dict.fromkeys(
        (
            "source.ip", "destination.ip", "source.domain", "destination.domain",
            "network.transport", "network.protocol", "user.name", "user.domain",
            "process.executable", "process.name", "process.command_line",
            "process.parent.executable", "process.parent.command_line", "file.path",
            "file.name", "registry.path", "dns.question.name", "url.domain",
            "url.original", "http.request.method", "user_agent.original",
            "tls.server.name", "rule.id", "rule.name", "email.from.address",
            "email.subject", "event.code", "event.kind", "message",
        ),
        pl.String(),
    ),
    **dict.fromkeys(
        (
            "source.port", "destination.port", "process.pid", "process.parent.pid",
            "http.response.status_code", "file.size", "event.severity",
        ),
        pl.Int64(),
    ),
    "email.to.address": pl.List(pl.String()),
}  # fmt: skip


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast the shared ECS columns present in ``frame`` to their ``ECS_DTYPES``."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        want = ECS_DTYPES.get(name)
        if want is None or dtype == want:
            continue
        column = pl.col(name)
        if isinstance(want, pl.List):
            if isinstance(dtype, pl.List):
                exprs.append(column.cast(want, strict=False))
            else:
                text = column.cast(pl.String)
                exprs.append(
                    pl.when(text.is_null()).then(None).otherwise(pl.concat_list(text)).alias(name)
                )
        elif isinstance(dtype, pl.List):
            exprs.append(column.list.join(",").cast(want, strict=False))
        else:
            exprs.append(column.cast(want, strict=False))
    return frame.with_columns(exprs) if exprs else frame


def slices(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    """``frame`` in consecutive slices of at most ``size`` rows (none when empty)."""
    size = max(1, size)
    for offset in range(0, frame.height, size):
        yield frame.slice(offset, size)


def empty_frame() -> pl.DataFrame:
    """A frame with only the required columns and no rows."""
    return pl.DataFrame(
        {
            TIMESTAMP: pl.Series([], dtype=TIMESTAMP_DTYPE),
            TENANT: pl.Series([], dtype=pl.String),
            HOST_NAME: pl.Series([], dtype=pl.String),
            EVENT_ID: pl.Series([], dtype=pl.String),
            EVENT_DATASET: pl.Series([], dtype=pl.String),
            LOG_FILE_PATH: pl.Series([], dtype=pl.String),
        }
    )
