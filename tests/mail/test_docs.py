from __future__ import annotations

from sekimori.mail.reasons import REASONS
from tests.conftest import REPO_ROOT


def test_every_reason_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "mail.md").read_text(encoding="utf-8")
    missing = [rid for rid in REASONS if f"`{rid}`" not in text]
    assert missing == []
