from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekimori.errors import IntelError
from sekimori.intel.feeds import parse_feed, read_feed, reader_for
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("feodo.csv", "feodo-csv"),
        ("feodo_old.csv", "feodo-csv"),
        ("feodo.json", "feodo-json"),
        ("urlhaus.csv", "urlhaus-csv"),
        ("urlhaus.txt", "plain"),
        ("threatfox.json", "threatfox-json"),
        ("threatfox_api.json", "threatfox-json"),
        ("threatfox.csv", "threatfox-csv"),
        ("misp_event.json", "misp"),
        ("stix_bundle.json", "stix"),
        ("plain.txt", "plain"),
    ],
)
def test_format_is_sniffed_by_content(name: str, fmt: str, tmp_path: Path) -> None:
    # a misleading name must not matter
    copy = tmp_path / "download.bin"
    copy.write_bytes((DATA / name).read_bytes())
    assert read_feed(copy).report.format == fmt


def test_ttl_sets_expiry_from_last_seen() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    result = read_feed(DATA / "feodo.csv", name="f", ttl=timedelta(days=30), now=now)
    first = result.indicators[0]
    assert first.source == "f"
    assert first.expires == now + timedelta(days=30)
    assert not first.expired(now) and first.expired(now + timedelta(days=31))


def test_unknown_json_and_binary_are_errors(tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}')
    with pytest.raises(IntelError) as caught:
        read_feed(odd)
    assert str(odd) in str(caught.value)
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(IntelError):
        read_feed(binary)
    with pytest.raises(IntelError):
        read_feed(tmp_path / "absent.csv")


def test_explicit_format_and_unknown_format() -> None:
    assert parse_feed("192.0.2.1\n", "x", "text").indicators[0].value == "192.0.2.1"
    with pytest.raises(IntelError):
        reader_for("nope")


def test_feodo_text_list_with_its_banner_is_plain(tmp_path: Path) -> None:
    text = tmp_path / "ipblocklist.txt"
    text.write_text(
        "#####\n# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (Recommended)\n#####\n192.0.2.10\n"
    )
    result = read_feed(text)
    assert result.report.format == "plain"
    assert [i.value for i in result.indicators] == ["192.0.2.10"]


ODD_DOCUMENTS = [
    '{"Event": 5}',
    '{"Event": {"Attribute": [5, {"type": "ip-dst"}], "Object": "x"}}',
    '{"response": [{"Event": null}]}',
    '[{"ip_address": 5}, 3]',
    '{"type": "bundle", "objects": 5}',
    '{"type": "bundle", "objects": [{"type": "indicator"}, 7]}',
    '{"query_status": "ok", "data": [1, {"ioc_type": "url"}]}',
    '{"1": {"ioc_type": "domain", "ioc_value": null}}',
    '"dst_ip","malware"\n"x"',
    "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n1,2,3",
    "\ufeff192.0.2.1\r\n",
]


@pytest.mark.parametrize("text", ODD_DOCUMENTS)
def test_odd_documents_give_an_error_or_a_report(text: str) -> None:
    try:
        result = parse_feed(text, "odd")
    except IntelError:
        return
    assert result.report.indicators == len(result.indicators)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_text_gives_an_error_or_a_report(text: str) -> None:
    with contextlib.suppress(IntelError):
        parse_feed(text, "fuzz")
