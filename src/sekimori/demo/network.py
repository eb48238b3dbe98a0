"""Write the Zeek logs of the day: ``zeek/conn.log``, ``dns.log``, ``http.log`` and the rest."""

from __future__ import annotations

from pathlib import Path

from sekimori.demo.mail import day_mail
from sekimori.demo.network_attack import infection, mail_transport
from sekimori.demo.network_benign import benign_traffic, day_bounds
from sekimori.demo.rng import stream
from sekimori.demo.traffic import LOG_NAMES, Traffic


def day_traffic() -> Traffic:
    """All Zeek rows of the day, benign and malicious."""
    benign = Traffic(stream("network:benign"))
    benign_traffic(benign)
    attack = Traffic(stream("network:attack"))
    infection(attack)
    mail = Traffic(stream("network:mail"))
    mail_transport(mail, day_mail())
    for other in (attack, mail):
        for name in LOG_NAMES:
            benign.logs[name].rows.extend(other.logs[name].rows)
    return benign


def write_network(out_dir: Path) -> list[Path]:
    """Write ``zeek/`` under ``out_dir``; return the files written."""
    folder = out_dir / "zeek"
    folder.mkdir(parents=True, exist_ok=True)
    opened, closed = day_bounds()
    traffic = day_traffic()
    return [traffic.logs[name].write(folder, opened, closed) for name in LOG_NAMES]
