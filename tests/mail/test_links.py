from __future__ import annotations

from sekimori.mail.links import analyze_links, html_links
from sekimori.mail.mime import parse_message
from tests.conftest import shared_path


def ids(analysis) -> set[str]:
    return {h.id for h in analysis.hits}


def test_text_mismatch_raw_ip_download_and_punycode() -> None:
    markup = (
        '<p>Login: <a href="http://203.0.113.5/x.exe">https://www.bank.example.jp/login</a></p>'
        '<a href="https://xn--80ak6aa92e.com/">apple.com</a>'
    )
    result = analyze_links("", [markup])
    assert ids(result) == {"link.raw_ip", "link.download", "link.text_mismatch", "link.punycode"}
    puny = next(h for h in result.hits if h.id == "link.punycode")
    assert puny.evidence["shown"] == "аррӏе.com"


def test_same_site_link_text_is_fine() -> None:
    markup = '<a href="https://www.example.co.jp/news?id=1">www.example.co.jp</a>'
    assert analyze_links("", [markup]).hits == []


def test_invoice_link_mail() -> None:
    raw = shared_path("office", "synthetic", "synthetic_eml", "en_2018_link_invoice_doc.eml")
    msg = parse_message(raw.read_bytes())
    result = analyze_links(msg.text, msg.html)
    assert ids(result) == {"link.download"}
    assert {o.value for o in result.observables} >= {"compromised-wp.example.invalid"}


def test_gateway_wrapped_urls_are_unwrapped() -> None:
    raw = shared_path("office", "strelka-fixtures", "test_email_gateway_links.eml")
    msg = parse_message(raw.read_bytes())
    result = analyze_links(msg.text, msg.html)
    assert "https://actual-destination.example.com/path?foo=bar" in result.urls
    assert "https://encoded-destination.example.com/path?foo=bar" in result.urls
    assert result.hits == []


def test_link_stress_mail_is_clean_and_deduplicated() -> None:
    raw = shared_path("office", "strelka-fixtures", "test_email_link_stress.eml")
    msg = parse_message(raw.read_bytes())
    result = analyze_links(msg.text, msg.html)
    assert result.hits == [] and len(result.urls) == len(set(result.urls)) > 10


def test_html_links_visible_text() -> None:
    links, text = html_links('<a href="http://a.example/">click &amp; go</a> tail')
    assert links[0].href == "http://a.example/" and links[0].text == "click & go"
    assert "tail" in text
