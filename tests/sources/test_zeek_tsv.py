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
