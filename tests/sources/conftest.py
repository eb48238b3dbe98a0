"""Fixtures for the source tests: read files the way the pipeline does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from sekimori.model import REQUIRED_COLUMNS
from sekimori.sources import ReadContext, ReadReport, read_file
from sekimori.sources.frame import TIMESTAMP_DTYPE

DATA = Path(__file__).resolve().parent.parent / "data" / "sources"

Reader = Callable[..., tuple[ReadReport, pl.DataFrame, list[str]]]


def read_all(path: Path, batch_size: int = 50_000) -> tuple[ReadReport, pl.DataFrame, list[str]]:
    """Read one file: its report, all its events in one frame, and the batch datasets."""
    frames = []
    datasets = []
    report = None
    for item in read_file(path, ReadContext(tenant="acme", batch_size=batch_size)):
        report = item.report
        if len(item.batch):
            check_batch(item.batch.frame)
            frames.append(item.batch.frame)
            datasets.append(item.batch.dataset)
    assert report is not None
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return report, frame, datasets


def check_batch(frame: pl.DataFrame) -> None:
    """Every batch has the required columns with their dtypes, non-null."""
    for column in REQUIRED_COLUMNS:
        assert column in frame.columns, column
        assert frame[column].null_count() == 0, column
    assert frame.schema["@timestamp"] == TIMESTAMP_DTYPE
    assert frame["tenant"].unique().to_list() == ["acme"]
    assert not any(isinstance(t, pl.Struct) for t in frame.schema.values())


@pytest.fixture
def data() -> Path:
    """tests/data/sources."""
    return DATA
