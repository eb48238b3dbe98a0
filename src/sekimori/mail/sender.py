"""Who the message claims to be from, and whether to believe it.

Checks: ``Authentication-Results`` (RFC 8601) and ``Received-SPF`` verdicts
for SPF, DKIM and DMARC; Reply-To and Return-Path domains against the From
domain; display names that carry another address or the recipient's own
organization while the address is outside; sender domains that imitate
the recipient's domain; and the reply-hijack pattern Emotet made famous
(a "Re:" from an outside domain that continues or quotes an internal
thread: In-Reply-To/References at an internal domain, or quoted internal
addresses). "Internal" is the configured list of domains or, by default,
the recipients' domains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sekimori.mail.mime import ParsedMessage
from sekimori.mail.observables import registrable_domain
from sekimori.mail.result import Analysis
from sekimori.model import Observable

_AUTH_RE = re.compile(r"(?i)\b(spf|dkim|dmarc)\s*=\s*([a-z]+)")
_FAILING = {
    "spf": {"fail", "softfail", "permerror"},
    "dkim": {"fail", "permerror"},
    "dmarc": {"fail", "quarantine", "reject"},
}
_REPLY_RE = re.compile(r"(?i)^\s*(?:\[[^\]]*\]\s*)?(?:re|fw|fwd|aw|sv|返信|転送|ＲＥ)\s*[:：]")
# Bounded repetitions keep the scan linear on hostile text (no @, endless dots).
_ADDRESS_RE = re.compile(r"(?i)[a-z0-9._%+-]{1,64}@((?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24})")
_MSGID_DOMAIN_RE = re.compile(r"@([A-Za-z0-9.-]+)>")
_QUOTE_MARKERS = re.compile(
    r"(?im)^(?:>|-+\s*original message|-+\s*元のメッセージ|from:|差出人:|送信者:|"
    r"on .{5,80} wrote:|.{2,60}(?:さんは書きました|wrote):)"
)


def _failures(msg: ParsedMessage) -> dict[str, str]:
    found: dict[str, str] = {}
    # The topmost Authentication-Results is the one our own MX added.
    for value in msg.header("Authentication-Results")[:1]:
        for method, outcome in _AUTH_RE.findall(value):
            method, outcome = method.lower(), outcome.lower()
            if outcome in _FAILING[method]:
                found.setdefault(method, outcome)
    for value in msg.header("Received-SPF")[:1]:
        outcome = value.split(None, 1)[0].lower() if value.strip() else ""
        if outcome in _FAILING["spf"]:
            found.setdefault("spf", outcome)
    return found


def _similar(a: str, b: str) -> bool:
    """Edit distance of at most two between two registrable labels (look-alikes)."""
    if a == b or abs(len(a) - len(b)) > 2 or min(len(a), len(b)) < 4:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 2


def _label(domain: str) -> str:
    return registrable_domain(domain).split(".")[0]


def analyze_sender(msg: ParsedMessage, internal_domains: Sequence[str] = ()) -> Analysis:
    """Check the sender of ``msg``; ``internal_domains`` names the recipient's organization."""
    result = Analysis(kind="sender")
    sender = msg.sender
    internal = {registrable_domain(d) for d in internal_domains if d} or {
        registrable_domain(a.domain) for a in msg.recipients if a.domain
    }
    failures = _failures(msg)
    if failures:
        result.hit("sender.auth_fail", results=failures)
    if sender is None or not sender.domain:
        return result
    result.observables.append(Observable("email", sender.address))
    from_domain = registrable_domain(sender.domain)
    outside = from_domain not in internal
    result.facts.update(from_domain=from_domain, internal=sorted(internal), outside=outside)
    reply_domains = {registrable_domain(a.domain) for a in msg.reply_to if a.domain}
    if reply_domains and from_domain not in reply_domains:
        result.hit("sender.reply_to_mismatch", reply_to=sorted(reply_domains), sender=from_domain)
    if msg.return_path and "@" in msg.return_path:
        envelope = registrable_domain(msg.return_path.rpartition("@")[2])
        if envelope != from_domain:
            result.hit("sender.return_path_mismatch", return_path=envelope, sender=from_domain)
    name = sender.name.lower()
    shown = [registrable_domain(d) for d in _ADDRESS_RE.findall(name)]
    if any(d != from_domain for d in shown):
        result.hit("sender.display_name_spoof", display_name=sender.name, address=sender.address)
    elif outside and any(_label(d) in name or d in name for d in internal if len(_label(d)) >= 4):
        result.hit(
            "sender.display_name_spoof",
            display_name=sender.name,
            address=sender.address,
            imitates=sorted(internal),
        )
    if outside:
        for domain in internal:
            theirs, ours = _label(from_domain), _label(domain)
            if _similar(theirs, ours) or (theirs != ours and theirs.replace("-", "") == ours):
                result.hit("sender.lookalike_domain", sender=from_domain, imitates=domain)
    if outside and internal and _REPLY_RE.match(msg.subject):
        _reply_hijack(msg, internal, from_domain, result)
    if outside and "sender.display_name_spoof" not in {h.id for h in result.hits}:
        colleague = _quoted_colleague(msg, internal)
        if colleague is not None:
            result.hit(
                "sender.display_name_spoof",
                display_name=sender.name,
                address=sender.address,
                imitates=colleague,
            )
    return result


# Matched line by line on quoted lines of bounded length (see ``_quoted_lines``).
_QUOTED_SENDER = re.compile(
    r"(?i)^(?:from|差出人|送信者)[ \t]*[:：][ \t]*\"?([^\"<]{1,100}?)\"?[ \t]*<([^>\s]{1,200})>"
)
_QUOTED_AUTHOR = re.compile(
    r"(?i)^(?:on[ \t].{5,120}?,[ \t]*([^,<]{1,80}?)|([^<]{1,80}?)[ \t]*さんは書きました)"
    r"[ \t]*(?:<[^>]{0,200}>)?[ \t]*(?:wrote)?[ \t]*[:：]?[ \t]*$"
)
MAX_QUOTED_LINE = 300
MAX_QUOTED_LINES = 5000


def _quoted_lines(text: str) -> list[str]:
    """Lines of the body without quote marks, short enough to be headers or attributions."""
    out = []
    for line in text.splitlines()[:MAX_QUOTED_LINES]:
        stripped = line.lstrip("> \t")
        if 0 < len(stripped) <= MAX_QUOTED_LINE:
            out.append(stripped)
    return out


def _quoted_colleague(msg: ParsedMessage, internal: set[str]) -> str | None:
    """The internal colleague whose quoted display name the outside sender borrowed.

    A quoted ``From: name <address>`` at an internal domain counts; so does an
    attribution line (``On …, name wrote:``) when the thread itself is internal.
    """
    if msg.sender is None:
        return None
    name = re.sub(r"\s+", "", msg.sender.name)
    if len(name) < 2:
        return None
    lines = _quoted_lines(msg.text)
    for match in filter(None, map(_QUOTED_SENDER.match, lines)):
        shown, address = match.group(1), match.group(2)
        if "@" not in address:
            continue
        domain = registrable_domain(address.rpartition("@")[2])
        if domain in internal and re.sub(r"\s+", "", shown) == name:
            return str(address).lower()
    thread = {
        registrable_domain(d)
        for d in _MSGID_DOMAIN_RE.findall(f"{msg.in_reply_to} {msg.references}")
    }
    if thread & internal:
        for match in filter(None, map(_QUOTED_AUTHOR.match, lines)):
            english, japanese = match.group(1), match.group(2)
            if re.sub(r"\s+", "", english or japanese) == name:
                return str(english or japanese).strip()
    return None


def _reply_hijack(
    msg: ParsedMessage, internal: set[str], from_domain: str, result: Analysis
) -> None:
    thread_domains = {
        registrable_domain(d)
        for d in _MSGID_DOMAIN_RE.findall(f"{msg.in_reply_to} {msg.references}")
    }
    threaded = sorted(thread_domains & internal)
    quoted = []
    if _QUOTE_MARKERS.search(msg.text):
        quoted = sorted({registrable_domain(d) for d in _ADDRESS_RE.findall(msg.text)} & internal)
    if threaded or quoted:
        result.hit(
            "sender.reply_hijack",
            subject=msg.subject,
            sender=from_domain,
            thread_domains=threaded,
            quoted_domains=quoted,
        )
