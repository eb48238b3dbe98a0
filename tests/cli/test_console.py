"""Tables keep their width when piped."""

from __future__ import annotations

import io

import pytest

from sekimori.cli.console import PIPED_WIDTH, table_console


def test_piped_tables_are_not_wrapped_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert table_console().width == PIPED_WIDTH
