"""Sigma field names mapped onto the columns of a Windows event batch.

A Sigma rule names Windows fields as they appear in the event's XML
(``Image``, ``CommandLine``, ``TargetUserName``). A batch carries them raw as
``winlog.event_data.<Field>`` (``winlog.user_data.<Field>`` for ``UserData``
events); the ``System`` part has ECS names (``event.code``,
``winlog.channel``). Shippers that keep only ECS fields (Winlogbeat/Elastic
Agent pipelines drop some raw fields once mapped) are read through the ECS
fallback table below, then through the sources' own mapping
(``sources.windows.SIGMA_TO_ECS``).

The engine never matches on the batch columns directly: for every Sigma
field a rule group needs it adds one *canonical* column (``column_name``),
the first present candidate cast to text, and a lower-cased copy
(``lower_name``) for the case-insensitive matches Sigma asks for by default.
A field whose columns are all missing is a null column: the field does not
exist in those events.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from sekimori.sources.windows import ECS_FROM_EVENT_DATA, SIGMA_TO_ECS

EVENT_DATA = "winlog.event_data."
USER_DATA = "winlog.user_data."

# Fields of the event's System part, by their Sigma name.
SPECIAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "EventID": ("event.code",),
    "Channel": ("winlog.channel",),
    "Provider_Name": ("winlog.provider_name",),
    "Computer": ("winlog.computer_name", "host.name"),
    "EventRecordID": ("winlog.record_id",),
    # The event's own time (System/TimeCreated), for the timestamp-part modifiers.
    "TimeCreated": ("@timestamp",),
    "@timestamp": ("@timestamp",),
}

# Sigma (Sysmon/Security) field → ECS fields that Winlogbeat and Elastic Agent
# fill from it, used only when the raw ``winlog.event_data`` column is absent.
ECS_FALLBACK: Mapping[str, tuple[str, ...]] = {
    "Image": ("process.executable",),
    "CommandLine": ("process.command_line",),
    "ProcessId": ("process.pid",),
    "ProcessGuid": ("process.entity_id",),
    "CurrentDirectory": ("process.working_directory",),
    "OriginalFileName": ("process.pe.original_file_name",),
    "Description": ("process.pe.description",),
    "Product": ("process.pe.product",),
    "Company": ("process.pe.company",),
    "FileVersion": ("process.pe.file_version",),
    "ParentImage": ("process.parent.executable",),
    "ParentCommandLine": ("process.parent.command_line",),
    "ParentProcessId": ("process.parent.pid",),
    "ParentProcessGuid": ("process.parent.entity_id",),
    "User": ("user.name",),
    "TargetFilename": ("file.path",),
    "ImageLoaded": ("file.path",),
    "TargetObject": ("registry.path",),
    "Details": ("registry.data.strings",),
    "DestinationIp": ("destination.ip",),
    "DestinationPort": ("destination.port",),
    "DestinationHostname": ("destination.domain",),
    "SourceIp": ("source.ip",),
    "SourcePort": ("source.port",),
    "SourceHostname": ("source.domain",),
    "Protocol": ("network.transport",),
    "QueryName": ("dns.question.name",),
    "PipeName": ("file.name",),
    "SourceImage": ("process.executable",),
    "IpAddress": ("source.ip",),
    "IpPort": ("source.port",),
    "WorkstationName": ("source.domain",),
    "ServiceName": ("service.name",),
    "NewProcessName": ("process.executable",),
    "ParentProcessName": ("process.parent.executable",),
    "ScriptBlockText": ("powershell.file.script_block_text",),
}

CANONICAL_PREFIX = "__sigma__."
LOWER_PREFIX = "__sigma_lc__."
KEYWORD_COLUMN = "__sigma_keywords__"
ROW_COLUMN = "__sigma_row__"


def column_name(field: str) -> str:
    """Name of the canonical (verbatim text) column of a Sigma field."""
    return CANONICAL_PREFIX + field


def lower_name(field: str) -> str:
    """Name of the lower-cased canonical column of a Sigma field."""
    return LOWER_PREFIX + field


def candidates(field: str, fieldmap: Mapping[str, str]) -> tuple[str, ...]:
    """Batch columns that may hold Sigma field ``field``, best first."""
    name = fieldmap.get(field, field)
    if name in SPECIAL_FIELDS:
        return SPECIAL_FIELDS[name]
    found = [EVENT_DATA + name, USER_DATA + name]
    for key in dict.fromkeys((name, field)):
        found.extend(ECS_FALLBACK.get(key, ()))
        if key in SIGMA_TO_ECS:
            found.append(SIGMA_TO_ECS[key])
    if "." in field:
        # Rules written for ECS data name the ECS column itself.
        found.append(field)
    return tuple(dict.fromkeys(found))


class FieldResolver:
    """Builds the canonical column of a Sigma field for one frame schema.

    Column names are looked up exactly first, then case-insensitively and
    ignoring spaces (``Imagepath`` is ``ImagePath``; Defender writes the
    ``ThreatName`` field as ``Threat Name``).
    """

    def __init__(self, schema: Mapping[str, pl.DataType]) -> None:
        self.schema = schema
        self._loose: dict[str, str] = {}
        for name in schema:
            self._loose.setdefault(_loose(name), name)

    def _present(self, column: str) -> str | None:
        if column in self.schema:
            return column
        return self._loose.get(_loose(column))

    def columns(self, field: str, fieldmap: Mapping[str, str]) -> list[str]:
        """The batch columns present for ``field``, best first.

        When the raw ``winlog.event_data``/``user_data`` column is there, only
        it counts: an ECS column is filled from several raw fields, and a row
        without the raw field does not have the Sigma field. An ECS column
        counts only for input that came without the raw fields it is made of
        (a shipper that keeps ECS fields only).
        """
        present = [p for p in (self._present(c) for c in candidates(field, fieldmap)) if p]
        raw = [c for c in present if c.startswith((EVENT_DATA, USER_DATA))]
        if raw:
            return list(dict.fromkeys(raw))
        # An ECS column the reader filled from other raw fields of these events
        # (``winlog.logon.id`` from ``SubjectLogonId`` in a Security batch) is
        # not this field: whether a batch has the raw field must not depend on
        # the other channels read with it.
        return list(dict.fromkeys(c for c in present if c == field or not self._derived(c)))

    def _derived(self, column: str) -> bool:
        return any(
            self._present(prefix + name)
            for name in ECS_FROM_EVENT_DATA.get(column, ())
            for prefix in (EVENT_DATA, USER_DATA)
        )

    def expr(self, field: str, fieldmap: Mapping[str, str]) -> pl.Expr:
        """The field's value as text (null where the field does not exist)."""
        exprs = [self._text(c) for c in self.columns(field, fieldmap)]
        if not exprs:
            return pl.lit(None, dtype=pl.String)
        if len(exprs) == 1:
            return exprs[0]
        return pl.coalesce(exprs)

    def _text(self, column: str) -> pl.Expr:
        dtype = self.schema[column]
        col = pl.col(column)
        if dtype == pl.String:
            return col
        if isinstance(dtype, pl.List):
            return col.cast(pl.List(pl.String), strict=False).list.join("\n")
        if isinstance(dtype, pl.Struct):
            return col.struct.json_encode()
        if dtype == pl.Binary:
            return col.cast(pl.String, strict=False)
        return col.cast(pl.String, strict=False)


def _loose(name: str) -> str:
    return name.lower().replace(" ", "")
