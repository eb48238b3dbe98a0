"""A store in tmp_path with a few incidents, hostile ones among them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sekimori.model import Severity
from sekimori.store import Store
from tests.store.samples import HOSTILE_ATTR, HOSTILE_SCRIPT, JAPANESE, chain, finding, incident


@pytest.fixture
def seeded_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'console.db'}")
    infected = chain(host="WS-ACCT-07", n=3)
    hostile = [
        finding(
            host_name=HOSTILE_SCRIPT,
            rule_name=HOSTILE_ATTR,
            evidence={"process.command_line": HOSTILE_SCRIPT, "email.subject": HOSTILE_ATTR},
        )
    ]
    japanese = [finding(host_name="経理部-PC01", evidence={"email.subject": JAPANESE})]
    quiet = chain(host="PRINTER-02", n=1)
    store.save_findings(infected + hostile + japanese + quiet)
    store.upsert_incidents(
        [
            incident(infected, id="inc-infected", severity=Severity.CRITICAL, score=88.0),
            incident(hostile, id="inc-hostile", summary=HOSTILE_ATTR + HOSTILE_SCRIPT, score=30.0),
            incident(japanese, id="inc-ja", summary=JAPANESE, score=20.0),
            incident(quiet, id="inc/quiet?x#y", severity=Severity.LOW, score=1.0),
        ]
    )
    try:
        yield store
    finally:
        store.close()
