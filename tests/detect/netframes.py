"""Zeek-shaped event batches for the network detector tests, and a generated office day.

Batches have the columns the Zeek source produces: the required ones, the ECS
network fields and the raw ``zeek.<log>.<field>`` columns. Every "bad"
address is from TEST-NET (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24); the
benign internet is 100.64.0.0/10; names are under ``.invalid``/``example.com``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from sekimori.model import EventBatch

DAY = datetime(2026, 11, 20, tzinfo=UTC)
ECS = {
    "src": "source.ip",
    "sport": "source.port",
    "dst": "destination.ip",
    "dport": "destination.port",
    "proto": "network.transport",
}
ECS_BY_LOG = {
    "dns": {"query": "dns.question.name"},
    "http": {"host": "url.domain", "uri": "url.original", "user_agent": "user_agent.original"},
    "ssl": {"server_name": "tls.server.name"},
    "files": {
        "mime_type": "file.mime_type",
        "filename": "file.name",
        "sha256": "file.hash.sha256",
        "md5": "file.hash.md5",
    },
    "smtp": {
        "mailfrom": "email.from.address",
        "subject": "email.subject",
        "rcptto": "email.to.address",
    },
    "ntlm": {"username": "user.name"},
    "smb_mapping": {"path": "file.path"},
    "dce_rpc": {"operation": "event.action"},
}
_uid_counter = [0]


def uid() -> str:
    _uid_counter[0] += 1
    return f"C{_uid_counter[0]:017d}"


def zeek(log: str, rows: Iterable[Mapping[str, Any]], tenant: str = "default") -> EventBatch:
    """A ``zeek.<log>`` batch from dicts with ``ts`` (datetime), ``src``, ``dst``, ``dport`` …"""
    records = []
    for row in rows:
        record: dict[str, Any] = {
            "@timestamp": row["ts"],
            "tenant": tenant,
            "host.name": row.get("host_name", row.get("src")),
            "event.id": row.get("uid") or uid(),
            "event.dataset": f"zeek.{log}",
            "log.file.path": f"{log}.log",
        }
        for key, value in row.items():
            if key in ("ts", "uid", "host_name"):
                continue
            if key in ECS:
                record[ECS[key]] = value
                raw = {
                    "src": "id.orig_h",
                    "sport": "id.orig_p",
                    "dst": "id.resp_h",
                    "dport": "id.resp_p",
                }
                record[f"zeek.{log}.{raw.get(key, key)}"] = value
            else:
                record[f"zeek.{log}.{key}"] = value
                ecs = ECS_BY_LOG.get(log, {}).get(key)
                if ecs:
                    record[ecs] = value
        records.append(record)
    frame = pl.DataFrame(records, infer_schema_length=None)
    frame = frame.with_columns(pl.col("@timestamp").cast(pl.Datetime("us", "UTC")))
    return EventBatch(dataset=f"zeek.{log}", frame=frame, path=f"{log}.log")


def windows_events(rows: Iterable[Mapping[str, Any]]) -> EventBatch:
    """A ``windows`` batch: ``ts``, ``host`` (the computer), ``code`` and event data fields."""
    records = []
    for row in rows:
        record: dict[str, Any] = {
            "@timestamp": row["ts"],
            "tenant": "default",
            "host.name": row["host"],
            "event.id": row.get("uid") or uid(),
            "event.dataset": "windows",
            "log.file.path": "Security.evtx",
            "event.code": str(row["code"]),
        }
        for key, value in row.items():
            if key not in ("ts", "host", "code", "uid"):
                record[f"winlog.event_data.{key}"] = value
        records.append(record)
    frame = pl.DataFrame(records, infer_schema_length=None)
    frame = frame.with_columns(pl.col("@timestamp").cast(pl.Datetime("us", "UTC")))
    return EventBatch(dataset="windows", frame=frame, path="Security.evtx")


def conn(ts: datetime, src: str, dst: str, dport: int, **extra: Any) -> dict[str, Any]:
    """One conn.log row (established, small, unless told otherwise)."""
    row: dict[str, Any] = {
        "ts": ts,
        "src": src,
        "sport": 49152 + (hash((ts, src, dst)) % 10000),
        "dst": dst,
        "dport": dport,
        "proto": "tcp",
        "conn_state": "SF",
        "orig_bytes": 300,
        "resp_bytes": 1200,
        "duration": 0.2,
    }
    row.update(extra)
    return row


INFECTED = "10.1.2.66"
MAIL_SERVER = "10.1.0.25"
DNS_SERVER = "10.1.0.2"
FILE_SERVER = "10.1.0.10"
C2 = "192.0.2.10"
LOADER_IP = "198.51.100.44"
SITE_TOML = f"""
[site]
internal = ["10.0.0.0/8"]
mail_servers = ["{MAIL_SERVER}"]
dns_servers = ["{DNS_SERVER}"]
"""


def office_day(hosts: int = 200, seed: int = 7) -> list[EventBatch]:
    """A day of a small office: ``hosts`` clean workstations and one infected one."""
    rnd = random.Random(seed)
    workstations = [f"10.1.{1 + i // 250}.{10 + i % 250}" for i in range(hosts)]
    conns: list[dict[str, Any]] = []
    dns: list[dict[str, Any]] = []
    http: list[dict[str, Any]] = []
    ssl: list[dict[str, Any]] = []
    smtp: list[dict[str, Any]] = []
    ntlm: list[dict[str, Any]] = []
    sites = [
        (f"100.64.{i}.{j}", f"site{i}-{j}.example.com") for i in range(3, 12) for j in range(1, 20)
    ]
    for host in [*workstations, INFECTED]:
        # NTP and the update service: every workstation, periodic, common
        offset = rnd.uniform(0, 1024)
        t = DAY + timedelta(seconds=offset)
        while t < DAY + timedelta(days=1):
            conns.append(
                conn(t, host, "100.64.2.2", 123, proto="udp", orig_bytes=48, resp_bytes=48)
            )
            t += timedelta(seconds=1024)
        t = DAY + timedelta(seconds=rnd.uniform(0, 3600))
        while t < DAY + timedelta(days=1):
            c = conn(t, host, "100.64.1.10", 443, orig_bytes=900, resp_bytes=4000)
            conns.append(c)
            ssl.append(
                {
                    "ts": t,
                    "uid": None,
                    "src": host,
                    "dst": "100.64.1.10",
                    "dport": 443,
                    "server_name": "update.example.com",
                }
            )
            t += timedelta(seconds=3600 + rnd.uniform(-30, 30))
        # office hours browsing: irregular
        for _ in range(rnd.randint(20, 60)):
            t = DAY + timedelta(hours=8, seconds=rnd.uniform(0, 9 * 3600))
            ip, name = rnd.choice(sites)
            conns.append(
                conn(
                    t,
                    host,
                    ip,
                    443,
                    orig_bytes=rnd.randint(200, 5000),
                    resp_bytes=rnd.randint(1000, 90000),
                )
            )
            ssl.append({"ts": t, "src": host, "dst": ip, "dport": 443, "server_name": name})
            dns.append(
                {
                    "ts": t - timedelta(seconds=0.05),
                    "src": host,
                    "dst": DNS_SERVER,
                    "dport": 53,
                    "proto": "udp",
                    "query": name,
                }
            )
        # the file server, a couple of logons a day
        for _ in range(rnd.randint(1, 4)):
            t = DAY + timedelta(hours=8, seconds=rnd.uniform(0, 9 * 3600))
            conns.append(conn(t, host, FILE_SERVER, 445, orig_bytes=3000, resp_bytes=80000))
            ntlm.append(
                {
                    "ts": t,
                    "src": host,
                    "dst": FILE_SERVER,
                    "dport": 445,
                    "username": f"user{host.rsplit('.', 1)[1]}",
                    "success": True,
                }
            )
    # the resolver forwards queries upstream as clients ask: irregular
    for _ in range(1500):
        t = DAY + timedelta(seconds=rnd.uniform(0, 86400))
        conns.append(
            conn(
                t,
                DNS_SERVER,
                "100.64.9.9",
                53,
                proto="udp",
                orig_bytes=rnd.randint(40, 90),
                resp_bytes=rnd.randint(60, 400),
            )
        )
    # the mail server talks to many outside mail servers: exempt
    for i in range(60):
        t = DAY + timedelta(hours=8, seconds=rnd.uniform(0, 9 * 3600))
        conns.append(conn(t, MAIL_SERVER, f"100.64.20.{i + 1}", 25))
        smtp.append(
            {
                "ts": t,
                "src": MAIL_SERVER,
                "dst": f"100.64.20.{i + 1}",
                "dport": 25,
                "mailfrom": "staff@example.com",
                "subject": "Meeting notes",
                "rcptto": ["a@example.net"],
            }
        )
    infected_rows(rnd, conns, http, smtp, ntlm, workstations)
    files = [
        {
            "ts": row["ts"],
            "uid": None,
            "host_name": INFECTED,
            "tx_hosts": [LOADER_IP],
            "rx_hosts": [INFECTED],
            "source": "HTTP",
            "mime_type": "application/x-dosexec",
            "filename": "update.exe",
            "sha256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
        }
        for row in http
        if row.get("uri", "").endswith(".exe")
    ]
    return [
        zeek("conn", sorted(conns, key=lambda r: r["ts"])),
        zeek("dns", dns),
        zeek("http", http),
        zeek("ssl", ssl),
        zeek("smtp", smtp),
        zeek("ntlm", ntlm),
        zeek("files", files),
    ]


def infected_rows(
    rnd: random.Random,
    conns: list[dict[str, Any]],
    http: list[dict[str, Any]],
    smtp: list[dict[str, Any]],
    ntlm: list[dict[str, Any]],
    workstations: list[str],
) -> None:
    """What the infected workstation does on top of normal work."""
    start = DAY + timedelta(hours=9, minutes=12)
    # loader download right after the macro ran
    t = start
    conns.append(conn(t, INFECTED, LOADER_IP, 80, orig_bytes=350, resp_bytes=420000))
    http.append(
        {
            "ts": t,
            "src": INFECTED,
            "dst": LOADER_IP,
            "dport": 80,
            "method": "GET",
            "host": LOADER_IP,
            "uri": "/bins/update.exe",
            "user_agent": "WindowsPowerShell/5.1",
            "resp_mime_types": ["application/x-dosexec"],
            "resp_filenames": ["update.exe"],
        }
    )
    # C&C beacon every 300 s (± 8 s) for the rest of the day
    t = start + timedelta(minutes=1)
    while t < DAY + timedelta(days=1):
        conns.append(
            conn(
                t,
                INFECTED,
                C2,
                8080,
                orig_bytes=rnd.randint(410, 430),
                resp_bytes=rnd.randint(130, 150),
            )
        )
        t += timedelta(seconds=300 + rnd.uniform(-8, 8))
    # SMB sweep of the neighbourhood at 10:00, mostly unanswered
    t = DAY + timedelta(hours=10)
    for i, target in enumerate(workstations[:80]):
        state = "SF" if i % 5 == 0 else rnd.choice(["S0", "REJ"])
        conns.append(
            conn(
                t + timedelta(seconds=i * 2),
                INFECTED,
                target,
                445,
                conn_state=state,
                orig_bytes=0,
                resp_bytes=0,
            )
        )
    # password guessing against the file server at 10:30
    for i in range(40):
        ntlm.append(
            {
                "ts": DAY + timedelta(hours=10, minutes=30, seconds=i * 5),
                "src": INFECTED,
                "dst": FILE_SERVER,
                "dport": 445,
                "username": f"admin{i % 8}",
                "success": i % 10 == 9,
            }
        )
    # spam run in the afternoon, straight to outside mail servers
    for i in range(40):
        t = DAY + timedelta(hours=14, seconds=i * 20)
        dst = f"203.0.113.{i + 10}"
        conns.append(conn(t, INFECTED, dst, 25))
        smtp.append(
            {
                "ts": t,
                "src": INFECTED,
                "dst": dst,
                "dport": 25,
                "mailfrom": "keiri@example.com",
                "subject": "Re: 請求書の件",
                "rcptto": [f"user{i}@example.net"],
            }
        )


def write_zeek_tsv(batch: EventBatch, folder: Path) -> Path:
    """``batch`` as a Zeek ASCII log (``<log>.log``): ts and uid, then the raw columns."""
    log = batch.dataset.split(".", 1)[1]
    prefix = f"zeek.{log}."
    frame = batch.frame
    id_name = "fuid" if log == "files" else "uid"
    seconds = frame["@timestamp"].dt.epoch("us") / 1_000_000
    names = ["ts", id_name]
    types = ["time", "string"]
    cells = [
        seconds.map_elements(lambda v: f"{v:.6f}", return_dtype=pl.String),
        frame["event.id"].cast(pl.String),
    ]
    for column in frame.columns:
        if not column.startswith(prefix) or column[len(prefix) :] in ("ts", id_name):
            continue
        dtype = frame.schema[column]
        series = frame[column]
        if isinstance(dtype, pl.List):
            kind, text = "vector[string]", series.cast(pl.List(pl.String)).list.join(",")
        elif dtype == pl.Boolean:
            kind = "bool"
            text = series.map_elements(lambda v: "T" if v else "F", return_dtype=pl.String)
        elif dtype.is_integer():
            kind, text = ("port" if column.endswith("_p") else "count"), series.cast(pl.String)
        elif dtype.is_float():
            kind, text = "interval", series.cast(pl.String)
        else:
            kind = "addr" if column.endswith("_h") else "string"
            text = series.cast(pl.String)
        names.append(column[len(prefix) :])
        types.append(kind)
        cells.append(text)
    path = folder / f"{log}.log"
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{log}",
        "#open\t2026-11-20-00-00-00",
        "#fields\t" + "\t".join(names),
        "#types\t" + "\t".join(types),
    ]
    body = pl.DataFrame({str(i): c.fill_null("-") for i, c in enumerate(cells)})
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\n".join(header) + "\n")
        body.write_csv(fh, separator="\t", include_header=False, quote_style="never")
        fh.write("#close\t2026-11-21-00-00-00\n")
    return path


def sysmon_connections(rows: Iterable[tuple[datetime, str, str, str, int]]) -> EventBatch:
    """Sysmon event 3 rows ``(ts, computer, source ip, destination ip, destination port)``."""
    records = [
        {
            "@timestamp": ts,
            "tenant": "default",
            "host.name": computer,
            "event.id": uid(),
            "event.dataset": "windows",
            "log.file.path": "Sysmon.evtx",
            "event.code": "3",
            "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
            "source.ip": src,
            "destination.ip": dst,
            "destination.port": port,
        }
        for ts, computer, src, dst, port in rows
    ]
    frame = pl.DataFrame(records).with_columns(pl.col("@timestamp").cast(pl.Datetime("us", "UTC")))
    return EventBatch(dataset="windows", frame=frame, path="Sysmon.evtx")
