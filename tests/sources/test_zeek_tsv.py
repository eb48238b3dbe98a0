from __future__ import annotations

import io

from sekimori.sources.base import ReadReport
from sekimori.sources.zeek_tsv import ZeekHeader, looks_like_tsv, read_tsv, unescape


def test_header_lines() -> None:
    header = ZeekHeader()
    for line in (
        "#separator \\x09",
        "#set_separator\t|",
        "#empty_field\tEMPTY",
        "#unset_field\tNONE",
        "#path\tdns",
        "#open\t2024-01-01-00-00-00",
        "#fields\tts\tquery",
        "#types\ttime\tstring",
    ):
        header = header.with_line(line)
    assert header.separator == "\t" and header.set_separator == "|"
    assert header.empty_field == "EMPTY" and header.unset_field == "NONE"
    assert header.path == "dns" and header.opened == "2024-01-01-00-00-00"
    assert header.fields == ("ts", "query") and header.types == ("time", "string")


def test_looks_like_tsv() -> None:
    assert looks_like_tsv(b"#separator \\x09\n#set_separator\t,\n")
    assert not looks_like_tsv(b'{"ts": 1}\n')


def test_custom_unset_and_set_separator() -> None:
    text = (
        "#separator \\x09\n#set_separator\t|\n#empty_field\tEMPTY\n#unset_field\tNONE\n"
        "#fields\tts\tnames\tcount\n#types\ttime\tset[string]\tcount\n"
        "10.5\ta|b\tNONE\n11.0\tEMPTY\t3\n"
    )
    report = ReadReport(path="x", source="zeek")
    [(header, frame)] = list(read_tsv(io.BytesIO(text.encode()), "x", report))
    assert header.path is None
    assert frame["names"].to_list() == [["a", "b"], []]
    assert frame["count"].to_list() == [None, 3]
    assert frame["__line"].to_list() == [7, 8]


def test_unescape_values() -> None:
    assert unescape(r"\\\\10.47.21.25\\ADMIN$") == "\\\\10.47.21.25\\ADMIN$"
    assert unescape(r"GET\x09/") == "GET\t/"
    assert unescape(r"\xe4\xbc\x9a") == "会"
    assert unescape(r"\xff!") == "\\xff!"
    assert unescape("plain") == "plain"


def test_escapes_inside_sets_are_undone() -> None:
    text = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#fields\tts\tanswers\tquery\n#types\ttime\tvector[string]\tstring\n"
        "10.5\ta\\x2cb,c\tx\\\\y\n11.0\t-\tplain\n"
    )
    report = ReadReport(path="x", source="zeek")
    [(_, frame)] = list(read_tsv(io.BytesIO(text.encode()), "x", report))
    assert frame["answers"].to_list() == [["a,b", "c"], None]
    assert frame["query"].to_list() == ["x\\y", "plain"]


_HEAD = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    "#fields\tts\tname\tn\n#types\ttime\tstring\tcount\n"
)


def _read(text: bytes, chunk_size: int = 32 << 20) -> tuple[list[dict[str, object]], ReadReport]:
    report = ReadReport(path="x", source="zeek")
    rows: list[dict[str, object]] = []
    for _, frame in read_tsv(io.BytesIO(text), "x", report, chunk_size=chunk_size):
        rows.extend(frame.select("__line", "name", "n").iter_rows(named=True))
    return rows, report


def test_odd_lines_read_as_the_plain_ones() -> None:
    odd = (
        _HEAD + "1\ta\t1\n\n2\t\t2\n3\tb\n4\tc\t4\textra\n5\td\xff\t5\n6\te\t6\r\n"
        "\xef\xbb\xbf7\tf\t7\n#close\tx\n" + _HEAD + "8\tg\t8\n"
    ).encode("latin-1")
    rows, report = _read(odd)
    assert rows == [
        {"__line": 7, "name": "a", "n": 1},
        {"__line": 9, "name": "", "n": 2},
        {"__line": 12, "name": "d\ufffd", "n": 5},
        {"__line": 13, "name": "e", "n": 6},
        {"__line": 14, "name": "f", "n": 7},
        {"__line": 22, "name": "g", "n": 8},
    ]
    assert report.skipped == 2
    # the same lines read in small blocks give the same rows
    assert _read(odd, chunk_size=16)[0] == rows


def test_clean_block_keeps_line_numbers_and_escapes() -> None:
    text = (_HEAD + "1\ta\\x41\t1\n2\t-\t-\n3\t(empty)\t3\n").encode()
    rows, report = _read(text)
    assert rows == [
        {"__line": 7, "name": "aA", "n": 1},
        {"__line": 8, "name": None, "n": None},
        {"__line": 9, "name": "", "n": 3},
    ]
    assert report.skipped == 0


def test_unset_marker_that_looks_like_a_number() -> None:
    text = (
        b"#separator \\x09\n#unset_field\t0\n#fields\tts\tn\tok\n#types\ttime\tcount\tbool\n"
        b"1\t0\tT\n2\t5\t0\n"
    )
    report = ReadReport(path="x", source="zeek")
    [(_, frame)] = list(read_tsv(io.BytesIO(text), "x", report))
    assert frame["n"].to_list() == [None, 5]
    assert frame["ok"].to_list() == [True, None]
