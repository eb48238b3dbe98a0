"""When the intrusion's repeated acts happen: beacons, the SMB sweep, password guesses, spam.

Endpoint and network generators both draw these schedules, so a Sysmon 3
connection of the loader and the Zeek ``conn.log`` row of the same
connection share one moment. Each schedule has its own named random
stream, so the schedules never shift one another.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sekimori.demo.company import DAY_END, FILE_SERVER, HOSTS, PATIENT_ZERO, jst
from sekimori.demo.rng import stream
from sekimori.demo.story import (
    BEACON_PERIOD,
    BRUTE_ACCOUNT,
    BRUTE_USERNAMES,
    C2_HTTP,
    C2_TLS,
    SPAM_SUBJECTS,
    SPAM_TARGETS,
)

# Addresses of 192.0.2.0/24 that play another part of the story (loader, C&C).
BAD_192 = ("192.0.2.44", "192.0.2.101")


@dataclass(frozen=True, slots=True)
class Beacon:
    """One C&C check-in of an infected host."""

    at: datetime
    src: str
    dst: str
    port: int


@dataclass(frozen=True, slots=True)
class Probe:
    """One SMB connection attempt of the sweep; ``state`` is Zeek's ``conn_state``."""

    at: datetime
    dst: str
    state: str


@dataclass(frozen=True, slots=True)
class Guess:
    """One NTLM logon attempt against the file server."""

    at: datetime
    username: str
    success: bool
    known_user: bool


@dataclass(frozen=True, slots=True)
class SpamSend:
    """One SMTP session of the spam module to an outside mail server."""

    at: datetime
    dst: str
    mail_from: str
    rcpt_to: str
    subject: str


def beacons() -> list[Beacon]:
    """Every C&C check-in of the day, in time order (both infected hosts)."""
    out: list[Beacon] = []
    for name, src, first, targets in (
        ("WS-07", PATIENT_ZERO.ip, jst(9, 20, 4.0), (C2_HTTP, C2_TLS)),
        ("FS-01", FILE_SERVER.ip, jst(10, 30, 0.0), (C2_TLS,)),
    ):
        rng = stream(f"beacon:{name}")
        for i, (ip, port) in enumerate(targets):
            t = first + timedelta(seconds=i * BEACON_PERIOD / 2)
            while t < DAY_END:
                out.append(Beacon(t, src, ip, port))
                t += timedelta(seconds=rng.jitter(BEACON_PERIOD, 6.0))
    return sorted(out, key=lambda b: (b.at, b.src, b.dst))


def sweep() -> list[Probe]:
    """The SMB sweep of 10.1.10.0/24 and 10.1.0.0/24 from the first victim."""
    rng = stream("sweep")
    live = {h.ip for h in HOSTS} - {PATIENT_ZERO.ip}
    targets = [
        str(ip)
        for net in ("10.1.10.0/24", "10.1.0.0/24")
        for ip in ipaddress.ip_network(net).hosts()
    ]
    t = jst(10, 5, 0.0)
    out: list[Probe] = []
    for ip in targets:
        if ip == PATIENT_ZERO.ip:
            continue
        if ip in live:
            state = "SF" if ip == FILE_SERVER.ip else rng.choice(("S0", "REJ", "RSTO"))
        else:
            state = "S0" if rng.random() < 0.7 else "REJ"
        out.append(Probe(t, ip, state))
        t += timedelta(seconds=rng.uniform(0.05, 0.6))
    return out


def guesses() -> list[Guess]:
    """Password guesses against the file server, ending with the backup account's."""
    rng = stream("bruteforce")
    t = jst(10, 21, 0.0)
    out: list[Guess] = []
    for rounds in range(3):
        for name in BRUTE_USERNAMES:
            out.append(Guess(t, name, False, name in {"administrator", "Administrator"}))
            t += timedelta(seconds=rng.uniform(0.4, 1.8))
        if rounds < 2:
            t += timedelta(seconds=rng.uniform(5, 12))
    out.append(Guess(t + timedelta(seconds=3.2), BRUTE_ACCOUNT, True, True))
    return out


def spam() -> list[SpamSend]:
    """The spam run: stolen threads sent straight to outside mail servers on port 25."""
    rng = stream("spam")
    t = jst(13, 2, 0.0)
    out: list[SpamSend] = []
    taken = {int(ip.rsplit(".", 1)[1]) for ip in BAD_192}
    hosts = rng.sample([n for n in range(2, 254) if n not in taken], SPAM_TARGETS)
    for i, last in enumerate(hosts):
        dst = f"192.0.2.{last}"
        out.append(
            SpamSend(
                at=t,
                dst=dst,
                mail_from=f"{rng.choice(('info', 'eigyo', 'sales', 'keiri', 'office'))}"
                f"@torihikisaki-{i % 23:02d}.example",
                rcpt_to=f"{rng.choice(('tantou', 'jimu', 'soumu', 'info'))}"
                f"@customer-{i:02d}.example",
                subject=rng.choice(SPAM_SUBJECTS),
            )
        )
        t += timedelta(seconds=rng.uniform(20, 110))
    return out
