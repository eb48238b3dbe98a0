from __future__ import annotations

from datetime import timedelta

from sekimori.config import SiteConfig
from sekimori.detect.download import LoaderDownloadDetector
from sekimori.intel.feeds import read_feed
from sekimori.intel.matcher import IntelIndex
from sekimori.model import Severity, Stage
from tests.conftest import TEST_DATA
from tests.detect.netframes import DAY, zeek


def request(
    host: str, uri: str, port: int = 80, mime: str = "application/x-dosexec", **extra: object
) -> dict:
    row = {
        "ts": DAY,
        "src": "10.1.0.66",
        "dst": "100.64.7.7",
        "dport": port,
        "method": "GET",
        "host": host,
        "uri": uri,
        "user_agent": "Mozilla/5.0",
        "resp_mime_types": [mime],
        "resp_filenames": None,
    }
    row.update(extra)
    return row


def detect(
    rows: list[dict], site: SiteConfig | None = None, index: IntelIndex | None = None
) -> list:
    detector = LoaderDownloadDetector(site or SiteConfig(), index)
    return detector.detect(zeek("http", rows), detector.new_state())


def test_plain_update_download_is_low() -> None:
    found = detect([request("download.example.com", "/setup.exe")])
    assert [(f.rule_id, f.severity, f.stage) for f in found] == [
        ("download.executable", Severity.LOW, Stage.INSTALLATION)
    ]


def test_raw_ip_odd_port_and_decoy_name_is_high() -> None:
    found = detect([request("100.64.7.7", "/invoice.doc", port=8080)])
    assert [f.severity for f in found] == [Severity.HIGH]
    reasons = found[0].evidence["reasons"]
    assert any("bare IP" in r for r in reasons) and any("8080" in r for r in reasons)
    assert any("document" in r for r in reasons)
    assert found[0].observables[0].value == "http://100.64.7.7/invoice.doc"


def test_dll_by_name_with_downloader_agent_and_second_download() -> None:
    detector = LoaderDownloadDetector(SiteConfig())
    state = detector.new_state()
    first = detector.detect(
        zeek(
            "http",
            [
                request(
                    "cdn.example.invalid",
                    "/a/x.dll",
                    mime="application/octet-stream",
                    user_agent="WindowsPowerShell/5.1",
                )
            ],
        ),
        state,
    )
    assert first[0].severity is Severity.MEDIUM and "DLL" in first[0].rule_name
    second = detector.detect(
        zeek(
            "http",
            [
                request(
                    "cdn.example.invalid",
                    "/a/y.dll",
                    mime="application/octet-stream",
                    user_agent="WindowsPowerShell/5.1",
                )
            ],
        ),
        state,
    )
    assert second[0].severity is Severity.HIGH
    assert any("already flagged" in r for r in second[0].evidence["reasons"])
    assert detector.detect(zeek("http", [request("cdn.example.invalid", "/a/x.dll")]), state) == []


def test_known_url_raises_severity() -> None:
    index = IntelIndex.build(read_feed(TEST_DATA / "intel" / "urlhaus.csv").indicators)
    found = detect([request("loader.example.invalid", "/x/load.dll")], index=index)
    assert found[0].severity is Severity.MEDIUM
    assert any("threat list" in r for r in found[0].evidence["reasons"])


def test_documents_internal_and_allowed_servers_are_ignored() -> None:
    assert detect([request("docs.example.com", "/a.pdf", mime="application/pdf")]) == []
    assert detect([request("wsus.corp.example", "/u.exe", dst="10.0.0.5")]) == []
    site = SiteConfig(allow_domains=("*.windowsupdate.com",))
    assert detect([request("dl.windowsupdate.com", "/kb.exe")], site) == []


def test_files_log_transfers_outside_http() -> None:
    detector = LoaderDownloadDetector(SiteConfig())
    rows = [
        {
            "ts": DAY,
            "host_name": "10.1.0.66",
            "tx_hosts": ["100.64.9.1"],
            "rx_hosts": ["10.1.0.66"],
            "source": "FTP_DATA",
            "mime_type": "application/x-dosexec",
            "filename": "tool.exe",
        },
        {
            "ts": DAY + timedelta(seconds=1),
            "host_name": "10.1.0.66",
            "tx_hosts": ["100.64.9.2"],
            "rx_hosts": ["10.1.0.66"],
            "source": "HTTP",
            "mime_type": "application/x-dosexec",
            "filename": "b.exe",
        },
    ]
    found = detector.detect(zeek("files", rows), detector.new_state())
    assert [f.evidence["server"] for f in found] == ["100.64.9.1"]
