from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from sekimori.sources import sniff
from tests.conftest import shared_path
from tests.sources.conftest import read_all


def test_eve_sample(data: Path) -> None:
    report, frame, datasets = read_all(data / "suricata" / "eve.json")
    assert report.source == "suricata" and set(datasets) == {"suricata.eve"}
    assert frame.height == 6
    assert report.skipped == 1 and "eve.json:5: malformed JSON" in report.problems[0]
    alert = frame.filter(pl.col("event.kind") == "alert").row(0, named=True)
    assert alert["rule.id"] == "2030000"
    assert alert["rule.name"].startswith("ET MALWARE")
    assert alert["event.id"] == "1234567890123456"
    assert alert["host.name"] == "10.0.0.21"
    assert alert["source.ip"] == "10.0.0.21" and alert["destination.port"] == 8080
    assert alert["network.transport"] == "tcp" and alert["network.protocol"] == "http"
    assert alert["url.domain"] == "c2.example.com"
    assert alert["suricata.eve.alert.metadata.tag"] == ["Emotet"]
    assert alert["observer.name"] == "sensor-1"
    # +0200 offset converted to UTC
    assert alert["@timestamp"].isoformat() == "2024-05-13T09:00:00.123456+00:00"
    kinds = dict(zip(frame["suricata.eve.event_type"], frame["event.kind"], strict=True))
    assert kinds == {
        "alert": "alert",
        "dns": "event",
        "tls": "event",
        "fileinfo": "event",
        "smtp": "event",
        "flow": "event",
    }
    rows = {r["suricata.eve.event_type"]: r for r in frame.iter_rows(named=True)}
    assert rows["dns"]["dns.question.name"] == "c2.example.com"
    assert rows["tls"]["tls.server.name"] == "update.example.net"
    assert rows["tls"]["tls.client.ja3"] == "72a589da586844d7f0818ce684948eea"
    assert rows["fileinfo"]["file.hash.md5"] == "0123456789abcdef0123456789abcdef"
    assert rows["smtp"]["email.subject"] == "RE: invoice"
    assert rows["flow"]["suricata.eve.flow.bytes_toclient"] == 18704


def test_sniff_is_by_content(tmp_path: Path, data: Path) -> None:
    other = tmp_path / "events"
    other.write_bytes((data / "suricata" / "eve.json").read_bytes())
    source = sniff(other)
    assert source is not None and source.name == "suricata"


def test_slips_eve_file() -> None:
    report, frame, _ = read_all(
        shared_path("zeek", "slips", "dataset", "test6-malicious.suricata.json")
    )
    assert report.error is None and report.skipped == 0
    assert frame.height == 5000
    assert (frame["event.kind"] == "alert").sum() == 745
    assert frame.filter(pl.col("event.kind") == "alert")["rule.id"].null_count() == 0


def _http_eve(tmp_path: Path, hosts: list[str]) -> Path:
    """An eve.json of HTTP events to ``hosts``, written with JSON's ASCII escapes."""
    lines = [
        {
            "timestamp": f"2024-05-13T09:00:0{i}.000000+0000",
            "event_type": "http",
            "src_ip": "10.0.0.21",
            "dest_ip": "203.0.113.50",
            "http": {"hostname": host, "url": "/"},
        }
        for i, host in enumerate(hosts)
    ]
    path = tmp_path / "eve.json"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="ascii")
    return path


def test_lone_surrogate_is_replaced_and_the_file_read_on(tmp_path: Path) -> None:
    # a lone low surrogate: polars refuses the block, read again line by line
    path = _http_eve(tmp_path, ["a.example.com", "b\udc00.example.com", "c.example.com"])
    report, frame, _ = read_all(path)
    assert report.error is None and report.skipped == 0 and report.events == 3
    assert frame["url.domain"].to_list() == [
        "a.example.com",
        "b\ufffd.example.com",
        "c.example.com",
    ]


@pytest.mark.parametrize(
    ("host", "read"),
    [
        ("x\ud800y.example.com", "x\ufffdy.example.com"),  # a high half alone: polars gave NUL
        ("x\U0001f600y.example.com", "x\U0001f600y.example.com"),  # a whole pair
    ],
)
def test_high_surrogate_escapes_are_read_as_the_line_by_line_reader_does(
    tmp_path: Path, host: str, read: str
) -> None:
    report, frame, _ = read_all(_http_eve(tmp_path, ["a.example.com", host]))
    assert report.error is None and report.events == 2
    assert frame["url.domain"].to_list() == ["a.example.com", read]
