"""Shared test fixtures: the public data folder and the local services.

Tests that need ``../shared/data`` or a service skip with a clear reason when it
is absent, except under ``CI=true``, where a missing piece is a failure.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI") == "true"


def missing(reason: str) -> None:
    """Skip the test, or fail it under CI where everything must be present."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping (or failing in CI) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        missing(f"public test data not found: {path}")
    return path


def require_service(host: str, port: int, name: str) -> None:
    """Skip (or fail in CI) unless something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        missing(f"{name} is not running on {host}:{port}")


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder."""
    return shared_path()


@pytest.fixture
def postgres_url() -> str:
    """A SQLAlchemy URL of the local PostgreSQL test database."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    return os.environ.get("SEKIMORI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def nats_url() -> str:
    """The URL of the local NATS JetStream server."""
    require_service("127.0.0.1", 4222, "NATS")
    return "nats://127.0.0.1:4222"
