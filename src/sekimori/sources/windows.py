"""Windows events: one column layout and one ECS mapping for the three Windows sources.

EVTX files, evtx_dump JSON and Winlogbeat/OTRF JSON all end here as flat
records (``record_from_event_json``, ``record_from_winlogbeat``,
``record_from_flat``) and then as batches (``WindowsBatcher``, one per channel;
``WindowsBatcher.take_event_json`` takes an evtx JSON event without the record):

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
from itertools import chain, repeat
from typing import Any

import polars as pl

from sekimori.model import EVENT_ID, HOST_NAME, TIMESTAMP, EventBatch
from sekimori.sources.base import ReadContext, ReadReport
from sekimori.sources.frame import (
    add_mapped,
    finish,
    iso_text_to_datetime,
    null_if_blank,
    replace_surrogates,
)

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
# The values of a record in the order of its column names: text, or JSON values
# that become the text ``text`` gives them when the frame is made.
Row = tuple[Any, ...]


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


# The columns of the System part of an evtx JSON event, in the order of its records.
_SYSTEM_COLUMNS = (
    WHERE,
    TIMESTAMP,
    CODE,
    CHANNEL,
    PROVIDER,
    RECORD_ID,
    COMPUTER,
    "winlog.process.pid",
    "winlog.process.thread.id",
    "winlog.user.identifier",
    "winlog.level",
    "winlog.task",
    "winlog.keywords",
)
_CHANNEL_AT = _SYSTEM_COLUMNS.index(CHANNEL)


# evtx writes XML attributes under "#attributes": read there first, any other spelling after.
_NO_ATTRIBUTES: Mapping[str, Any] = {}
_MISSING = object()


def _attributes(node: Any) -> Mapping[str, Any]:
    """``node["#attributes"]`` when it is an object, else an empty one."""
    if type(node) is dict:
        attrs = node.get("#attributes")
        if type(attrs) is dict:
            return attrs
    return _NO_ATTRIBUTES


def _event_json_system(doc: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], Row]:
    """The ``Event`` object of an evtx JSON document and its ``_SYSTEM_COLUMNS`` values.

    The values are left as JSON gives them (numbers, ``#text`` objects): a
    column's text is made at once (``_text_column``). Only the time and the
    channel, needed before, are text here. Each attribute is ``_attr`` of
    its element.
    """
    event = doc.get("Event", doc)
    system = event.get("System") if type(event) is dict or isinstance(event, Mapping) else None
    if type(system) is not dict and not isinstance(system, Mapping):
        raise NotWindowsEvent("no Event.System object")
    get = system.get
    created = get("TimeCreated")
    if type(created) is dict:
        value = _attributes(created).get("SystemTime", _MISSING)
        if value is _MISSING:
            value = _attr(created, "SystemTime")
        stamp = value if type(value) is str and value else text(value or None)
    else:
        stamp = text(
            _attr(created, "SystemTime") or (created if isinstance(created, str) else None)
        )
    channel = get("Channel")
    provider = get("Provider")
    provider_name = _attributes(provider).get("Name", _MISSING)
    if provider_name is _MISSING:
        provider_name = _attr(provider, "Name")
    execution = get("Execution")
    attrs = _attributes(execution)
    pid, tid = attrs.get("ProcessID", _MISSING), attrs.get("ThreadID", _MISSING)
    if pid is _MISSING or tid is _MISSING:
        pid, tid = _attr(execution, "ProcessID"), _attr(execution, "ThreadID")
    security = get("Security")
    user = _attributes(security).get("UserID", _MISSING)
    if user is _MISSING:
        user = _attr(security, "UserID")
    return event, (
        where,
        stamp,
        get("EventID"),
        channel if type(channel) is str else text(channel),
        provider_name,
        get("EventRecordID"),
        get("Computer"),
        pid,
        tid,
        user,
        get("Level"),
        get("Task"),
        get("Keywords"),
    )


def record_from_event_json(doc: Mapping[str, Any], where: str) -> Record:
    """A flat record from the evtx/evtx_dump JSON shape ``{"Event": {"System": …}}``."""
    event, system = _event_json_system(doc, where)
    record: Record = dict(zip(_SYSTEM_COLUMNS, map(text, system), strict=True))
    _event_data(event.get("EventData"), record)
    user_data = event.get("UserData")
    if user_data is not None:
        _user_data(user_data, record)
    return record


def _plain_columns(fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The columns of an event with these EventData fields, if they are all plain ones.

    Plain: neither ``Data`` items nor XML attributes, which ``_event_data`` reads
    its own way; a plain field's value is ``text`` of it, under its name.
    """
    if "Data" in fields or any(f[:1] in ("#", "@") for f in fields):
        return None
    return _SYSTEM_COLUMNS + tuple(EVENT_DATA + f for f in fields)


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
# The EventData layouts a batcher remembers (a hostile file can make each event different).
MAX_LAYOUTS = 4_096


class _Channel:
    """The rows and column chunks of one channel, waiting for the batch.

    Rows are kept by their column names: the events of one kind have the
    same fields, and their rows become dense columns at once (``_frame``).
    """

    __slots__ = ("count", "groups", "parts")

    def __init__(self) -> None:
        self.count = 0
        # column names → (row numbers, rows)
        self.groups: dict[tuple[str, ...], tuple[list[int], list[Row]]] = {}
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
        # EventData field names → the columns of the event (None: not plain fields)
        self._layouts: dict[tuple[str, ...], tuple[str, ...] | None] = {}

    def take(self, record: Record) -> bool:
        """Take one record; True when ``ctx.batch_size`` records are in and ``flush`` is due."""
        return self._take(record.get(CHANNEL), tuple(record), tuple(record.values()))

    def take_event_json(self, doc: Mapping[str, Any], where: str) -> bool:
        """``take(record_from_event_json(doc, where))``, without making the record.

        An event with plain EventData fields (most are) goes in as a row of
        their values; ``NotWindowsEvent`` when ``doc`` is not an event.
        """
        event, system = _event_json_system(doc, where)
        data = event.get("EventData")
        if event.get("UserData") is None:
            if type(data) is dict:
                fields = tuple(data)
                try:
                    names = self._layouts[fields]
                except KeyError:
                    if len(self._layouts) >= MAX_LAYOUTS:
                        self._layouts.clear()
                    names = self._layouts[fields] = _plain_columns(fields)
                if names is not None:
                    return self._take(system[_CHANNEL_AT], names, system + tuple(data.values()))
            elif data is None:
                return self._take(system[_CHANNEL_AT], _SYSTEM_COLUMNS, system)
        record: dict[str, Any] = dict(zip(_SYSTEM_COLUMNS, system, strict=True))
        _event_data(data, record)
        _user_data(event.get("UserData"), record)
        return self._take(system[_CHANNEL_AT], tuple(record), tuple(record.values()))

    def _take(self, key: str | None, names: tuple[str, ...], row: Row) -> bool:
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = _Channel()
        group = channel.groups.get(names)
        if group is None:
            group = channel.groups[names] = ([], [])
        group[0].append(channel.count)
        group[1].append(row)
        channel.count += 1
        self._count += 1
        if channel.count >= self._chunk:
            channel.parts.append(_frame(channel.groups))
            channel.groups = {}
            channel.count = 0
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
            if channel.groups:
                parts.append(_frame(channel.groups))
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
    """Time, ECS fields and the required columns of a text frame.

    The ECS fields are row by row, so they are computed before the rows without
    a valid time are counted and dropped. Each stage is an eager
    ``with_columns``: a lazy query's planning costs more than a small batch.
    """
    relevant = frozenset(c for c in frame.columns if c in _ECS_INPUTS)
    frame = frame.with_columns(iso_text_to_datetime(frame.get_column(TIMESTAMP)))
    for stage in _ecs_plan(relevant):
        frame = frame.with_columns(stage)
    if frame.get_column(TIMESTAMP).null_count():
        missing = frame.filter(pl.col(TIMESTAMP).is_null())
        for where in missing.get_column(WHERE).to_list():
            report.skip(where, "event has no valid TimeCreated")
        frame = frame.filter(pl.col(TIMESTAMP).is_not_null())
    if frame.height == 0:
        return None
    frame.drop_in_place(WHERE)
    return finish(frame, dataset=DATASET, ctx=ctx, path=path)


Groups = Mapping[tuple[str, ...], tuple[list[int], list[Row]]]


def _frame(groups: Groups) -> pl.DataFrame:
    r"""Rows as a text frame: rows in order, columns in first-seen order, ``WHERE`` first.

    A text with a lone surrogate (from a ``"\ud800"`` escape in JSON), which
    polars refuses, is kept with U+FFFD in its place: such texts are rare, so
    the rows are only looked at when polars has refused one.
    """
    try:
        return _text_frame(groups)
    except UnicodeEncodeError:
        return _text_frame(_without_surrogates(groups))


def _without_surrogates(groups: Groups) -> Groups:
    """``groups`` with lone surrogates in names and texts replaced.

    Two names that differ only in their surrogates become one: the later
    value wins, as for a key given twice in a JSON object.
    """
    replaced: dict[tuple[str, ...], tuple[list[int], list[Row]]] = {}
    for names, (numbers, rows) in groups.items():
        new_names = tuple(map(replace_surrogates, names))
        if len(set(new_names)) < len(new_names):
            last = dict(zip(new_names, range(len(new_names)), strict=True))
            new_names = tuple(last)
            rows = [tuple(row[i] for i in last.values()) for row in rows]
        group = replaced.setdefault(new_names, ([], []))
        group[0].extend(numbers)
        group[1].extend(tuple(map(_without_surrogate, row)) for row in rows)
    return replaced


def _without_surrogate(value: Any) -> Any:
    """A value of a row, its text (as ``text`` gives it) with lone surrogates replaced."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else replace_surrogates(value)
    if value is None or kind is int or kind is bool:  # made text by polars, as before
        return value
    shown = text(value)
    return shown if shown is None else replace_surrogates(shown)


def _text_frame(groups: Groups) -> pl.DataFrame:
    """``_frame``, or ``UnicodeEncodeError`` for a text with a lone surrogate.

    The rows of one kind (the same column names) are turned into columns at
    once and laid one kind after the other, without a Python loop per value;
    polars then puts the rows back in their order. Kinds are in the order
    they first came, so their columns are in first-seen order.
    """
    if sum(len(numbers) for numbers, _ in groups.values()) < _SMALL_FRAME:
        return _small_frame(groups)
    columns: dict[str, list[Any]] = {WHERE: [], TIMESTAMP: []}
    kinds: dict[str, set[type]] = {WHERE: set(), TIMESTAMP: set()}
    laid = 0
    for names, (_, rows) in groups.items():
        for name, values in zip(names, zip(*rows, strict=True), strict=False):
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * laid
                kinds[name] = set()
            elif len(column) < laid:
                column.extend(repeat(None, laid - len(column)))
            column.extend(values)
            kinds[name].update(map(type, values))
        laid += len(rows)
    series = []
    for name, column in columns.items():
        column.extend(repeat(None, laid - len(column)))
        series.append(_text_column(name, column, kinds[name]))
    frame = pl.DataFrame(series)
    if len(groups) > 1:
        numbers = list(chain.from_iterable(numbers for numbers, _ in groups.values()))
        frame = frame.sort(pl.Series(numbers, dtype=pl.UInt32))
    return frame


# Below this many rows polars builds the frame from records faster itself.
_SMALL_FRAME = 128


def _small_frame(groups: Groups) -> pl.DataFrame:
    """``_frame`` of a few rows, through records."""
    order: dict[str, None] = {WHERE: None, TIMESTAMP: None}
    records: dict[int, Record] = {}
    for names, (numbers, rows) in groups.items():
        order.update(dict.fromkeys(names))
        for number, row in zip(numbers, rows, strict=True):
            if not _TEXT.issuperset(map(type, row)):
                row = tuple(map(text, row))
            records[number] = dict(zip(names, row, strict=True))
    rows_in_order = [records[number] for number in range(len(records))]
    return pl.from_dicts(rows_in_order, schema=dict.fromkeys(order, pl.String))


_TEXT = frozenset({str, type(None)})
# Values polars writes as text the way ``text`` does: whole numbers (the same
# digits) and booleans ("true", "false"); each with a first value of its type.
_WRITTEN_BY_POLARS = ((frozenset({int, type(None)}), 0), (frozenset({bool, type(None)}), False))


def _text_column(name: str, values: list[Any], kinds: set[type]) -> pl.Series:
    """Values of the types ``kinds`` as a text column, each as ``text`` shows it.

    Polars looks for the first non-null value in Python: a column that
    starts with thousands of nulls is given a leading value to find, cut off
    again.
    """
    if kinds <= _TEXT:
        return pl.Series(name, ["", *values], dtype=pl.String, strict=True).slice(1)
    for types, first in _WRITTEN_BY_POLARS:
        if kinds <= types:
            try:
                typed = pl.Series(name, [first, *values], strict=True).slice(1)
            except (TypeError, OverflowError):  # beyond 128 bits, or needing two types
                break
            return typed.cast(pl.String)
    return pl.Series(name, [text(v) for v in values], dtype=pl.String, strict=True)


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
