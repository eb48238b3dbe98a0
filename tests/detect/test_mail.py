from __future__ import annotations

import mailbox

from sekimori.detect.mail import GATEWAY_HOST, RULESET, MailDetector, read_message
from sekimori.model import Stage
from sekimori.samples import mail as samples
from sekimori.sources import ReadContext, read_file
from tests.conftest import shared_path


def batches(path):
    return [fb.batch for fb in read_file(path, ReadContext()) if fb.batch.dataset == "email"]


def test_findings_for_a_malicious_eml() -> None:
    path = shared_path("office", "synthetic", "synthetic_eml", "jp_2020_pwzip_invoice.eml")
    detector = MailDetector()
    findings = [f for b in batches(path) for f in detector.detect(b, detector.new_state())]
    rules = {f.rule_id for f in findings}
    assert {"office.xlm_macros", "archive.password_from_body"} <= rules
    first = findings[0]
    assert first.ruleset == RULESET and first.stage == Stage.DELIVERY
    assert first.host_name == GATEWAY_HOST and first.user_name == "tanaka@example.jp"
    assert first.severity.value == "high" and first.log_file_path == str(path)
    assert any(o.type == "hash" for o in first.observables)
    assert first.to_json()["evidence"]["verdict"] == "malicious"


def test_mbox_messages_reread_by_offset(tmp_path) -> None:
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    box.add(samples.clean_mail())
    box.add(samples.link_mail())
    box.add(samples.clean_ppap_mail())
    box.close()
    detector = MailDetector(hosts={"tanaka@example.co.jp": "ws-tanaka"})
    findings = [f for b in batches(tmp_path / "inbox.mbox") for f in detector.detect(b, None)]
    assert findings and {f.rule_id for f in findings} >= {"link.download", "link.raw_ip"}
    assert all(f.evidence["message"]["subject"] for f in findings)
    offsets = [m for m in batches(tmp_path / "inbox.mbox")[0].frame["log.offset"]]
    assert b"info@examp1e" in read_message(str(tmp_path / "inbox.mbox"), offsets[1])


def test_clean_mail_gives_no_finding(tmp_path) -> None:
    (tmp_path / "clean.eml").write_bytes(samples.clean_mail())
    detector = MailDetector()
    assert [f for b in batches(tmp_path / "clean.eml") for f in detector.detect(b, None)] == []


def test_isolated_scans_in_a_sandbox_closed_at_the_end(tmp_path) -> None:
    (tmp_path / "lure.eml").write_bytes(samples.emotet_invoice_mail())
    detector = MailDetector()
    state = detector.new_state()
    assert state.sandbox is None
    findings = [f for b in batches(tmp_path / "lure.eml") for f in detector.detect(b, state)]
    assert state.sandbox is not None
    assert "office.mraptor_suspicious" in {f.rule_id for f in findings}
    assert detector.finish(state) == [] and state.sandbox is None


def test_a_reason_is_as_severe_as_its_weight_and_never_above_its_verdict() -> None:
    from sekimori.detect.mail import reason_severity
    from sekimori.mail.result import Verdict
    from sekimori.model import Severity

    assert reason_severity(30, Verdict.MALICIOUS) is Severity.HIGH
    assert reason_severity(5, Verdict.MALICIOUS) is Severity.LOW  # the PPAP zip it came in
    assert reason_severity(0, Verdict.MALICIOUS) is Severity.INFORMATIONAL
    assert reason_severity(30, Verdict.SUSPICIOUS) is Severity.MEDIUM
