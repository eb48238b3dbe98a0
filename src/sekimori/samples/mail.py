"""Builders of Internet messages (RFC 5322 / MIME) as Japanese companies receive them.

:func:`build_mail` writes a message with the standard ``email`` package:
non-ASCII display names and subjects as RFC 2047 encoded-words in the chosen
charset (ISO-2022-JP by default, as Japanese mailers still send), bodies in
that charset (7bit for ISO-2022-JP, base64 otherwise), ``multipart/alternative``
when there is HTML and ``multipart/mixed`` when there are attachments, whose
Japanese file names are RFC 2231 parameters (``filename*=utf-8''…``) or, as
some Japanese mailers do, RFC 2047 words in quotes. Lines end with CRLF.

The scenario helpers build the mails of an Emotet wave and the clean mail of an
ordinary day: :func:`emotet_invoice_mail`, :func:`reply_hijack_mail`,
:func:`link_mail`, :func:`emotet_lnk_mail`, :func:`emotet_xlm_mail`,
:func:`emotet_padded_doc_mail`, :func:`emotet_onenote_mail`,
:func:`clean_ppap_mail`, :func:`ppap_password_mail`,
:func:`clean_mail`. Every address and link is under ``example.com``,
``example.net``, ``.invalid`` or TEST-NET; attached macros are inert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from email import encoders
from email.charset import BASE64, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from io import BytesIO
from typing import Literal, cast

from sekimori.samples import SampleError
from sekimori.samples.archive import build_padded_zip, build_zip
from sekimori.samples.office import build_doc_with_macros, build_docm, build_xlsx
from sekimori.samples.onenote import build_one
from sekimori.samples.shortcut import build_lnk
from sekimori.samples.xls import build_xls_with_xlm

Address = str | tuple[str, str]
Attachment = tuple[str, bytes, str]
MailCharset = Literal["iso-2022-jp", "utf-8", "shift_jis"]

JST = timezone(timedelta(hours=9), "JST")
INTERNAL_DOMAIN = "example.com"
PARTNER_DOMAIN = "partner.example.net"
LOOKALIKE_DOMAIN = "examp1e.invalid"
MX_HOST = "mx.example.com"
DEFAULT_DATE = datetime(2026, 11, 25, 9, 12, 0, tzinfo=JST)
MIME_DOCM = "application/vnd.ms-word.document.macroEnabled.12"
MIME_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIME_ZIP = "application/zip"
MIME_XLS = "application/vnd.ms-excel"
MIME_ONENOTE = "application/onenote"


def _charset(name: str) -> Charset:
    """The email Charset for ``name`` that really outputs ``name``.

    The stdlib maps shift_jis and euc-jp to ISO-2022-JP on output; mail from
    Japanese webmail and old mailers is sent in Shift_JIS as such, so keep it.
    """
    charset = Charset(name)
    if name != "iso-2022-jp":
        charset.output_charset = name
        charset.output_codec = name
        charset.header_encoding = BASE64
        charset.body_encoding = BASE64
    return charset


def _address(value: Address, charset: Charset) -> str:
    name, addr = value if isinstance(value, tuple) else parseaddr(value)
    if "@" not in addr:
        raise SampleError(f"not a mail address: {value!r}")
    if not name:
        return addr
    return formataddr((name, addr), charset=charset if not name.isascii() else "us-ascii")


def _addresses(values: Address | Sequence[Address], charset: Charset) -> str:
    items = [values] if isinstance(values, str | tuple) else list(values)
    if not items:
        raise SampleError("no recipient")
    return ", ".join(_address(item, charset) for item in items)


def _header(text: str, charset: Charset, name: str) -> str | Header:
    if text.isascii():
        return text
    return Header(text, charset, header_name=name)


def _text_part(text: str, subtype: str, charset: Charset) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    try:
        part.set_payload(text, charset)
        return part
    except UnicodeEncodeError as exc:
        raise SampleError(f"body not representable in {charset}: {exc}") from exc


def _attachment(
    name: str, data: bytes, mime: str, charset: Charset, style: Literal["rfc2231", "rfc2047"]
) -> MIMEBase:
    maintype, _, subtype = mime.partition("/")
    if not maintype or not subtype:
        raise SampleError(f"not a MIME type: {mime!r}", where=name)
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    encoders.encode_base64(part)
    del part["Content-Type"]
    if name.isascii():
        part.add_header("Content-Type", mime, name=name)
        part.add_header("Content-Disposition", "attachment", filename=name)
    elif style == "rfc2231":
        part.add_header("Content-Type", mime, name=("utf-8", "", name))
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    else:
        encoded = Header(name, charset).encode(maxlinelen=10_000)
        part.add_header("Content-Type", mime, name=encoded)
        part.add_header("Content-Disposition", "attachment", filename=encoded)
    return part


def message_id(domain: str, *parts: str) -> str:
    """A deterministic Message-ID (RFC 5322 3.6.4) from ``parts`` at ``domain``."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:24]
    return f"<{digest}@{domain}>"


def auth_results(
    spf: str = "pass",
    dkim: str = "pass",
    dmarc: str = "pass",
    domain: str = PARTNER_DOMAIN,
    authserv_id: str = MX_HOST,
) -> str:
    """An Authentication-Results value (RFC 8601) for SPF, DKIM and DMARC results."""
    return (
        f"{authserv_id}; spf={spf} smtp.mailfrom={domain}; "
        f"dkim={dkim} header.d={domain}; dmarc={dmarc} header.from={domain}"
    )


def build_mail(
    from_: Address,
    to: Address | Sequence[Address],
    subject: str,
    body_text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    charset: MailCharset = "iso-2022-jp",
    reply_to: Address | None = None,
    return_path: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] | str | None = None,
    auth_results: str | None = None,
    date: datetime | None = None,
    *,
    cc: Address | Sequence[Address] | None = None,
    msg_id: str | None = None,
    received: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
    filename_style: Literal["rfc2231", "rfc2047"] = "rfc2231",
) -> bytes:
    """The bytes of one RFC 5322 message (CRLF line ends).

    ``from_``/``to``/``cc``/``reply_to`` are "Name <addr>" strings or
    (name, addr) pairs; Japanese names and the subject become RFC 2047
    encoded-words in ``charset``. ``attachments`` are (file name, bytes, MIME
    type). ``date`` must be timezone-aware (default: now, UTC). ``return_path``
    and ``received`` are written first, as the receiving MTA adds them.
    Raises SampleError for text the charset cannot carry.
    """
    when = date if date is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise SampleError("date must be timezone-aware")
    charset_ = _charset(charset)
    seed = hashlib.sha256(f"{from_}\x00{subject}\x00{when.isoformat()}".encode()).hexdigest()
    body: Message = _text_part(body_text, "plain", charset_)
    if html is not None:
        alternative = MIMEMultipart("alternative", boundary=f"=_alt_{seed[:24]}")
        alternative.attach(body)
        alternative.attach(_text_part(html, "html", charset_))
        body = alternative
    root: Message = body
    if attachments:
        root = MIMEMultipart("mixed", boundary=f"=_mix_{seed[24:48]}")
        root.attach(body)
        for name, data, mime in attachments:
            root.attach(_attachment(name, data, mime, charset_, filename_style))
    for part in root.walk():
        if part is not root:
            del part["MIME-Version"]
    content_headers = [(key, value) for key, value in root.items() if key != "MIME-Version"]
    for key in list(root.keys()):
        del root[key]
    sender = _address(from_, charset_)
    sender_domain = parseaddr(sender)[1].rpartition("@")[2]
    headers: list[tuple[str, str | Header]] = []
    if return_path is not None:
        headers.append(("Return-Path", f"<{return_path}>"))
    headers += [("Received", line) for line in received]
    if auth_results is not None:
        headers.append(("Authentication-Results", auth_results))
    headers += [("From", sender), ("To", _addresses(to, charset_))]
    if cc is not None:
        headers.append(("Cc", _addresses(cc, charset_)))
    headers += [
        ("Subject", _header(subject, charset_, "Subject")),
        ("Date", format_datetime(when)),
        ("Message-ID", msg_id or message_id(sender_domain, sender, subject, when.isoformat())),
    ]
    if reply_to is not None:
        headers.append(("Reply-To", _address(reply_to, charset_)))
    if in_reply_to is not None:
        headers.append(("In-Reply-To", in_reply_to))
    if references is not None:
        refs = references if isinstance(references, str) else " ".join(references)
        headers.append(("References", refs))
    headers += list(extra_headers)
    headers.append(("MIME-Version", "1.0"))
    for key, value in headers:
        # compat32 folds Header objects itself; typeshed only knows str values.
        root[key] = cast(str, value)
    for key, text in content_headers:
        root[key] = text
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=compat32.clone(linesep="\r\n")).flatten(root)
    return buffer.getvalue()


# --- scenarios ------------------------------------------------------------------------


def emotet_invoice_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産 佐藤", f"sato@{LOOKALIKE_DOMAIN}"),
    password: str = "Xk3m9Qa",  # noqa: S107 - the inert lure's zip password
    date: datetime = DEFAULT_DATE,
    invoice_no: str = "20261125",
) -> bytes:
    """An Emotet-style 請求書 lure: a ZipCrypto zip of a macro .docm, password in the body.

    The zip (``請求書_<no>.zip``) holds ``請求書_<no>.docm`` whose
    ``Document_Open`` macro is the inert dropper; the body says
    ``パスワード: <password>`` as PPAP mails do.
    """
    docm = build_docm(text=f"請求書 No.{invoice_no}\nコンテンツの有効化をクリックしてください。")
    archive = build_zip({f"請求書_{invoice_no}.docm": docm}, password=password, aes=False)
    to_name = to[0] if isinstance(to, tuple) else parseaddr(to)[0]
    body = (
        f"{to_name} 様\n\n"
        "いつも大変お世話になっております。\n"
        "株式会社サンプル物産の佐藤でございます。\n\n"
        f"{invoice_no[:4]}年{int(invoice_no[4:6])}月分の請求書を送付いたします。\n"
        "ご確認のほど、よろしくお願い申し上げます。\n\n"
        "添付ファイルはパスワード付きzipです。\n"
        f"パスワード: {password}\n\n"
        "--\n株式会社サンプル物産 経理部 佐藤\n"
    )
    domain = parseaddr(_address(from_, _charset("utf-8")))[1].rpartition("@")[2]
    return build_mail(
        from_,
        to,
        f"請求書送付のご案内（{invoice_no}）",
        body,
        attachments=[(f"請求書_{invoice_no}.zip", archive, MIME_ZIP)],
        return_path=f"bounce@{domain}",
        auth_results=auth_results("softfail", "none", "fail", domain),
        date=date,
    )


def reply_hijack_mail(
    to: Address = ("山本 一郎", f"yamamoto@{INTERNAL_DOMAIN}"),
    impersonated: Address = ("鈴木 花子", f"suzuki@{INTERNAL_DOMAIN}"),
    sender_domain: str = LOOKALIKE_DOMAIN,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """A reply inside a stolen internal thread, sent from an outside look-alike domain.

    The display name is a colleague's, the address is at ``sender_domain``,
    the subject is ``Re:`` of the internal thread, In-Reply-To/References
    point at the internal message, the body quotes it, and a macro .docm
    (``Document_Open``) is attached.
    """
    name = impersonated[0] if isinstance(impersonated, tuple) else parseaddr(impersonated)[0]
    original_from = _address(impersonated, _charset("utf-8"))
    original_id = message_id(INTERNAL_DOMAIN, "thread", original_from)
    original_date = date - timedelta(days=3)
    thread_subject = "来週の定例会議の資料について"
    quoted = (
        "山本さん\n\nお疲れさまです。鈴木です。\n"
        "来週の定例会議の資料を共有フォルダに置きました。\n"
        "ご確認をお願いします。\n"
    )
    body = (
        "山本さん\n\nお疲れさまです。\n"
        "修正版の資料を添付しますので、ご確認ください。\n\n"
        f"On {format_datetime(original_date)}, {name} wrote:\n"
        + "".join(f"> {line}\n" for line in quoted.splitlines())
    )
    docm = build_docm(text="会議資料（修正版）")
    return build_mail(
        (name, f"suzuki.h@{sender_domain}"),
        to,
        f"Re: {thread_subject}",
        body,
        attachments=[("会議資料_修正版.docm", docm, MIME_DOCM)],
        in_reply_to=original_id,
        references=[original_id],
        return_path=f"suzuki.h@{sender_domain}",
        auth_results=auth_results("pass", "none", "none", sender_domain),
        date=date,
    )


def link_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産", f"info@{LOOKALIKE_DOMAIN}"),
    url: str = "http://203.0.113.10/invoice.doc",
    shown: str = "https://www.example.com/invoice/請求書.pdf",
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """A mail whose link text shows one address while the href downloads a .doc from a raw IP."""
    text = (
        "いつもお世話になっております。\n\n"
        "請求書を下記URLよりダウンロードしてご確認ください。\n"
        f"{shown}\n\nよろしくお願いいたします。\n"
    )
    html = (
        "<html><body><p>いつもお世話になっております。</p>"
        "<p>請求書を下記URLよりダウンロードしてご確認ください。</p>"
        f'<p><a href="{url}">{shown}</a></p>'
        "<p>よろしくお願いいたします。</p></body></html>"
    )
    domain = parseaddr(_address(from_, _charset("utf-8")))[1].rpartition("@")[2]
    return build_mail(
        from_,
        to,
        "【至急】請求書のご確認のお願い",
        text,
        html=html,
        charset="utf-8",
        return_path=f"info@{domain}",
        auth_results=auth_results("fail", "none", "fail", domain),
        date=date,
    )


def emotet_lnk_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産 佐藤", f"sato@{LOOKALIKE_DOMAIN}"),
    password: str = "Lk7p2Wd",  # noqa: S107 - the inert lure's zip password
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """The 2022 variant: a ZipCrypto zip holding a .lnk that starts hidden PowerShell."""
    archive = build_zip({"請求書_20261125.lnk": build_lnk()}, password=password, aes=False)
    body = (
        "ご担当者様\n\nお世話になっております。\n請求書をお送りします。\n"
        f"パスワード: {password}\n\nよろしくお願いいたします。\n"
    )
    domain = parseaddr(_address(from_, _charset("utf-8")))[1].rpartition("@")[2]
    return build_mail(
        from_,
        to,
        "請求書の件",
        body,
        attachments=[("請求書_20261125.zip", archive, MIME_ZIP)],
        return_path=f"bounce@{domain}",
        auth_results=auth_results("softfail", "none", "fail", domain),
        date=date,
    )


def emotet_padded_doc_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産 佐藤", f"sato@{LOOKALIKE_DOMAIN}"),
    size: int = 500 * 1024**2,
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """The 2023 variant: a zip of a .doc padded with zeros to ``size`` (500 MB by default)."""
    doc = build_doc_with_macros(text="請求書\nコンテンツの有効化をクリックしてください。")
    archive = build_padded_zip("請求書_20261125.doc", doc, size)
    domain = parseaddr(_address(from_, _charset("utf-8")))[1].rpartition("@")[2]
    return build_mail(
        from_,
        to,
        "Re: 請求書",
        "請求書を添付いたします。ご確認ください。\n",
        attachments=[("請求書_20261125.zip", archive, MIME_ZIP)],
        return_path=f"bounce@{domain}",
        auth_results=auth_results("softfail", "none", "fail", domain),
        date=date,
    )


def emotet_onenote_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産 佐藤", f"sato@{LOOKALIKE_DOMAIN}"),
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """The 2023 OneNote variant: a .one attachment embedding an inert .vbs."""
    return build_mail(
        from_,
        to,
        "請求書送付のお知らせ",
        "請求書をOneNoteで送付いたします。ファイルを開いてダブルクリックしてください。\n",
        attachments=[("請求書_1125.one", build_one(), MIME_ONENOTE)],
        auth_results=auth_results("softfail", "none", "fail", LOOKALIKE_DOMAIN),
        date=date,
    )


def emotet_xlm_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("株式会社サンプル物産 佐藤", f"sato@{LOOKALIKE_DOMAIN}"),
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """The 2021-2022 Excel variant: a .xls whose hidden Excel 4.0 sheet runs at open."""
    return build_mail(
        from_,
        to,
        "Re: 支払通知書",
        "ご確認をお願いいたします。\n",
        attachments=[("支払通知書_1125.xls", build_xls_with_xlm(), MIME_XLS)],
        auth_results=auth_results("pass", "none", "none", LOOKALIKE_DOMAIN),
        date=date,
    )


def clean_ppap_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("取引先 高橋", f"takahashi@{PARTNER_DOMAIN}"),
    password: str = "Pa55-2026",  # noqa: S107 - the sample PPAP zip password
    date: datetime = DEFAULT_DATE,
    password_in_body: bool = True,
) -> bytes:
    """A legitimate PPAP mail: a ZipCrypto zip of a clean .xlsx, the password in the body.

    A Japanese business habit, not an attack: the spreadsheet has no macro.
    With ``password_in_body=False`` the body says the password follows in a
    separate mail (:func:`ppap_password_mail`).
    """
    sheet = build_xlsx([["品名", "数量", "単価"], ["コピー用紙 A4", 10, 450], ["トナー", 2, 8900]])
    archive = build_zip({"見積書_2026-11.xlsx": sheet}, password=password, aes=False)
    notice = (
        f"パスワード: {password}\n"
        if password_in_body
        else "パスワードは別メールにてお送りします。\n"
    )
    body = (
        "田中様\n\nいつもお世話になっております。\n取引先の高橋です。\n\n"
        "ご依頼の見積書をお送りします。\n" + notice + "\nよろしくお願いいたします。\n"
    )
    return build_mail(
        from_,
        to,
        "見積書送付の件",
        body,
        attachments=[("見積書_2026-11.zip", archive, MIME_ZIP)],
        return_path=f"takahashi@{PARTNER_DOMAIN}",
        auth_results=auth_results(domain=PARTNER_DOMAIN),
        date=date,
    )


def ppap_password_mail(
    to: Address = ("経理部 田中", f"tanaka@{INTERNAL_DOMAIN}"),
    from_: Address = ("取引先 高橋", f"takahashi@{PARTNER_DOMAIN}"),
    password: str = "Pa55-2026",  # noqa: S107 - the sample PPAP zip password
    date: datetime = DEFAULT_DATE,
) -> bytes:
    """The second PPAP mail, sent right after the zip, carrying only the password."""
    return build_mail(
        from_,
        to,
        "【パスワード送付】見積書送付の件",
        f"田中様\n\n先ほどお送りしたファイルのパスワードです。\nパスワード: {password}\n",
        return_path=f"takahashi@{PARTNER_DOMAIN}",
        auth_results=auth_results(domain=PARTNER_DOMAIN),
        date=date + timedelta(minutes=1),
    )


def clean_mail(
    to: Address = ("山本 一郎", f"yamamoto@{INTERNAL_DOMAIN}"),
    from_: Address = ("鈴木 花子", f"suzuki@{INTERNAL_DOMAIN}"),
    subject: str = "来週の定例会議の資料について",
    date: datetime = DEFAULT_DATE,
    charset: MailCharset = "iso-2022-jp",
) -> bytes:
    """An ordinary internal mail in Japanese with a link to the company site, nothing else."""
    body = (
        "山本さん\n\nお疲れさまです。鈴木です。\n"
        "来週の定例会議の資料を共有フォルダに置きました。\n"
        "社内ポータル: https://www.example.com/portal/\n"
        "ご確認をお願いします。\n"
    )
    return build_mail(
        from_,
        to,
        subject,
        body,
        charset=charset,
        return_path=f"suzuki@{INTERNAL_DOMAIN}",
        auth_results=auth_results(domain=INTERNAL_DOMAIN),
        date=date,
    )
