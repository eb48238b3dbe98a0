"""Write the Windows events of every machine: ``endpoint/<HOST>/<channel>.jsonl``.

One file per machine and channel (Sysmon, Security, System, PowerShell), as
an export with ``evtx_dump -o jsonl`` of each machine's logs would give;
``sekimori hunt`` reads them like any other evtx JSON lines.
"""

from __future__ import annotations

from pathlib import Path

from sekimori.demo import endpoint_attack
from sekimori.demo.company import DC, FILE_SERVER, HOSTS, PATIENT_ZERO
from sekimori.demo.endpoint_benign import benign_day
from sekimori.demo.evtx_json import HostLog
from sekimori.demo.rng import stream

# Who mistypes their password first thing in the morning.
_TYPO_HOSTS = ("WS-03", "WS-15", "WS-22")


def host_logs() -> list[HostLog]:
    """The day's events of every machine, benign and malicious, not yet numbered."""
    logs: list[HostLog] = []
    for host in HOSTS:
        log = HostLog(host, stream(f"endpoint:{host.name}"))
        session = benign_day(log, host, failed_first=host.name in _TYPO_HOSTS)
        attack = HostLog(host, stream(f"attack:{host.name}"))
        if host is PATIENT_ZERO:
            endpoint_attack.patient_zero(attack, session)
        elif host is FILE_SERVER:
            endpoint_attack.file_server(attack)
        elif host is DC:
            endpoint_attack.domain_controller(attack)
        log.events.extend(attack.events)
        logs.append(log)
    return logs


def write_endpoint(out_dir: Path) -> list[Path]:
    """Write ``endpoint/`` under ``out_dir``; return the files written."""
    written: list[Path] = []
    for log in host_logs():
        folder = out_dir / "endpoint" / log.host.name
        folder.mkdir(parents=True, exist_ok=True)
        for key, lines in sorted(log.render().items()):
            path = folder / f"{key}.jsonl"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
            written.append(path)
    return written
