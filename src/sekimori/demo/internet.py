"""The benign outside world of the demo day: sites, cloud services, time and update servers.

These are the everyday destinations of an office in Japan. Their addresses
stand in for the real services' (the demo never connects anywhere); none of
them is in TEST-NET, which belongs to the attacker's side of the story.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Site:
    """A name on the Internet, the address it resolves to, and how it is reached."""

    name: str
    ip: str
    port: int = 443
    weight: int = 1
    subject: str = ""

    @property
    def tls_subject(self) -> str:
        """The certificate subject Zeek would log."""
        return self.subject or f"CN={self.name}"


# Everyday browsing (HTTPS), weighted by how often people go there.
WEB: tuple[Site, ...] = (
    Site("www.google.com", "142.250.196.100", weight=10),
    Site("www.google.co.jp", "142.250.207.3", weight=6),
    Site("www.yahoo.co.jp", "183.79.219.252", weight=8),
    Site("news.yahoo.co.jp", "183.79.250.123", weight=5),
    Site("www.nikkei.com", "23.48.97.144", weight=4),
    Site("www.jma.go.jp", "13.35.58.112", weight=2),
    Site("www.nta.go.jp", "27.121.46.70", weight=2),
    Site("www.e-gov.go.jp", "13.225.183.21", weight=1),
    Site("www.jetro.go.jp", "210.155.132.26", weight=1),
    Site("www.amazon.co.jp", "52.119.161.5", weight=4),
    Site("www.rakuten.co.jp", "133.237.16.214", weight=3),
    Site("www.youtube.com", "142.250.196.110", weight=3),
    Site("learn.microsoft.com", "23.55.208.170", weight=2),
    Site("github.com", "20.27.177.113", weight=1),
    Site("www.mufg.jp", "104.18.2.45", weight=1),
    Site("www.smbc.co.jp", "23.62.218.34", weight=1),
    Site("www.japanpost.jp", "202.32.2.108", weight=2),
    Site("transit.yahoo.co.jp", "183.79.249.252", weight=3),
    Site("www.jalan.net", "211.13.222.150", weight=1),
    Site("portal.sakura-trading.example", "160.16.87.31", weight=2),
    Site("www.kaisha-kanren.example", "49.212.180.71", weight=1),
    Site("fonts.gstatic.com", "142.250.207.35", weight=5),
    Site("www.gstatic.com", "142.250.196.99", weight=4),
    Site("static.xx.fbcdn.net", "157.240.31.20", weight=1),
)

# Cloud services every workstation talks to all day.
TEAMS = Site("teams.microsoft.com", "52.113.194.132", weight=0)
OFFICE = Site("officeclient.microsoft.com", "52.109.124.128", weight=0)
LOGIN = Site("login.microsoftonline.com", "20.190.141.36", weight=0)
ONEDRIVE = Site("sekimoridemo-my.sharepoint.com", "13.107.136.10", weight=0)
DEFENDER = Site("wdcp.microsoft.com", "20.44.239.154", weight=0)
UPDATE_TLS = Site("fe3cr.delivery.mp.microsoft.com", "20.191.46.211", weight=0)
UPDATE_HTTP = Site("download.windowsupdate.com", "23.52.43.74", port=80, weight=0)
CLOUD: tuple[Site, ...] = (TEAMS, OFFICE, LOGIN, ONEDRIVE, DEFENDER, UPDATE_TLS)

# The domain controller keeps the time with NICT and forwards DNS to the provider.
NTP = Site("ntp.nict.jp", "133.243.238.164", port=123, weight=0)
UPSTREAM_DNS = ("210.196.3.183", "210.141.112.163")

# Partners' mail servers that deliver the day's inbound mail.
PARTNER_MTAS: tuple[Site, ...] = (
    Site("mx.sakura-trading.example", "160.16.87.40", port=25),
    Site("mail.nishi-logistics.example", "219.94.128.12", port=25),
    Site("mx.kyoto-seiki.example", "153.127.42.9", port=25),
    Site("smtp.global-parts.example", "54.250.33.17", port=25),
    Site("mx.city-bank.example", "61.206.118.5", port=25),
)
# Where the company's mail server sends outbound mail.
OUTBOUND_MX: tuple[Site, ...] = PARTNER_MTAS


def weighted_web() -> list[Site]:
    """The browsing sites, each repeated by its weight (for ``random.choice``)."""
    return [s for s in WEB for _ in range(s.weight)]
