"""Fixtures of the Sigma tests: SigmaHQ's rule folders, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sekimori.detect.sigma.detector import SigmaDetector
from tests.conftest import shared_path

SIGMAHQ_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


@pytest.fixture(scope="session")
def sigmahq_folders() -> list[Path]:
    """SigmaHQ's Windows, emerging-threats and threat-hunting rule folders."""
    return [shared_path("sigma", name) for name in SIGMAHQ_FOLDERS]


@pytest.fixture(scope="session")
def sigmahq_detector(sigmahq_folders: list[Path]) -> SigmaDetector:
    """A detector with every SigmaHQ rule and the bundled pack."""
    return SigmaDetector(sigmahq_folders)
