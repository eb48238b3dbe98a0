from __future__ import annotations

from sekimori.intel.feeds import read_feed
from sekimori.intel.matcher import IntelIndex
from sekimori.mail.intel import apply_intel
from sekimori.mail.result import Verdict
from sekimori.mail.scan import scan_bytes
from tests.mail.helpers import mail


def index_of(tmp_path, lines: str) -> IntelIndex:
    feed = tmp_path / "blocklist.txt"
    feed.write_text(lines)
    return IntelIndex.build(read_feed(feed).indicators)


def test_known_bad_domain_makes_a_quiet_mail_malicious(tmp_path) -> None:
    raw = mail("Minutes: https://files.c2.example.net/minutes")
    result = scan_bytes(raw, "m.eml")
    assert result.verdict == Verdict.CLEAN
    apply_intel(result, index_of(tmp_path, "c2.example.net\n198.51.100.77\n"))
    assert result.verdict == Verdict.MALICIOUS
    hit = next(r for r in result.reasons if r.id == "intel.known_bad")
    assert hit.evidence["matches"][0]["observable"] == "files.c2.example.net"


def test_no_match_leaves_the_result_alone(tmp_path) -> None:
    result = scan_bytes(mail("see https://www.example.com/"), "m.eml")
    before = (result.verdict, result.score, [r.id for r in result.reasons])
    apply_intel(result, index_of(tmp_path, "203.0.113.99\n"))
    assert (result.verdict, result.score, [r.id for r in result.reasons]) == before
