"""Threat-intel feeds of the demo: a Feodo Tracker blocklist and a URLhaus dump.

Both follow abuse.ch's CSV layouts (a ``#`` banner, then the column header
and quoted rows) so that ``sekimori hunt --intel`` reads them as it reads the
real feeds. They list the story's C&C servers and download URLs, next to
unrelated entries of other families, all in TEST-NET and ``.invalid``.
"""

from __future__ import annotations

from pathlib import Path

from sekimori.demo.story import C2_HTTP, C2_SPARE, C2_TLS, LOADER_URLS

_FEODO_BANNER = """\
################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
# Last updated: 2026-11-24 06:00:00 UTC                        #
#                                                              #
# Sekimori demo copy: every address is TEST-NET (RFC 5737).    #
################################################################
#
"""
_URLHAUS_BANNER = """\
################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #
# Last updated: 2026-11-24 06:00:00 UTC                        #
#                                                              #
# Sekimori demo copy: hosts are .invalid or TEST-NET.          #
################################################################
#
"""

# Other families' C&C servers, unrelated to the demo's intrusion.
_UNRELATED_C2: tuple[tuple[str, int, str, str], ...] = (
    ("192.0.2.61", 443, "offline", "QakBot"),
    ("198.51.100.201", 2222, "online", "QakBot"),
    ("203.0.113.58", 443, "offline", "Dridex"),
    ("192.0.2.187", 8443, "online", "BumbleBee"),
    ("198.51.100.9", 443, "offline", "TrickBot"),
)
_UNRELATED_URLS: tuple[tuple[str, str, str], ...] = (
    ("http://files-share.invalid/dl/report_2611.one", "offline", "onenote,qakbot"),
    ("http://198.51.100.180/bins/x86", "online", "elf,mirai"),
    ("http://cdn-update.invalid/update/install.msi", "online", "msi,icedid"),
)


def feodo_csv() -> str:
    """The Feodo Tracker IP blocklist (CSV) of the demo day."""
    rows = ['"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"']
    for ip, port in (C2_HTTP, C2_TLS, *C2_SPARE):
        rows.append(f'"2026-11-19 07:42:18","{ip}","{port}","online","2026-11-24","Emotet"')
    for ip, port, status, family in _UNRELATED_C2:
        rows.append(f'"2026-10-02 11:05:51","{ip}","{port}","{status}","2026-11-20","{family}"')
    rows.append(f'# "Number of entries: {len(rows) - 1}"')
    return _FEODO_BANNER + "\n".join(rows) + "\n"


def urlhaus_csv() -> str:
    """The URLhaus CSV dump of the demo day."""
    rows = ["# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter"]
    number = 3_310_452
    for i, url in enumerate(LOADER_URLS):
        status = "online" if i == 2 else "offline"
        rows.append(
            f'"{number}","2026-11-23 21:31:07","{url}","{status}","2026-11-24 05:12:40",'
            f'"malware_download","emotet,epoch5,heodo,zip",'
            f'"https://urlhaus.abuse.ch/url/{number}/","demo"'
        )
        number += 1
    for url, status, tags in _UNRELATED_URLS:
        rows.append(
            f'"{number}","2026-11-22 18:02:11","{url}","{status}","2026-11-23 09:00:00",'
            f'"malware_download","{tags}","https://urlhaus.abuse.ch/url/{number}/",'
            f'"demo"'
        )
        number += 1
    return _URLHAUS_BANNER + "\n".join(rows) + "\n"


def write_feeds(out_dir: Path) -> list[Path]:
    """Write ``intel/feodo.csv`` and ``intel/urlhaus.csv``; return the files written."""
    folder = out_dir / "intel"
    folder.mkdir(parents=True, exist_ok=True)
    feodo, urlhaus = folder / "feodo.csv", folder / "urlhaus.csv"
    feodo.write_text(feodo_csv(), encoding="utf-8", newline="\n")
    urlhaus.write_text(urlhaus_csv(), encoding="utf-8", newline="\n")
    return [feodo, urlhaus]
