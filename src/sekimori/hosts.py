"""Which address belongs to which machine, learned from the events themselves.

Network findings name a host by its IP address, endpoint findings by its
Windows computer name. To give an analyst one incident per infected machine,
the hunt learns IP → name pairs from events that state both (Sysmon network
connections of the machine itself, network logons that name the workstation,
Zeek NTLM sessions) and the correlator folds the two views together.

Mail findings name a mailbox. The hunt also learns which machine each person
works at (interactive logons, processes started in their name) so that the
lure in ``tanaka@``'s mailbox joins the incident of tanaka's workstation.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from sekimori.model import EventBatch

# (event code, column with the address, column with the machine name, whose
# address it is). Sysmon 3 of an outgoing connection states the machine's own
# address; 4624/4625/4776 state the address and name of the remote workstation.
_WINDOWS_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("3", "winlog.event_data.SourceIp", "winlog.computer_name"),
    ("4624", "winlog.event_data.IpAddress", "winlog.event_data.WorkstationName"),
    ("4625", "winlog.event_data.IpAddress", "winlog.event_data.WorkstationName"),
)
_ZEEK_NTLM = ("zeek.ntlm.id.orig_h", "zeek.ntlm.hostname")
# Logon types of a person at the machine: interactive, remote desktop, cached.
_INTERACTIVE_LOGONS = ("2", "10", "11")
# Accounts that are not a person: they tell nothing about whose machine it is.
_NOT_A_PERSON = {"system", "local service", "network service", "anonymous logon", "-", ""}


def account(name: str) -> str:
    r"""Canonical key of an account: ``CORP\tanaka``, ``tanaka@corp.example`` → ``tanaka``."""
    name = name.strip().rsplit("\\", 1)[-1]
    return name.split("@", 1)[0].lower()


def short_name(name: str) -> str:
    """Canonical key of a machine name: first DNS label, lower case."""
    return name.strip().split(".", 1)[0].lower()


def is_ip(text: str) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(slots=True)
class HostDirectory:
    """IP → machine name votes, and the fullest spelling seen of each name."""

    votes: dict[str, Counter[str]] = field(default_factory=dict)
    spelling: dict[str, str] = field(default_factory=dict)
    users: dict[str, Counter[str]] = field(default_factory=dict)

    def learn(self, ip: str, name: str) -> None:
        """Record that ``ip`` was seen used by the machine ``name``."""
        name = name.strip()
        if not ip or not name or name in {"-", "?"} or is_ip(name) or not is_ip(ip):
            return
        if ip in {"127.0.0.1", "::1", "0.0.0.0", "-"}:  # noqa: S104 - an address, not a bind
            return
        key = short_name(name)
        self.votes.setdefault(ip, Counter())[key] += 1
        known = self.spelling.get(key)
        if known is None or len(name) > len(known):
            self.spelling[key] = name

    def learn_user(self, user: str, machine: str, weight: int = 1) -> None:
        """Record that the person ``user`` worked at ``machine``."""
        key = account(user)
        if key in _NOT_A_PERSON or key.endswith("$") or not machine.strip():
            return
        self.users.setdefault(key, Counter())[short_name(machine)] += weight
        self.spelling.setdefault(short_name(machine), machine.strip())

    def machine_of_user(self, user: str) -> str | None:
        """The machine ``user`` (an account or a mail address) works at most, if known."""
        votes = self.users.get(account(user))
        return votes.most_common(1)[0][0] if votes else None

    def _learn_users(self, frame: pl.DataFrame, columns: set[str]) -> None:
        sources = (
            ("4624", "winlog.event_data.TargetUserName", "winlog.event_data.LogonType"),
            ("1", "winlog.event_data.User", None),
        )
        for code, user_col, type_col in sources:
            if user_col not in columns or "winlog.computer_name" not in columns:
                continue
            rows = frame.lazy().filter(pl.col("event.code") == code)
            if type_col is not None:
                if type_col not in columns:
                    continue
                logon_type = pl.col(type_col).cast(pl.Utf8)
                rows = rows.filter(logon_type.is_in(_INTERACTIVE_LOGONS))
            counts = (
                rows.select(pl.col(user_col).cast(pl.Utf8), pl.col("winlog.computer_name"))
                .drop_nulls()
                .group_by(user_col, "winlog.computer_name")
                .len()
                .collect()
            )
            for user, machine, count in counts.iter_rows():
                self.learn_user(user, machine, count)

    def learn_batch(self, batch: EventBatch) -> None:
        """Learn every pair ``batch`` states (Windows and Zeek NTLM events)."""
        frame = batch.frame
        columns = set(frame.columns)
        if batch.dataset == "windows" and "event.code" in columns:
            self._learn_users(frame, columns)
            for code, ip_col, name_col in _WINDOWS_PAIRS:
                if ip_col in columns and name_col in columns:
                    pairs = (
                        frame.lazy()
                        .filter(pl.col("event.code") == code)
                        .select(pl.col(ip_col).cast(pl.Utf8), pl.col(name_col).cast(pl.Utf8))
                        .drop_nulls()
                        .unique()
                        .collect()
                    )
                    for ip, name in pairs.iter_rows():
                        self.learn(ip, name)
        elif batch.dataset == "zeek.ntlm" and set(_ZEEK_NTLM) <= columns:
            pairs = frame.select(_ZEEK_NTLM).drop_nulls().unique()
            for ip, name in pairs.iter_rows():
                self.learn(str(ip), str(name))

    def name_of(self, ip: str) -> str | None:
        """The machine most often seen with ``ip``, in its fullest spelling."""
        votes = self.votes.get(ip)
        if not votes:
            return None
        key = votes.most_common(1)[0][0]
        return self.spelling.get(key, key)

    def canonical(self, host: str) -> str:
        """The key an incident is grouped under: the machine's short name when known."""
        if is_ip(host):
            name = self.name_of(host)
            return short_name(name) if name else host
        return short_name(host)

    def display(self, key: str) -> str:
        """The name to show for a canonical key."""
        return self.spelling.get(key, key)

    def addresses(self) -> Mapping[str, str]:
        """IP → machine name, for every address with a known machine."""
        return {ip: name for ip in self.votes if (name := self.name_of(ip))}
