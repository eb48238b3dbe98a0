from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sekimori.config import SiteConfig, load_site
from sekimori.errors import IntelError
from sekimori.intel.export import FORMATS, build_blocklist, render
from sekimori.intel.feeds import read_feed
from sekimori.intel.indicator import Indicator
from sekimori.intel.ipaddr import parse_network
from tests.conftest import TEST_DATA

NOW = datetime(2026, 11, 21, tzinfo=UTC)
DATA = TEST_DATA / "intel"


def indicators() -> list[Indicator]:
    found: list[Indicator] = []
    for name in (
        "feodo.csv",
        "feodo.json",
        "plain.txt",
        "threatfox.json",
        "misp_event.json",
        "urlhaus.csv",
        "stix_bundle.json",
    ):
        found += read_feed(DATA / name).indicators
    return found


SITE = SiteConfig(
    allow_networks=(parse_network("192.0.2.10"), parse_network("203.0.113.128/26")),  # type: ignore[arg-type]
    dns_servers=(parse_network("198.51.100.90"),),  # type: ignore[arg-type]
    allow_domains=("*.mail-relay.example.invalid", "c2.example.invalid"),
)


def test_allow_list_and_site_addresses_are_never_blocked() -> None:
    blocklist = build_blocklist(indicators(), SITE, NOW)
    values = {e.value for e in blocklist.networks}
    assert "192.0.2.10" not in values  # allow
    assert "198.51.100.90" not in values  # resolver
    assert not any(v.startswith("203.0.113.128") for v in values)  # CIDR overlapping allow
    domains = {e.value for e in blocklist.domains}
    assert "c2.example.invalid" not in domains and "mail-relay.example.invalid" not in domains
    dropped = {v for v, _ in blocklist.dropped}
    assert {"192.0.2.10", "198.51.100.90", "203.0.113.128/25", "c2.example.invalid"} <= dropped
    internal = build_blocklist(
        [Indicator("cidr", "10.0.0.0/8", "x"), Indicator("ip", "192.168.1.1", "x")],
        SiteConfig(),
        NOW,
    )
    assert internal.networks == [] and len(internal.dropped) == 2


def test_expired_entries_are_left_out_and_overlaps_merged() -> None:
    items = [
        Indicator("ip", "192.0.2.1", "a", expires=NOW - timedelta(days=1)),
        Indicator("cidr", "192.0.2.0/30", "a", expires=NOW + timedelta(days=1)),
        Indicator("ip", "192.0.2.2", "b", expires=NOW + timedelta(days=5)),
        Indicator("ip", "192.0.2.9", "b"),
    ]
    blocklist = build_blocklist(items, SiteConfig(), NOW)
    merged = {e.value: e for e in blocklist.networks}
    assert set(merged) == {"192.0.2.0/30", "192.0.2.9"}
    assert merged["192.0.2.0/30"].expires == NOW + timedelta(days=5)
    assert merged["192.0.2.0/30"].sources == ("a", "b")


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    blocklist = build_blocklist(indicators(), SITE, NOW)
    return {fmt: render(blocklist, fmt, NOW) for fmt in FORMATS}


def netns_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        pytest.skip(f"{name} is not installed")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not available for an isolated network namespace")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here (needs CAP_SYS_ADMIN)")
    return tool


def test_nftables_loads_in_a_private_namespace(outputs: dict[str, str], tmp_path: Path) -> None:
    nft = netns_tool("nft")
    script = tmp_path / "block.nft"
    script.write_text(outputs["nftables"])
    # load twice (idempotent) and list, in a throwaway network namespace: the host is untouched
    command = f"{nft} -f {script} && {nft} -f {script} && {nft} list set inet sekimori blocklist_v4"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "198.51.100.70/31" in done.stdout and "timeout" in done.stdout


def test_ipset_restores_in_a_private_namespace(outputs: dict[str, str], tmp_path: Path) -> None:
    ipset = netns_tool("ipset")
    script = tmp_path / "block.ipset"
    script.write_text(outputs["iptables-ipset"])
    command = (
        f"{ipset} restore < {script} && {ipset} restore < {script} && {ipset} list sekimori-v4"
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, check=False
    )
    if "Kernel error" in done.stderr or "not supported" in done.stderr.lower():
        pytest.skip(f"ipset kernel support missing: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "203.0.113.77" in done.stdout


RULE = re.compile(r"^(alert|drop) (ip|dns|tls|http) (\S+) (\S+) -> (\S+) (\S+) \((.*)\)$")


def test_suricata_rules_parse(outputs: dict[str, str]) -> None:
    sids = set()
    rules = [line for line in outputs["suricata"].splitlines() if line and not line.startswith("#")]
    assert rules
    for rule in rules:
        match = RULE.match(rule)
        assert match, rule
        options = [o.strip() for o in match.group(7).split(";") if o.strip()]
        keys = [o.split(":", 1)[0] for o in options]
        assert keys[0] == "msg" and "sid" in keys and "rev" in keys
        for option in options:
            if option.startswith(("msg:", "content:")):
                value = option.split(":", 1)[1]
                assert value.startswith('"') and value.endswith('"') and '"' not in value[1:-1]
        sid = int(next(o for o in options if o.startswith("sid:")).split(":")[1])
        assert sid not in sids
        sids.add(sid)
    assert any("dns.query" in r and 'content:".c2-stix.example.invalid"' in r for r in rules)
    assert any('http.uri; content:"/x/load.dll"' in r for r in rules)


def test_rpz_edl_windows_and_plain(outputs: dict[str, str]) -> None:
    rpz = outputs["rpz"].splitlines()
    assert any(line.startswith("@ IN SOA") for line in rpz)
    assert "c2-stix.example.invalid CNAME ." in rpz and "*.c2-stix.example.invalid CNAME ." in rpz
    assert "32.77.113.0.203.rpz-ip CNAME ." in rpz
    edl = outputs["paloalto-edl"].splitlines()
    assert "203.0.113.77" in edl and all(not line.startswith("#") for line in edl)
    ps = outputs["windows-firewall"]
    assert "New-NetFirewallRule" in ps and "'203.0.113.77'" in ps and "192.0.2.10'" not in ps
    plain = outputs["plain"].splitlines()
    assert "http://loader.example.invalid/x/load.dll" in plain


def test_edl_types_and_unknown_format() -> None:
    blocklist = build_blocklist(indicators(), SITE, NOW)
    assert "*.c2-stix.example.invalid" in render(blocklist, "paloalto-edl", NOW, "domain")
    assert "loader.example.invalid/x/load.dll" in render(blocklist, "paloalto-edl", NOW, "url")
    with pytest.raises(IntelError):
        render(blocklist, "cisco", NOW)


def test_example_site_file_protects_its_ranges() -> None:
    site = load_site(Path(__file__).resolve().parents[2] / "docs" / "site.example.toml")
    blocklist = build_blocklist(
        [Indicator("ip", "10.1.0.25", "x"), Indicator("ip", "192.0.2.200", "x")], site, NOW
    )
    assert blocklist.networks == []
