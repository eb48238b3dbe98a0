from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from sekimori.model import REQUIRED_COLUMNS
from sekimori.sources.base import ReadContext
from sekimori.sources.frame import (
    any_to_datetime,
    finish,
    flatten,
    iso_text_to_datetime,
    iso_to_datetime,
)


def test_iso_spellings() -> None:
    values = [
        "2021-06-06T15:59:46.457984+0200",
        "2018-03-24T17:15:21.789543Z",
        "2020-08-26T05:09:33.3497103Z UTC",
        "2026-04-17 05:24:53.079",
        "2024-01-01T00:00:00+09:00",
        "nonsense",
    ]
    out = pl.select(iso_to_datetime(pl.lit(pl.Series(values)))).to_series().to_list()
    assert out[0] == datetime(2021, 6, 6, 13, 59, 46, 457984, tzinfo=UTC)
    assert out[1] == datetime(2018, 3, 24, 17, 15, 21, 789543, tzinfo=UTC)
    assert out[2] == datetime(2020, 8, 26, 5, 9, 33, 349710, tzinfo=UTC)
    assert out[3] == datetime(2026, 4, 17, 5, 24, 53, 79000, tzinfo=UTC)
    assert out[4] == datetime(2023, 12, 31, 15, 0, tzinfo=UTC)
    assert out[5] is None


def test_iso_text_column_gives_what_the_expression_gives() -> None:
    utc = ["2019-04-27T15:57:25.868863Z", " 2019-04-27T15:57:25Z", None, "2019-4-7T5:7:5.8Z"]
    other = [*utc, "2019-04-27T15:57:25.868863Z ", "2024-01-01T00:00:00+09:00", "x", ""]
    for values in (utc, other, [None]):
        column = pl.Series("t", values, dtype=pl.String)
        expected = column.to_frame().select(iso_to_datetime(pl.col("t"))).to_series()
        assert iso_text_to_datetime(column).equals(expected)


def test_epoch_text_and_numbers() -> None:
    frame = pl.DataFrame({"a": ["1715590800.5", "2024-05-13T09:00:00Z"], "b": [1715590800.5, 0.0]})
    out = frame.select(
        any_to_datetime(pl.col("a"), pl.String()).alias("a"),
        any_to_datetime(pl.col("b"), pl.Float64()).alias("b"),
    )
    assert out["a"].to_list() == [
        datetime(2024, 5, 13, 9, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 5, 13, 9, 0, tzinfo=UTC),
    ]
    assert out["b"].to_list()[0] == out["a"].to_list()[0]


def test_flatten_structs_and_lists_of_structs() -> None:
    frame = pl.DataFrame(
        {"a": [{"b": {"c": 1}, "d": "x"}], "l": [[{"k": 1}, {"k": 2}]], "e": [[]]},
        schema_overrides={"e": pl.List(pl.Null)},
    )
    flat = flatten(frame)
    assert flat.columns == ["l", "e", "a.d", "a.b.c"] or set(flat.columns) == {
        "l",
        "e",
        "a.d",
        "a.b.c",
    }
    assert flat["a.b.c"].to_list() == [1]
    assert flat["l"].to_list() == [['{"k": 1}', '{"k": 2}']]
    assert flat.schema["e"] == pl.List(pl.String)


def test_finish_adds_required_columns_first() -> None:
    frame = pl.DataFrame({"@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)], "x": [1]})
    batch = finish(frame, dataset="demo", ctx=ReadContext(tenant="t1"), path="/p")
    assert tuple(batch.frame.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    row = batch.frame.row(0, named=True)
    assert row["host.name"] == "unknown" and row["event.id"] == "0" and row["tenant"] == "t1"
    assert batch.dataset == "demo" and batch.path == "/p"


def test_conform_gives_shared_ecs_columns_one_dtype() -> None:
    from sekimori.sources.frame import conform

    frame = pl.DataFrame(
        {
            "source.port": [None, None],
            "destination.port": ["443", "x"],
            "email.to.address": ["a@example.com", None],
            "user.name": [["alice"], None],
            "zeek.conn.orig_bytes": [None, None],
        }
    )
    out = conform(frame)
    assert out.schema["source.port"] == pl.Int64
    assert out["destination.port"].to_list() == [443, None]
    assert out["email.to.address"].to_list() == [["a@example.com"], None]
    assert out["user.name"].to_list() == ["alice", None]
    assert out.schema["zeek.conn.orig_bytes"] == pl.Null  # raw columns are left alone
