"""Windows events: one column layout and one ECS mapping for the three Windows sources.

EVTX files, evtx_dump JSON and Winlogbeat/OTRF JSON all end here as flat
records (``record_from_event_json``, ``record_from_winlogbeat``,
``record_from_flat``) and then as batches (``WindowsBatcher``, one per channel):

* ``event.code`` (EventID), ``winlog.channel``, ``winlog.provider_name``,
  ``winlog.record_id``, ``winlog.computer_name``;
* every EventData field verbatim as ``winlog.event_data.<Name>`` (text) and
  UserData as ``winlog.user_data.<Name>``, the names the Sigma rules use;
* the ECS fields of ``ECS_FROM_EVENT_DATA`` taken from those.

``SIGMA_TO_ECS`` is the same table read the other way, for rules that must
run on ECS-only input. The field names follow the Sysmon and Security audit
schemas (Microsoft "Audit events" reference) and Winlogbeat's Sysmon/Security
modules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import polars as pl

from sekimori.model import EVENT_ID, HOST_NAME, TIMESTAMP, EventBatch
from sekimori.sources.base import ReadContext, ReadReport
from sekimori.sources.frame import add_mapped, finish, iso_text_to_datetime, null_if_blank

DATASET = "windows"
EVENT_DATA = "winlog.event_data."
USER_DATA = "winlog.user_data."
WHERE = "__where"
CODE = "event.code"
CHANNEL = "winlog.channel"
PROVIDER = "winlog.provider_name"
RECORD_ID = "winlog.record_id"
COMPUTER = "winlog.computer_name"

# ECS column → Windows field names (EventData/UserData), first non-blank wins.
ECS_FROM_EVENT_DATA: Mapping[str, tuple[str, ...]] = {
    "process.executable": ("Image", "NewProcessName", "ProcessName"),
    "process.command_line": ("CommandLine",),
    "process.pid": ("NewProcessId", "ProcessId"),
    "process.entity_id": ("ProcessGuid",),
    "process.working_directory": ("CurrentDirectory",),
    "process.pe.original_file_name": ("OriginalFileName",),
    "process.pe.description": ("Description",),
    "process.pe.product": ("Product",),
    "process.pe.company": ("Company",),
    "process.parent.executable": ("ParentImage", "ParentProcessName"),
    "process.parent.command_line": ("ParentCommandLine",),
    "process.parent.pid": ("ParentProcessId",),
    "process.parent.entity_id": ("ParentProcessGuid",),
    "user.name": ("TargetUserName", "User", "SubjectUserName", "UserName", "AccountName"),
    "user.domain": ("TargetDomainName", "SubjectDomainName"),
    "source.ip": ("IpAddress", "SourceIp", "SourceAddress", "ClientAddress"),
    "source.port": ("IpPort", "SourcePort"),
    "source.domain": ("SourceHostname", "WorkstationName"),
    "destination.ip": ("DestinationIp", "DestAddress"),
    "destination.port": ("DestinationPort", "DestPort"),
    "destination.domain": ("DestinationHostname",),
    "dns.question.name": ("QueryName",),
    "file.path": ("TargetFilename", "ImageLoaded"),
    "registry.path": ("TargetObject",),
    "registry.data.strings": ("Details",),
    "service.name": ("ServiceName",),
    "winlog.logon.type": ("LogonType",),
    "winlog.logon.id": ("TargetLogonId", "LogonId", "SubjectLogonId"),
    "powershell.file.script_block_text": ("ScriptBlockText",),
    "pipe.name": ("PipeName",),
}

# Columns kept numeric (Int64): pids and ports; hex pids (Security log) are read too.
_INTEGER_COLUMNS = (
    "process.pid",
    "process.parent.pid",
    "source.port",
    "destination.port",
)

# Sigma field name → ECS column, for rules run on input that only has ECS fields.
SIGMA_TO_ECS: Mapping[str, str] = {
    "EventID": CODE,
    "Channel": CHANNEL,
    "Provider_Name": PROVIDER,
    "Computer": HOST_NAME,
    "ComputerName": HOST_NAME,
    "EventRecordID": RECORD_ID,
    **{
        field: ecs
        for ecs, fields in reversed(list(ECS_FROM_EVENT_DATA.items()))
        for field in fields
    },
}

# nxlog/Logstash keys of the flat OTRF shape that are not EventData.
_FLAT_SYSTEM = frozenset(
    {
        "@timestamp", "@version", "AccountName", "AccountType", "Category", "Channel",
        "Domain", "EventID", "EventReceivedTime", "EventTime", "EventTypeOrignal",
        "ExecutionProcessID", "Hostname", "Keywords", "Level", "Message", "Opcode",
        "OpcodeValue", "ProviderGuid", "RecordNumber", "Severity", "SeverityValue",
        "SourceModuleName", "SourceModuleType", "SourceName", "Task", "ThreadID",
        "TimeCreated", "UserID", "Version", "host", "port", "tags",
    }
)  # fmt: skip
_NXLOG_EVENT_TYPES = frozenset(
    {"INFO", "AUDIT_SUCCESS", "AUDIT_FAILURE", "WARNING", "ERROR", "VERBOSE", "CRITICAL"}
)

Record = dict[str, str | None]


class NotWindowsEvent(ValueError):
    """A JSON object that does not have the shape of a Windows event."""


def text(value: Any) -> str | None:
    """A field value as the text the event shows (``#text`` nodes unwrapped)."""
    kind = type(value)
    if kind is str or kind is int:  # the common cases first
        return str(value)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | Mapping) and "#text" in value:
        return text(value["#text"])
    if isinstance(value, list):
        parts = [text(v) for v in value]
        return "\n".join(p for p in parts if p is not None)
    return json.dumps(value, ensure_ascii=False, default=str)


def _attr(node: Any, name: str) -> Any:
    """An XML attribute in any of the JSON spellings: ``#attributes``, ``@Name``, plain."""
    if not isinstance(node, dict | Mapping):
        return None
    attrs = node.get("#attributes")
    if isinstance(attrs, dict | Mapping) and name in attrs:
        return attrs[name]
    for key in (f"@{name}", name):
        if key in node:
            return node[key]
    attrs = node.get(f"{name}_attributes")
    return attrs.get(name) if isinstance(attrs, Mapping) else None


def _data_items(data: Any) -> Iterator[tuple[str | None, Any]]:
    """EventData content as (name, value); unnamed ``<Data>`` items have name None."""
    if isinstance(data, Mapping):
        name = _attr(data, "Name")
        if name is not None:
            yield str(name), data.get("#text", data.get("Value"))
            return
        if "#text" in data:
            values = data["#text"]
            for v in values if isinstance(values, list) else [values]:
                yield None, v
            return
        for key, value in data.items():
            if not key.startswith(("#", "@")):
                yield key, value
    elif isinstance(data, list):
        for item in data:
            yield from _data_items(item)
    elif data is not None:
        yield None, data


def _event_data(event_data: Any, record: Record) -> None:
    """Fill ``winlog.event_data.*``: named fields verbatim, unnamed ones as Data and paramN."""
    if type(event_data) is not dict and not isinstance(event_data, Mapping):
        if event_data is not None:
            record[f"{EVENT_DATA}Data"] = text(event_data)
        return
    prefix = EVENT_DATA
    unnamed: list[str] = []
    for key, value in event_data.items():
        kind = type(value)
        if key == "Data" or (key and key[0] in "#@"):
            if key == "Data":
                for name, item in _data_items(value):
                    if name is None:
                        unnamed.append(text(item) or "")
                    else:
                        record[f"{prefix}{name}"] = text(item)
        elif kind is str:  # the common case
            record[prefix + key] = value
        elif kind is int:
            record[prefix + key] = str(value)
        else:
            record[prefix + key] = text(value)
    if unnamed:
        record[f"{prefix}Data"] = "\n".join(unnamed)
        for i, item in enumerate(unnamed, start=1):
            record[f"{prefix}param{i}"] = item


def _user_data(user_data: Any, record: Record, prefix: str = USER_DATA) -> None:
    """Flatten UserData below its single wrapper element into ``winlog.user_data.*``."""
    if not isinstance(user_data, Mapping):
        return
    body: Any = user_data
    payload = [k for k in user_data if not k.startswith(("#", "@"))]
    if prefix == USER_DATA and len(payload) == 1 and isinstance(user_data[payload[0]], Mapping):
        record[f"{USER_DATA}xml_name"] = payload[0]
        body = user_data[payload[0]]
    for key, value in body.items():
        if key.startswith(("#", "@")):
            continue
        if isinstance(value, Mapping) and "#text" not in value:
            _user_data(value, record, f"{prefix}{key}.")
        else:
            record[f"{prefix}{key}"] = text(value)


def _attr_text(node: Any, name: str) -> str | None:
    """``text(_attr(node, name))``, with the evtx ``#attributes`` spelling first."""
    if type(node) is dict:
        attrs = node.get("#attributes")
        if type(attrs) is dict and name in attrs:
            value = attrs[name]
            return value if type(value) is str else text(value)
    return text(_attr(node, name))


def record_from_event_json(doc: Mapping[str, Any], where: str) -> Record:
    """A flat record from the evtx/evtx_dump JSON shape ``{"Event": {"System": …}}``."""
    event = doc.get("Event", doc)
    system = event.get("System") if isinstance(event, Mapping) else None
    if not isinstance(system, Mapping):
        raise NotWindowsEvent("no Event.System object")
    get = system.get
    created = get("TimeCreated")
    if type(created) is dict:
        attrs = created.get("#attributes")
        if type(attrs) is dict and "SystemTime" in attrs:
            value = attrs["SystemTime"]
        else:
            value = _attr(created, "SystemTime")
        stamp = value if type(value) is str and value else text(value or None)
    else:
        stamp = text(
            _attr(created, "SystemTime") or (created if isinstance(created, str) else None)
        )
    event_id = get("EventID")
    channel = get("Channel")
    record_id = get("EventRecordID")
    computer = get("Computer")
    execution = get("Execution")
    level = get("Level")
    task = get("Task")
    keywords = get("Keywords")
    record: Record = {
        WHERE: where,
        TIMESTAMP: stamp,
        CODE: str(event_id) if type(event_id) is int else text(event_id),
        CHANNEL: channel if type(channel) is str else text(channel),
        PROVIDER: _attr_text(get("Provider"), "Name"),
        RECORD_ID: str(record_id) if type(record_id) is int else text(record_id),
        COMPUTER: computer if type(computer) is str else text(computer),
        "winlog.process.pid": _attr_text(execution, "ProcessID"),
        "winlog.process.thread.id": _attr_text(execution, "ThreadID"),
        "winlog.user.identifier": _attr_text(get("Security"), "UserID"),
        "winlog.level": str(level) if type(level) is int else text(level),
        "winlog.task": str(task) if type(task) is int else text(task),
        "winlog.keywords": keywords if type(keywords) is str else text(keywords),
    }
    _event_data(event.get("EventData"), record)
    user_data = event.get("UserData")
    if user_data is not None:
        _user_data(user_data, record)
    return record


def _flatten(doc: Mapping[str, Any], prefix: str, out: Record) -> None:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{name}.", out)
        elif isinstance(value, list) and all(not isinstance(v, Mapping | list) for v in value):
            out[name] = (
                ", ".join(text(v) or "" for v in value)
                if name != "host.ip"
                else text(value[0] if value else None)
            )
        else:
            out[name] = text(value)


def record_from_winlogbeat(doc: Mapping[str, Any], where: str) -> Record:
    """A flat record from Winlogbeat/ECS NDJSON (``winlog.*`` plus ECS fields).

    Winlogbeat 6 documents (``log_name``, ``event_id``, ``event_data`` at the
    top level) are read too.
    """
    if "winlog" not in doc and "log_name" in doc:
        doc = _winlogbeat6(doc)
    winlog = doc.get("winlog")
    if not isinstance(winlog, Mapping):
        raise NotWindowsEvent("no winlog object")
    record: Record = {WHERE: where}
    rest = {k: v for k, v in doc.items() if k != "winlog"}
    _flatten(rest, "", record)
    for key, value in winlog.items():
        if key == "event_data":
            _event_data(value, record)
        elif key == "user_data":
            _user_data(value, record, USER_DATA)
        elif isinstance(value, Mapping):
            _flatten(value, f"winlog.{key}.", record)
        else:
            record[f"winlog.{key}"] = text(value)
    event_code = text(winlog.get("event_id")) or record.get("event.code")
    record[CODE] = event_code
    record[COMPUTER] = (
        record.get(COMPUTER) or record.get("host.name") or record.get("host.hostname")
    )
    return record


# Winlogbeat 6 top-level keys → their place under ``winlog`` in later versions.
_WINLOGBEAT6 = {
    "log_name": "channel",
    "event_id": "event_id",
    "source_name": "provider_name",
    "computer_name": "computer_name",
    "record_number": "record_id",
    "event_data": "event_data",
    "user_data": "user_data",
    "provider_guid": "provider_guid",
    "task": "task",
    "opcode": "opcode",
    "activity_id": "activity_id",
    "user": "user",
}


def _winlogbeat6(doc: Mapping[str, Any]) -> dict[str, Any]:
    winlog: dict[str, Any] = {new: doc[old] for old, new in _WINLOGBEAT6.items() if old in doc}
    if "process_id" in doc:
        winlog["process"] = {"pid": doc["process_id"], "thread": {"id": doc.get("thread_id")}}
    moved = {*_WINLOGBEAT6, "process_id", "thread_id"}
    return {**{k: v for k, v in doc.items() if k not in moved}, "winlog": winlog}


def record_from_flat(doc: Mapping[str, Any], where: str) -> Record:
    """A flat record from the OTRF/nxlog shape (``EventID``, ``Channel``, ``Hostname`` …)."""
    if "EventID" not in doc:
        raise NotWindowsEvent("no EventID")
    record: Record = {
        WHERE: where,
        TIMESTAMP: text(doc.get("TimeCreated") or doc.get("@timestamp") or doc.get("EventTime")),
        CODE: text(doc.get("EventID")),
        CHANNEL: text(doc.get("Channel")),
        PROVIDER: text(doc.get("SourceName") or doc.get("ProviderName")),
        RECORD_ID: text(doc.get("RecordNumber") or doc.get("EventRecordID")),
        COMPUTER: text(doc.get("Hostname") or doc.get("Computer")),
        "message": text(doc.get("Message")),
    }
    prefix = EVENT_DATA
    for key, value in doc.items():
        if key in _FLAT_SYSTEM:
            continue
        if key == "EventType" and value in _NXLOG_EVENT_TYPES:
            continue
        record[prefix + key] = value if type(value) is str else text(value)
    return record


# Records are turned into columns this many at a time, so that only a few
# thousand per-event Python objects are alive at once, whatever the batch size.
CHUNK_RECORDS = 4_096


class _Channel:
    """The records and column chunks of one channel, waiting for the batch."""

    __slots__ = ("parts", "records")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.parts: list[pl.DataFrame] = []


class WindowsBatcher:
    """Flat records collected into batches of at most ``ctx.batch_size`` normalized events.

    The events of one batch window are split by channel, one frame each: a
    channel's events share most of their fields, so its frame is dense,
    where one frame of every channel has hundreds of columns, mostly empty
    (Sysmon's, Security's, PowerShell's), and an empty text cell still costs
    16 bytes and the time to make it. The Sigma engine runs on a batch only
    the rule groups of its channel. A channel's records are converted to
    columns every ``CHUNK_RECORDS`` records; its batch is the concatenation
    of those chunks, the same frame as if they were converted at once.
    """

    def __init__(self, ctx: ReadContext, path: str, report: ReadReport) -> None:
        """Batches for the file ``path``, skips counted in ``report``."""
        self.ctx = ctx
        self.path = path
        self.report = report
        self._channels: dict[str | None, _Channel] = {}
        self._count = 0
        self._size = max(1, ctx.batch_size)
        self._chunk = min(CHUNK_RECORDS, self._size)

    def take(self, record: Record) -> bool:
        """Take one record; True when ``ctx.batch_size`` records are in and ``flush`` is due."""
        key = record.get(CHANNEL)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = _Channel()
        records = channel.records
        records.append(record)
        self._count += 1
        if len(records) >= self._chunk:
            channel.parts.append(_frame(records))
            channel.records = []
        return self._count >= self._size

    def add(self, record: Record) -> Iterator[EventBatch]:
        """Take one record; yield the batches when ``ctx.batch_size`` records are in."""
        if self.take(record):
            yield from self.flush()

    def flush(self) -> Iterator[EventBatch]:
        """The batches (one per channel) of the records taken since the last flush."""
        channels, self._channels, self._count = self._channels, {}, 0
        for key in list(channels):
            channel = channels.pop(key)
            parts = channel.parts
            if channel.records:
                parts.append(_frame(channel.records))
            del channel
            frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal")
            del parts
            batch = _frame_batch(frame, self.ctx, self.path, self.report)
            del frame
            if batch is not None:
                yield batch


def _frame_batch(
    frame: pl.DataFrame, ctx: ReadContext, path: str, report: ReadReport
) -> EventBatch | None:
    """Time, ECS fields and the required columns of a text frame, in one polars query.

    The ECS fields are row by row, so they are computed before the rows without
    a valid time are counted and dropped.
    """
    relevant = frozenset(c for c in frame.columns if c in _ECS_INPUTS)
    frame = frame.with_columns(iso_text_to_datetime(frame.get_column(TIMESTAMP)))
    lazy = frame.lazy()
    for stage in _ecs_plan(relevant):
        lazy = lazy.with_columns(stage)
    frame = lazy.collect()
    if frame.get_column(TIMESTAMP).null_count():
        missing = frame.filter(pl.col(TIMESTAMP).is_null())
        for where in missing.get_column(WHERE).to_list():
            report.skip(where, "event has no valid TimeCreated")
        frame = frame.filter(pl.col(TIMESTAMP).is_not_null())
    if frame.height == 0:
        return None
    frame.drop_in_place(WHERE)
    return finish(frame, dataset=DATASET, ctx=ctx, path=path)


# Below this many records polars builds the frame from the records faster itself.
_SMALL_FRAME = 128


def _frame(records: list[Record]) -> pl.DataFrame:
    """Records as a text frame, columns in first-seen order (built column by column)."""
    n = len(records)
    if n < _SMALL_FRAME:
        order: dict[str, None] = {WHERE: None, TIMESTAMP: None}
        for record in records:
            order.update(dict.fromkeys(record))
        return pl.from_dicts(records, schema=dict.fromkeys(order, pl.String))
    columns: dict[str, list[str | None]] = {WHERE: [None] * n, TIMESTAMP: [None] * n}
    for i, record in enumerate(records):
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * n
            column[i] = value
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


# ECS column → the text columns it is taken from, first non-blank wins.
_ECS_SOURCES: Mapping[str, tuple[str, ...]] = {
    **{
        ecs: tuple(f"{EVENT_DATA}{f}" for f in fields)
        for ecs, fields in ECS_FROM_EVENT_DATA.items()
    },
    "dns.question.name": (f"{EVENT_DATA}QueryName", f"{USER_DATA}QueryName"),
}
_HASHES = f"{EVENT_DATA}Hashes"
# Every column the ECS fields are computed from.
_ECS_INPUTS = frozenset(
    {*_ECS_SOURCES, *(c for cs in _ECS_SOURCES.values() for c in cs)}
    | {COMPUTER, HOST_NAME, RECORD_ID, WHERE, _HASHES}
)


def add_ecs(frame: pl.DataFrame) -> pl.DataFrame:
    """Add host, event id and the ECS fields of ``ECS_FROM_EVENT_DATA`` to a Windows frame."""
    frame = add_mapped(frame, _ECS_SOURCES)
    exprs = _ecs_exprs(frozenset(c for c in frame.columns if c in _ECS_INPUTS))
    return frame.with_columns(exprs)


@lru_cache(maxsize=256)
def _ecs_plan(present: frozenset[str]) -> tuple[tuple[pl.Expr, ...], ...]:
    """``add_ecs`` as expression stages for a frame of text columns ``present``.

    Only the names of ``_ECS_INPUTS`` matter, so a few plans serve every
    batch: the expressions are built once, not once per file.
    """
    mapped: list[pl.Expr] = []
    after = set(present)
    for target, sources in _ECS_SOURCES.items():
        names = [n for n in (target, *sources) if n in present]
        if not names:
            continue
        blanked = [null_if_blank(pl.col(n)) for n in names]
        mapped.append((pl.coalesce(blanked) if len(blanked) > 1 else blanked[0]).alias(target))
        after.add(target)
    stages = [tuple(mapped)] if mapped else []
    return (*stages, tuple(_ecs_exprs(frozenset(after))))


def _ecs_exprs(columns: frozenset[str]) -> list[pl.Expr]:
    """Host, event id, integers, process names and hashes, for a frame with ``columns``."""
    exprs: list[pl.Expr] = [
        pl.coalesce(
            [null_if_blank(pl.col(c)) for c in (COMPUTER, HOST_NAME) if c in columns]
            or [pl.lit(None, dtype=pl.String)]
        ).alias(HOST_NAME),
    ]
    ids = [null_if_blank(pl.col(c)) for c in (RECORD_ID, WHERE) if c in columns]
    if ids:
        exprs.append(pl.coalesce(ids).alias(EVENT_ID))
    exprs += [_integer(pl.col(c)).alias(c) for c in _INTEGER_COLUMNS if c in columns]
    if "process.executable" in columns:
        exprs.append(pl.col("process.executable").str.extract(r"([^\\/]+)$").alias("process.name"))
    if "process.parent.executable" in columns:
        exprs.append(
            pl.col("process.parent.executable")
            .str.extract(r"([^\\/]+)$")
            .alias("process.parent.name")
        )
    if _HASHES in columns:
        for algo in ("md5", "sha1", "sha256", "imphash"):
            exprs.append(
                pl.col(_HASHES)
                .str.extract(rf"(?i)(?:^|,){algo}=([0-9a-f]+)")
                .str.to_lowercase()
                .alias(f"hash.{algo}")
            )
    return exprs


def _integer(expr: pl.Expr) -> pl.Expr:
    """Decimal or ``0x`` hex text as Int64 (null when neither)."""
    value = expr.cast(pl.String).str.strip_chars()
    is_hex = value.str.to_lowercase().str.starts_with("0x")
    return (
        pl.when(is_hex)
        .then(value.str.slice(2).str.to_integer(base=16, strict=False))
        .otherwise(value.str.to_integer(base=10, strict=False))
        .cast(pl.Int64)
    )
