"""The network detectors of a hunt, built from the site file and the intel feeds given.

``network_detectors`` is what the hunt pipeline calls: threat-intel matching
(when feeds are given), beacon scoring, lateral movement and password
guessing, spam bots and loader downloads, all parametrized by the site
configuration (``sekimori.config``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sekimori.config import SiteConfig
from sekimori.detect.base import Detector
from sekimori.detect.beacon import BeaconDetector
from sekimori.detect.download import LoaderDownloadDetector
from sekimori.detect.ioc import IntelDetector
from sekimori.detect.lateral import LateralMovementDetector
from sekimori.detect.spam import SpamBotDetector
from sekimori.intel.feeds import read_feed
from sekimori.intel.indicator import Indicator
from sekimori.intel.matcher import IntelIndex

log = logging.getLogger(__name__)


def load_index(intel_files: Iterable[Path]) -> IntelIndex:
    """An index of every indicator in ``intel_files`` (formats sniffed).

    A hunt matches every indicator it is given, expired or not: old logs are
    judged with the feeds the analyst chose. Raises ``IntelError`` (naming the
    file) when a feed cannot be read at all; entries that cannot be read are
    skipped and logged.
    """
    indicators: list[Indicator] = []
    for path in intel_files:
        result = read_feed(path)
        if result.report.skipped:
            log.warning(
                "%s: %d feed entries skipped (first: %s)",
                path,
                result.report.skipped,
                result.report.problems[0] if result.report.problems else "?",
            )
        indicators.extend(result.indicators)
    return IntelIndex.build(indicators)


def network_detectors(site: SiteConfig, intel_files: list[Path]) -> list[Detector]:
    """The network detectors for one hunt, in the order they run."""
    return detectors_for_index(site, load_index(intel_files))


def detectors_for_index(site: SiteConfig, index: IntelIndex) -> list[Detector]:
    """The network detectors with an indicator index already loaded."""
    detectors: list[Detector] = []
    if len(index):
        detectors.append(IntelDetector(index))
    detectors.extend(
        [
            BeaconDetector(site),
            LateralMovementDetector(site),
            SpamBotDetector(site),
            LoaderDownloadDetector(site, index if len(index) else None),
        ]
    )
    return detectors
