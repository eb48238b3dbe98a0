"""Golden verdicts on the public samples: a change of verdict or reasons is a visible decision.

Regenerate ``tests/data/mail/golden.json`` only on purpose, after checking
each changed verdict by hand.
"""

from __future__ import annotations

import json

import pytest

from sekimori.mail.scan import scan_file
from tests.conftest import TEST_DATA, shared_path

GOLDEN = json.loads((TEST_DATA / "mail" / "golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("relative", sorted(GOLDEN))
def test_golden_verdict(relative: str) -> None:
    result = scan_file(shared_path("office", *relative.split("/")))
    assert {
        "verdict": result.verdict.value,
        "reasons": sorted({r.id for r in result.reasons}),
    } == GOLDEN[relative]
