"""Sekimori's data folder: ``SEKIMORI_HOME``, else the platform's user data folder.

For example ``~/.local/share/sekimori`` on Linux. It holds the store, the
indicator store and the quarantine. This module imports nothing heavy, so a
command can look for a file there before it decides what to import.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "SEKIMORI_HOME"
INTEL_FILE = "intel.sqlite"


def data_dir() -> Path:
    """The folder that holds Sekimori's data (not created here)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    return Path(platformdirs.user_data_dir("sekimori", appauthor=False))


def intel_store_path() -> Path:
    """The indicator store's SQLite file (``sekimori intel update`` writes it)."""
    return data_dir() / INTEL_FILE
