from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sekimori.config import SiteConfig, domain_allowed, load_site
from sekimori.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    site = load_site(None)
    assert site.is_internal("10.1.2.3")
    assert site.is_internal("172.31.0.1")
    assert site.is_internal("192.168.0.9")
    assert not site.is_internal("172.32.0.1")
    assert not site.is_internal("203.0.113.5")
    assert not site.allow_networks and not site.allow_domains and not site.mail_servers


def test_example_file_is_valid() -> None:
    site = load_site(REPO / "docs" / "site.example.toml")
    assert site.is_internal("10.9.9.9")
    assert site.mail_ranges.contains("10.1.0.25")
    assert site.is_allowed_ip("192.0.2.200")
    assert site.is_allowed_domain("download.windowsupdate.com")
    assert site.is_allowed_domain("windowsupdate.com")
    assert site.is_allowed_domain("TIME.example.com.")
    assert not site.is_allowed_domain("other.example.com")
    assert len(site.intel.feeds) == 2
    assert site.intel.feeds[1].ttl_days == 7.0
    assert site.never_block.contains("10.1.0.2")


def test_thresholds_override(tmp_path: Path) -> None:
    site = load_site(
        write(
            tmp_path,
            '[site]\ninternal = ["192.168.0.0/16"]\n[beacon]\nmin_connections = 5\n'
            "score_threshold = 1\n[spam]\nports = [25]\n",
        )
    )
    assert site.beacon.min_connections == 5
    assert site.beacon.score_threshold == 1.0
    assert site.spam.ports == (25,)
    assert not site.is_internal("10.0.0.1")


def test_mask_is_vectorized_and_handles_junk() -> None:
    site = SiteConfig()
    values = pl.Series(
        ["10.0.0.1", "8.8.8.8", None, "fe80::1", "::ffff:192.168.1.1", "x", "256.1.1.1"]
    )
    assert site.internal_ranges.mask(values).to_list() == [
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[site]\ninternal = ["10.0.0.0/8",\n', 3, "not valid TOML"),
        ('[site]\ninternal = ["10.0.0.0/8"]\nmail_servers = ["mail.example"]\n', 3, "not an IP"),
        ("[site]\n\n[beacon]\nmin_conections = 3\n", 4, "no setting"),
        ("[beacon]\nscore_threshold = 'high'\n", 2, "number"),
        ("[nonsense]\nx = 1\n", 1, "unknown table"),
        ('[site]\nallow = ["not a domain!"]\n', 2, "allow"),
        ("[spam]\nports = [70000]\n", 2, "port"),
    ],
)
def test_errors_point_at_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert caught.value.where == f"{path}:{line}"
    assert fragment in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_site(tmp_path / "absent.toml")


def test_domain_patterns() -> None:
    assert domain_allowed("a.b.example.com", ("*.example.com",))
    assert not domain_allowed("badexample.com", ("*.example.com",))
    assert not domain_allowed(None, ("*.example.com",))


def test_mail_domains_are_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[site]\nmail_domains = ["Example.CO.JP."]\n')
    assert load_site(good).mail_domains == ("example.co.jp",)
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nmail_domains = ["not a domain"]\n')
    with pytest.raises(ConfigError, match="mail_domains"):
        load_site(bad)
