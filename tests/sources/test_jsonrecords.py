from __future__ import annotations

import io
from pathlib import Path

import pytest

from sekimori.sources import jsonrecords
from sekimori.sources.base import ReadReport
from sekimori.sources.jsonrecords import (
    decode_text,
    iter_objects,
    iter_stream_objects,
    ndjson_frames,
)


def _objects(text: str) -> tuple[list[tuple[int, dict[str, object]]], ReadReport]:
    report = ReadReport(path="f", source="t")
    return list(iter_objects(text, "f", report)), report


def test_lines_array_and_concatenated() -> None:
    found, report = _objects('{"a": 1}\n{"a": 2}\n')
    assert found == [(1, {"a": 1}), (2, {"a": 2})] and report.skipped == 0
    found, _ = _objects('[\n {"a": 1},\n {"a": 2}\n]\n')
    assert [d for _, d in found] == [{"a": 1}, {"a": 2}]
    found, _ = _objects('Record 1\n{\n  "a": 1\n}\nRecord 2\n{\n  "a": 2\n}\n')
    assert found == [(2, {"a": 1}), (6, {"a": 2})]


def test_json_lines_between_other_records_keep_their_line_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (
        '{"a": 1}\n\n  {"a": 2},\r\n{"a": 3}\n{"a": \n{"a": 5} {"a": 6}\n'
        'Record 7\n{\n "a": 8\n}\n{"a": 9}, \n[{"a": 10},\n{"a": 11}]\n"x"\n{"a": 13}'
    )
    fast, fast_report = _objects(text)
    monkeypatch.setattr(jsonrecords._Scan, "_json_lines", lambda _: iter(()))
    slow, slow_report = _objects(text)
    assert fast == slow
    assert [n for n, _ in fast] == [1, 3, 4, 6, 6, 8, 11, 12, 13, 15]
    assert fast_report.problems == slow_report.problems and fast_report.skipped == 2


def test_bad_record_is_skipped_and_reading_resumes() -> None:
    found, report = _objects('{"a": 1}\n{"a": \n{"a": 3}\n"text"\n')
    assert [d for _, d in found] == [{"a": 1}, {"a": 3}]
    assert report.skipped == 2
    assert report.problems[0].startswith("f:2: malformed JSON")
    assert report.problems[1].startswith("f:4: not a JSON object")


# Lines orjson reads, and lines only the standard library reads: both give what
# json.loads gives, so the fast path changes nothing a user sees.
_EDGE_LINES = [
    '{"a": 1, "b": [1, 2.5, null, true], "c": {"d": "\\u00e9\\u3042"}}',
    '{"n": NaN, "i": Infinity}',
    '{"s": "\\ud800 lone surrogate"}',
    '{"big": 123456789012345678901234567890}',
    '{"u64": 18446744073709551615, "i64": -9223372036854775808, "below": -9223372036854775809}',
    '{"f": 1e30, "g": -2.5e-3}',
    '{"a": 1}, ',
    '{"a": 1} {"a": 2}',
    '{"dup": 1, "dup": 2}',
    '{"deep": ' + "[" * 2000 + "]" * 2000 + "}",
]


@pytest.mark.parametrize("line", _EDGE_LINES)
def test_json_lines_read_as_the_standard_library_reads_them(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    # the fast path is taken for a plain JSON line
    assert jsonrecords._line_object('{"a": 1}\n', 0, 9, True) == ({"a": 1}, 8)
    fast, fast_report = _objects(line + "\n")
    monkeypatch.setattr(jsonrecords, "_line_object", lambda *_: (None, -1))
    monkeypatch.setattr(jsonrecords._Scan, "_json_lines", lambda _: iter(()))
    slow, slow_report = _objects(line + "\n")
    assert json.dumps(fast) == json.dumps(slow)
    assert fast_report.problems == slow_report.problems


@pytest.mark.parametrize("line", _EDGE_LINES)
def test_streamed_json_lines_read_as_the_standard_library_reads_them(line: str) -> None:
    import json

    raw = f'{{"a": 1}}\n{line}\n{{"b": 2}}\n'.encode()
    report = ReadReport(path="f", source="t")
    streamed = list(iter_stream_objects(io.BytesIO(raw), "f", report))
    whole, whole_report = _objects(raw.decode())
    assert json.dumps(streamed) == json.dumps(whole)
    assert report.problems == whole_report.problems


def test_may_widen_looks_at_numbers_beyond_64_bits_only() -> None:
    may_widen = jsonrecords._may_widen
    assert may_widen(b'{"n": 18446744073709551616}')
    assert may_widen(b'{"n":-9223372036854775809}')
    assert may_widen(b"[1,\t123456789012345678901234567890]")
    assert may_widen(b"123456789012345678901234567890")
    assert not may_widen(b'{"n": 18446744073709551615, "m": -9223372036854775808}')
    assert not may_widen(b'{"n": 1234567890123456789, "f": 1.5e300}')
    assert not may_widen(b'{"h": "SHA1=393F24222079BFB0022598D70123456789012345678901234"}')
    assert not may_widen(b'{"h": "x-123456789012345678901234"}')
    assert jsonrecords.loads('{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }


def test_decode_text_boms() -> None:
    assert decode_text(b"\xef\xbb\xbf{}") == "{}"
    assert decode_text("{}".encode("utf-16")) == "{}"
    assert decode_text(b"\xff{}") == "\ufffd{}"


def test_ndjson_frames_fast_and_slow_paths() -> None:
    report = ReadReport(path="f", source="t")
    good = b'{"a": 1, "b": {"c": "x"}}\n{"a": 2, "b": {"c": "y"}}\n'
    frames = list(ndjson_frames(io.BytesIO(good), "f", report))
    assert frames[0]["__line"].to_list() == [1, 2] and report.skipped == 0
    mixed = b'{"a": 1}\n\nnot json\n[1]\n{}\n{"a": 5}\n'
    frames = list(ndjson_frames(io.BytesIO(mixed), "f", report))
    assert frames[0]["a"].to_list() == [1, 5]
    assert frames[0]["__line"].to_list() == [1, 6]
    assert report.skipped == 3


@pytest.mark.parametrize("name", ["sysmon_pretty.json", "mixed.jsonl", "array.json"])
@pytest.mark.parametrize("chunk_size", [1, 17, 64, 1000, 1 << 20])
def test_stream_blocks_give_the_same_records(data: Path, name: str, chunk_size: int) -> None:
    raw = (data / "evtx_json" / name).read_bytes()
    whole, whole_report = _objects(raw.decode())
    report = ReadReport(path="f", source="t")
    streamed = list(iter_stream_objects(io.BytesIO(raw), "f", report, chunk_size=chunk_size))
    assert streamed == whole
    assert report.problems == whole_report.problems


def test_stream_lines_with_bad_utf8_read_as_the_decoded_text() -> None:
    lines = [b'\xef\xbb\xbf{"a": 1}', b'{"b": "\xff\xfe x"}', b'{"c": "\xe6\x97\xa5"}']
    raw = b"\n".join([*lines, b'{"d": "\xed\xa0\x80"}', b""])
    report = ReadReport(path="f", source="t")
    streamed = list(iter_stream_objects(io.BytesIO(raw), "f", report, chunk_size=8))
    assert streamed == _objects(decode_text(raw))[0]
    assert streamed[1] == (2, {"b": "\ufffd\ufffd x"}) and streamed[2] == (3, {"c": "日"})


def test_stream_utf16() -> None:
    raw = '{"a": 1}\n{"a": 2}\n'.encode("utf-16")
    report = ReadReport(path="f", source="t")
    assert [d for _, d in iter_stream_objects(io.BytesIO(raw), "f", report)] == [{"a": 1}, {"a": 2}]
