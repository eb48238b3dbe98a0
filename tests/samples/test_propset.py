from __future__ import annotations

import io
from datetime import UTC, datetime

import olefile
import pytest

from sekimori.samples import SampleError
from sekimori.samples.cfb import storage_from_paths, write_cfb
from sekimori.samples.propset import STREAM_NAME, SummaryInformation, build_summary_information


def _metadata(info: SummaryInformation) -> olefile.OleMetadata:
    data = write_cfb(storage_from_paths({STREAM_NAME: build_summary_information(info)}))
    return olefile.OleFileIO(io.BytesIO(data)).get_metadata()


def test_olefile_reads_every_property() -> None:
    created = datetime(2026, 11, 24, 8, 30, 15, tzinfo=UTC)
    meta = _metadata(
        SummaryInformation(
            title="請求書",
            author="経理部",
            last_author="佐藤",
            app_name="Microsoft Office Word",
            created=created,
            codepage=932,
        )
    )
    assert meta.codepage == 932
    assert meta.title.decode("cp932") == "請求書"
    assert meta.author.decode("cp932") == "経理部"
    assert meta.last_saved_by.decode("cp932") == "佐藤"
    assert meta.creating_application == b"Microsoft Office Word"
    assert meta.template == b"Normal.dotm"
    assert meta.create_time == created.replace(tzinfo=None)
    assert meta.num_pages == 1


def test_utf8_code_page_is_stored_signed() -> None:
    assert _metadata(SummaryInformation(author="ü", codepage=65001)).codepage in (65001, -535)


def test_bad_metadata() -> None:
    with pytest.raises(SampleError):
        build_summary_information(SummaryInformation(author="請求", codepage=1252))
    with pytest.raises(SampleError):
        build_summary_information(SummaryInformation(codepage=437))
    with pytest.raises(SampleError):
        build_summary_information(SummaryInformation(created=datetime(2026, 1, 1)))  # noqa: DTZ001
