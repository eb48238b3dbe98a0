r"""Where the store lives: the platform's data directory, or what the user says.

Order of precedence: an explicit URL (``--db``), then ``SEKIMORI_DB``, then a
SQLite file in the data directory. The data directory is ``SEKIMORI_HOME``
when set, else ``platformdirs.user_data_dir("sekimori")`` (for example
``~/.local/share/sekimori`` on Linux, ``~/Library/Application Support/sekimori``
on macOS, ``%LOCALAPPDATA%\sekimori`` on Windows).
"""

from __future__ import annotations

import os

from sekimori.home import data_dir

DB_ENV = "SEKIMORI_DB"
DB_FILE = "sekimori.db"


def default_db_url() -> str:
    """The database URL to use when none is given: ``SEKIMORI_DB`` or SQLite in ``data_dir()``."""
    url = os.environ.get(DB_ENV)
    if url:
        return url
    return f"sqlite:///{(data_dir() / DB_FILE).as_posix()}"


__all__ = ["DB_ENV", "DB_FILE", "data_dir", "default_db_url"]
