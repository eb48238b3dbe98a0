"""The compiled-rule cache gives the same findings as compiling afresh, and never a stale set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sekimori.detect.sigma.compiled_cache as compiled_cache
from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.detect.sigma.engine import restricted_expr
from sekimori.model import EventBatch
from tests.detect.sigma.cases import batch_of, event_row

SYSMON = {"event.code": "1", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}

PLAIN_RULE = """
title: Certutil Download
id: 0b9a5bd5-0c55-4f7a-8d0b-000000000001
name: certutil_download
status: test
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: '\\certutil.exe'
    CommandLine|contains|all: ['-urlcache', 'http']
  condition: selection
level: high
tags: [attack.command-and-control, attack.t1105]
"""

# An IPv6 network: polars cannot test it, so Python's ``ipaddress`` does, and
# polars cannot serialize that expression; the cache compiles the rule again.
IPV6_RULE = """
title: Connection To A Unique Local IPv6 Address
id: 0b9a5bd5-0c55-4f7a-8d0b-000000000002
status: test
logsource: {category: network_connection, product: windows}
detection:
  selection:
    DestinationIp|cidr: 'fc00::/7'
  condition: selection
level: medium
"""

CORRELATION_RULE = """
title: Repeated Certutil Downloads
id: 0b9a5bd5-0c55-4f7a-8d0b-000000000003
status: test
correlation:
  type: event_count
  rules: [certutil_download]
  group-by: [Computer]
  timespan: 10m
  condition: {gte: 2}
  generate: true
level: critical
"""


def write_rules(folder: Path, plain: str = PLAIN_RULE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plain.yml").write_text(plain, encoding="utf-8")
    (folder / "ipv6.yml").write_text(IPV6_RULE, encoding="utf-8")
    (folder / "correlation.yml").write_text(CORRELATION_RULE, encoding="utf-8")
    return folder


def events() -> EventBatch:
    rows: list[dict[str, Any]] = [
        {**SYSMON, "Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": command}
        for command in (
            "certutil -urlcache -f http://203.0.113.9/a.dll a.dll",
            "certutil -urlcache -f http://203.0.113.9/b.dll b.dll",
        )
    ]
    network = {"event.code": "3", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}
    rows += [{**network, "DestinationIp": ip} for ip in ("fd00::5", "2001:db8::1")]
    return batch_of([event_row(i, row, {}, "sysmon.evtx") for i, row in enumerate(rows)])


def hunt(detector: SigmaDetector) -> list[dict[str, Any]]:
    state = detector.new_state()
    found = detector.detect(events(), state) + detector.finish(state)
    return sorted((f.to_json() for f in found), key=lambda d: d["finding"]["id"])


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cached_rules_find_what_fresh_rules_find(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = write_rules(tmp_path / "rules")
    fresh = hunt(SigmaDetector([rules], rule_cache=False))
    assert {d["rule"]["name"] for d in fresh} >= {
        "Certutil Download",
        "Connection To A Unique Local IPv6 Address",
        "Repeated Certutil Downloads",
    }

    first = SigmaDetector([rules])  # compiles and writes the cache
    assert list(cache_home.rglob("*.compiled"))
    assert hunt(first) == fresh

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached rule set was not used")

    monkeypatch.setattr(compiled_cache, "load_rules", no_compiling)
    second = SigmaDetector([rules])
    assert hunt(second) == fresh
    assert second.load_report.loaded == first.load_report.loaded
    assert second.load_report.rejected == first.load_report.rejected


def test_a_changed_rule_is_never_read_from_the_cache(tmp_path: Path, cache_home: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    assert any(d["rule"]["name"] == "Certutil Download" for d in hunt(SigmaDetector([rules])))
    write_rules(rules, PLAIN_RULE.replace("'-urlcache', 'http'", "'-urlcache', 'ftp'"))
    found = hunt(SigmaDetector([rules]))
    assert not any(d["rule"]["name"] == "Certutil Download" for d in found)


def test_an_unreadable_cache_is_compiled_again(tmp_path: Path, cache_home: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    fresh = hunt(SigmaDetector([rules], rule_cache=False))
    SigmaDetector([rules])
    (entry,) = cache_home.rglob("*.compiled")
    entry.write_bytes(b"not a pickle")
    assert hunt(SigmaDetector([rules])) == fresh
    assert entry.read_bytes() != b"not a pickle"


GROUPED_IPV6 = """
title: Unique Local IPv6 Connections From One Host
id: 0b9a5bd5-0c55-4f7a-8d0b-000000000004
status: test
correlation:
  type: event_count
  rules: [0b9a5bd5-0c55-4f7a-8d0b-000000000002]
  group-by: [Computer]
  timespan: 10m
  condition: {gte: 2}
level: high
"""


def test_a_rule_compiled_again_keeps_the_fields_its_correlation_groups_by(
    tmp_path: Path, cache_home: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ipv6.yml").write_text(IPV6_RULE, encoding="utf-8")
    (rules / "grouped.yml").write_text(GROUPED_IPV6, encoding="utf-8")
    network = {"event.code": "3", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}
    rows = [
        event_row(i, {**network, "DestinationIp": "fd00::1", "winlog.computer_name": host}, {}, "x")
        for i, host in enumerate(("WS-01", "WS-02"))
    ]

    def grouped(detector: SigmaDetector) -> list[object]:
        state = detector.new_state()
        detector.detect(batch_of(rows), state)
        return [f.evidence.get("group_by") for f in detector.finish(state)]

    # One event per host: the threshold of two per host is never reached.
    assert grouped(SigmaDetector([rules], use_default_rules=False, rule_cache=False)) == []
    assert grouped(SigmaDetector([rules], use_default_rules=False)) == []
    assert grouped(SigmaDetector([rules], use_default_rules=False)) == []


def test_the_cache_keeps_each_rules_expression_read_on_its_own_rows(
    tmp_path: Path, cache_home: Path
) -> None:
    rules = write_rules(tmp_path / "rules")
    fresh = SigmaDetector([rules], use_default_rules=False, rule_cache=False)
    SigmaDetector([rules], use_default_rules=False)  # writes the cache
    cached = {rule.key: rule for rule in SigmaDetector([rules], use_default_rules=False).rules}
    kept = 0
    for rule in fresh.rules:
        stored = cached[rule.key].restricted
        if stored is None:  # compiled again on load (the IPv6 rule): made when needed
            continue
        made, loaded = restricted_expr(rule), stored()
        assert (made is None) is (loaded is None)
        if made is not None and loaded is not None:
            assert loaded.meta.serialize() == made.meta.serialize()
            kept += 1
    assert kept
