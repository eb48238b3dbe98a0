from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from sekimori.store import data_dir, default_db_url


def test_default_is_sqlite_in_the_platform_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEKIMORI_DB", raising=False)
    monkeypatch.delenv("SEKIMORI_HOME", raising=False)
    expected = Path(platformdirs.user_data_dir("sekimori", appauthor=False))
    assert data_dir() == expected
    assert default_db_url() == f"sqlite:///{(expected / 'sekimori.db').as_posix()}"


def test_sekimori_home_moves_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEKIMORI_DB", raising=False)
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    assert data_dir() == tmp_path
    assert default_db_url() == f"sqlite:///{tmp_path.as_posix()}/sekimori.db"


def test_sekimori_db_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    monkeypatch.setenv("SEKIMORI_DB", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert default_db_url() == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
