from __future__ import annotations

from sekimori.mail.reasons import REASONS
from sekimori.mail.result import Hit, Verdict
from sekimori.mail.verdict import decide


def test_every_reason_is_explained_in_both_languages() -> None:
    for spec in REASONS.values():
        assert spec.en.endswith(".") and spec.ja.endswith("。"), spec.id
        assert all(t.startswith("T") for t in spec.techniques), spec.id


def test_ppap_and_failed_spf_alone_stay_clean() -> None:
    decision = decide([Hit("archive.password_from_body"), Hit("sender.auth_fail")])
    assert decision.verdict == Verdict.CLEAN and decision.score == 20


def test_thresholds_and_dedup() -> None:
    assert decide([Hit("link.download"), Hit("link.download", location="x")]).score == 30
    assert decide([Hit("link.download")]).verdict == Verdict.SUSPICIOUS
    assert decide([Hit("office.mraptor_suspicious"), Hit("office.vba_autoexec")]).verdict == (
        Verdict.MALICIOUS
    )


def test_unscannable_unless_already_malicious() -> None:
    assert decide([Hit("archive.bomb")]).verdict == Verdict.UNSCANNABLE
    malicious = decide([Hit("archive.bomb"), Hit("attachment.executable")])
    assert malicious.verdict == Verdict.MALICIOUS and malicious.unscannable_reason


def test_reasons_carry_evidence_and_techniques() -> None:
    decision = decide([Hit("decode.powershell_encoded", {"decoded": "x"}, "a.doc")])
    reason = decision.reasons[0]
    assert reason.evidence == {"decoded": "x"} and reason.location == "a.doc"
    assert "T1059.001" in reason.techniques and reason.ja
