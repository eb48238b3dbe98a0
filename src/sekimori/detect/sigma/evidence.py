"""A Sigma match's evidence: the selections true on the event, the fields they read, the values.

Apart from the engine (which imports the compiler, and pySigma): the hunt's
process builds the evidence of a Sigma worker's matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sekimori.detect.sigma.fields import column_name

if TYPE_CHECKING:
    from sekimori.detect.sigma.compiler import CompiledRule


SelectionColumns = Mapping[str, tuple[tuple[str, str], ...]]
"""Per selection name, the Sigma fields it reads with their canonical columns."""


def selection_columns(rule: CompiledRule) -> SelectionColumns:
    """What ``evidence_of`` needs to know of ``rule``."""
    return {s.name: tuple((f, column_name(f)) for f in s.fields) for s in rule.selections}


def evidence_of(
    columns: SelectionColumns,
    names: Sequence[str],
    row: Mapping[str, object],
    values: Mapping[str, list[str]] | None,
) -> dict[str, object]:
    """A match's evidence: selections ``names`` true on ``row``, the fields they read, the values.

    ``values`` are the rule values that matched, per field (``Match.values``).
    """
    fields: dict[str, object] = {}
    for name in names:
        for fname, column in columns[name]:
            value = row.get(column)
            if value is not None:
                fields[fname] = value
    out: dict[str, object] = {"selections": list(names), "fields": fields}
    if values:
        out["values"] = {k: list(v) for k, v in values.items()}
    return out


__all__ = ["SelectionColumns", "evidence_of", "selection_columns"]
