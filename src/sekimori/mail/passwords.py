"""Candidate archive/document passwords written in a message (the PPAP habit).

Japanese business mail often sends an encrypted zip with the password in
the same or the next mail: ``パスワード: Gd82kLp``, ``PW：xxxx``,
``Password: xxxx``, ``解凍パスワードは「xxxx」です``, or a line saying the
password follows and the password alone on the next line. Candidates are
returned as written and in NFKC form (full-width letters made half-width).
"""

from __future__ import annotations

import re
import unicodedata

from sekimori.mail.casefold import folded

_LABEL = (
    r"(?:解凍\s*)?(?:パスワード|パス\s*ワード|ﾊﾟｽﾜｰﾄﾞ|暗証番号|password|passwort|passcode|"
    r"pass\s*word|pwd|pw|pass|パス)"
)
# "Password: xxx", "PW：xxx", "パスワードは xxx", "パスワード【xxx】"
_INLINE = re.compile(
    _LABEL + r"\s*(?:は|is)?\s*(?:[:：=＝]|は|is|[【「『(（\[])\s*[「『\"'【(（\[]?"
    r"\s*([^\s「」『』\"'【】()（）\[\]]{3,64})",
    re.IGNORECASE,
)
# A line that announces the password without giving it ("パスワードは以下の通りです。")
_ANNOUNCE = re.compile(
    _LABEL + r".{0,60}(?:以下|下記|次の|below|follows|(?:[:：]\s*$))", re.IGNORECASE
)
_NOT_A_PASSWORD = re.compile(
    r"^(?:以下|下記|次の|別|後ほど|追って|below|follows|sent)", re.IGNORECASE
)
_TRAILING = "。、，,.;；)）」』】]"
_STOPWORDS = {
    "です",
    "は",
    "別途",
    "別メール",
    "別送",
    "以下",
    "下記",
    "below",
    "follows",
    "protected",
    "separately",
}
MAX_CANDIDATES = 12
# Text one of ``_LABEL``'s words holds, as ``casefold.folded`` gives it: a text
# without any has no password to find (most mail).
_LABEL_TEXTS = ("pass", "pw", "パス", "ﾊﾟｽﾜｰﾄﾞ", "暗証番号")


def _clean(token: str) -> str:
    token = token.strip().strip(_TRAILING)
    for suffix in ("です", "となります", "になります", "でございます"):
        if token.endswith(suffix):
            token = token[: -len(suffix)]
    return token.strip(_TRAILING)


def find_passwords(text: str) -> tuple[str, ...]:
    """Candidate passwords in ``text``, most explicit first, at most ``MAX_CANDIDATES``."""
    lowered = folded(text)
    if not any(label in lowered for label in _LABEL_TEXTS):
        return ()
    found: list[str] = []
    lines = [ln.strip() for ln in text.splitlines()]
    for index, line in enumerate(lines):
        if not line or line.startswith(">"):
            continue
        for match in _INLINE.finditer(line):
            token = match.group(1)
            if not _NOT_A_PASSWORD.match(token):
                found.extend((_clean(token), token.strip()))
        if _ANNOUNCE.search(line) or re.fullmatch(_LABEL + r"\s*", line, re.IGNORECASE):
            for following in lines[index + 1 : index + 4]:
                if following:
                    if len(following) <= 64 and " " not in following.strip():
                        found.append(_clean(following))
                    break
    out: list[str] = []
    for token in found:
        for variant in (token, unicodedata.normalize("NFKC", token)):
            if len(variant) >= 3 and variant.lower() not in _STOPWORDS and variant not in out:
                out.append(variant)
    return tuple(out[:MAX_CANDIDATES])
