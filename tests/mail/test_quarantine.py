from __future__ import annotations

import hashlib
import stat

import pytest

from sekimori.errors import MailError
from sekimori.mail.quarantine import Quarantine, default_root


def test_store_and_release_round_trip(tmp_path) -> None:
    box = Quarantine(tmp_path / "q")
    data = b"original message bytes"
    sha = box.store(data, {"verdict": "malicious", "score": 100})
    assert sha == hashlib.sha256(data).hexdigest()
    assert box.release(sha) == data
    assert box.info(sha)["verdict"]["verdict"] == "malicious"
    assert list(box) == [sha] and sha in box
    assert box.store(data, {"verdict": "malicious"}) == sha
    blob = tmp_path / "q" / sha[:2] / sha[2:4] / f"{sha}.bin"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600


def test_bad_or_unknown_digest(tmp_path) -> None:
    box = Quarantine(tmp_path)
    with pytest.raises(MailError):
        box.release("../../etc/passwd")
    with pytest.raises(MailError):
        box.release("0" * 64)
    assert "nope" not in box


def test_damaged_item_is_refused(tmp_path) -> None:
    box = Quarantine(tmp_path)
    sha = box.store(b"abc")
    (tmp_path / sha[:2] / sha[2:4] / f"{sha}.bin").write_bytes(b"tampered")
    with pytest.raises(MailError, match="damaged"):
        box.release(sha)


def test_default_root_follows_sekimori_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    assert default_root() == tmp_path / "quarantine"


def test_release_history_survives_storing_again(tmp_path) -> None:
    box = Quarantine(tmp_path)
    sha = box.store(b"mail", {"verdict": "malicious"})
    assert box.mark_released(sha, "out.eml")["released"][0]["to"] == "out.eml"
    box.store(b"mail", {"verdict": "suspicious"})
    record = box.info(sha)
    assert record["verdict"]["verdict"] == "suspicious" and len(record["released"]) == 1


def test_unreadable_record_is_a_mail_error(tmp_path) -> None:
    box = Quarantine(tmp_path)
    sha = box.store(b"abc")
    (tmp_path / sha[:2] / sha[2:4] / f"{sha}.json").write_text("[1, 2")
    with pytest.raises(MailError, match="unreadable"):
        box.info(sha)
