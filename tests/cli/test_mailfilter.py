from __future__ import annotations

from sekimori.cli.mailfilter import _store_sink
from sekimori.mail.scan import scan_bytes
from sekimori.samples import mail as samples
from sekimori.store.store import Store


def test_findings_of_filtered_mail_reach_the_store(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'sekimori.db'}"
    sink = _store_sink(url)
    result = scan_bytes(samples.emotet_invoice_mail(), "m.eml")
    sink(result, ["tanaka@example.co.jp"])
    with Store.open(url) as store:
        assert store.count_findings() >= 3
        findings = store.findings_for("default", "mail-gateway")
        assert {f.ruleset for f in findings} == {"sekimori-mail"}
        assert findings[0].user_name == "tanaka@example.co.jp"
        assert store.list_incidents()
