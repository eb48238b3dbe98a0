"""The day's mail: about forty ordinary business messages and the Emotet lure, as ``.eml``.

Japanese mail is written the way Japanese mailers still send it
(ISO-2022-JP, RFC 2047 names and subjects, RFC 2231 attachment names), the
English mail in UTF-8. Three "PPAP" exchanges (a password zip of a clean
spreadsheet, then the password in a second mail) are the local habit a
filter must not punish. The lure hijacks the thread that ``tanaka`` started
with the partner that morning, comes from a look-alike domain and carries a
password zip with the password in the same body, holding a macro ``.docm``
whose AutoOpen macro starts an encoded, inert PowerShell command.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.header import Header
from pathlib import Path

from sekimori.demo.company import (
    JST,
    MAIL_DOMAIN,
    MAIL_SERVER,
    USERS,
    VICTIM,
    WORKSTATIONS,
    jst,
)
from sekimori.demo.internet import PARTNER_MTAS, Site
from sekimori.demo.rng import stream
from sekimori.demo.story import (
    ATTACKER_MTA_IP,
    ATTACKER_MTA_NAME,
    DOCM_NAME,
    LURE_SENDER,
    LURE_SUBJECT,
    PARTNER_SENDER,
    VBA_MACRO,
    VBA_MODULE,
    ZIP_NAME,
    ZIP_PASSWORD,
)
from sekimori.samples.archive import build_zip
from sekimori.samples.mail import MailCharset, auth_results, build_mail
from sekimori.samples.office import build_docm, build_docx, build_xlsx

_MX = f"mail01.{MAIL_DOMAIN}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP = "application/x-zip-compressed"
JIS = "iso-2022-jp"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class MailSpec:
    """One message of the day and how it travelled.

    ``direction`` is ``inbound`` (an outside server delivered it to MAIL-01
    over SMTP), ``outbound`` (MAIL-01 relayed it out) or ``internal`` (it
    never left MAIL-01). ``relay`` is the outside server of an SMTP hop.
    """

    at: datetime
    sender: tuple[str, str]
    to: tuple[tuple[str, str], ...]
    subject: str
    body: str
    direction: str
    charset: str = JIS
    attachments: tuple[Attachment, ...] = ()
    relay: Site | None = None
    in_reply_to: str | None = None
    auth: str = "spf=pass; dkim=pass; dmarc=pass"
    malicious: bool = False
    msg_id: str = field(default="")

    @property
    def file_name(self) -> str:
        """The ``.eml`` file's name: time and a short label."""
        local = self.at.astimezone(JST)
        return f"{local:%H%M%S}_{self.sender[1].split('@')[0]}_{self.direction}.eml"


def _u(account: str) -> tuple[str, str]:
    user = next(u for u in USERS if u.account == account)
    return (user.name_ja, user.email)


_PARTNER = ("山田 太郎", PARTNER_SENDER)
_KYOTO = ("木下 聡", "kinoshita@kyoto-seiki.example")
_NISHI = ("西村 美穂", "nishimura@nishi-logistics.example")
_GLOBAL = ("Emily Carter", "emily.carter@global-parts.example")
_BANK = ("シティ銀行 法人サービス", "info@city-bank.example")
_SOUMU = ("総務部", f"soumu@{MAIL_DOMAIN}")
_ALL = ("全社員", f"all@{MAIL_DOMAIN}")

_TANAKA_0847 = """山田様

いつもお世話になっております。
株式会社関守デモの田中です。

11月分の請求書につきまして、まだ弊社に届いていないようです。
恐れ入りますが、送付状況をご確認いただけますでしょうか。

月末の支払処理に間に合わせたく、本日中にいただけますと助かります。

よろしくお願いいたします。

田中 健一
株式会社関守デモ 経理部
"""

_LURE_BODY = f"""田中様

いつもお世話になっております。
さくら商事の山田です。

ご連絡ありがとうございます。大変失礼いたしました。
11月分の請求書を添付いたしますので、ご確認のほどお願いいたします。

セキュリティのため、添付ファイルはパスワード付きZIPにしております。
パスワード: {ZIP_PASSWORD}

お手数ですが、ファイルを開いて「コンテンツの有効化」をクリックしてください。

よろしくお願いいたします。

山田 太郎
さくら商事株式会社 営業部

-----Original Message-----
From: 田中 健一 <{VICTIM.email}>
Sent: Tuesday, November 24, 2026 8:47 AM
To: 山田 太郎 <{PARTNER_SENDER}>
Subject: RE: 11月分 請求書の件

""" + "\n".join("> " + line if line else ">" for line in _TANAKA_0847.splitlines())

_LURE_DOC_TEXT = (
    "このドキュメントは保護されています。\n"
    "内容を表示するには、上部の「編集を有効にする」と「コンテンツの有効化」をクリックしてください。"
)


def _quote_sheet(title: str, rows: int, seed: str) -> bytes:
    rng = stream(f"sheet:{seed}")
    header: list[str | int | float | None] = ["品番", "品名", "数量", "単価", "金額"]
    lines: list[list[str | int | float | None]] = [[title], header]
    for i in range(rows):
        qty, price = rng.randrange(1, 40), rng.randrange(5, 300) * 100
        lines.append(
            [f"KS-{2600 + i}", f"部品{chr(0x30A2 + i % 40)}-{i + 1}", qty, price, qty * price]
        )
    return build_xlsx(lines)


def _ppap(
    at: datetime,
    sender: tuple[str, str],
    to: tuple[tuple[str, str], ...],
    subject: str,
    body: str,
    zip_name: str,
    inner: str,
    data: bytes,
    password: str,
    direction: str,
    relay: Site | None,
) -> list[MailSpec]:
    """A password zip and, a minute later, the password in a second mail."""
    archive = build_zip({inner: data}, password=password, aes=False, name_encoding="cp932")
    first = MailSpec(
        at,
        sender,
        to,
        subject,
        body,
        direction,
        attachments=(Attachment(zip_name, archive, ZIP),),
        relay=relay,
    )
    second_at = at.replace(minute=(at.minute + 1) % 60) if at.minute < 59 else at
    second = MailSpec(
        second_at,
        sender,
        to,
        f"【パスワード通知】{subject}",
        f"{to[0][0].split()[0]}様\n\n先ほどお送りしたファイルのパスワードをお知らせします。\n\n"
        f"ファイル名: {zip_name}\nパスワード: {password}\n\nよろしくお願いいたします。\n",
        direction,
        relay=relay,
    )
    return [first, second]


def benign_mail() -> list[MailSpec]:
    """The ordinary mail of the day (about forty messages)."""
    kyoto, nishi, global_, bank, sakura = (
        PARTNER_MTAS[2],
        PARTNER_MTAS[1],
        PARTNER_MTAS[3],
        PARTNER_MTAS[4],
        PARTNER_MTAS[0],
    )
    mails: list[MailSpec] = [
        MailSpec(
            jst(8, 31, 12.0),
            _SOUMU,
            (_ALL,),
            "【総務】健康診断の日程について",
            "各位\n\nお疲れ様です。総務部です。\n\n今年度の定期健康診断は12月8日(火)〜10日(木)です。\n"
            "各部署の割当て時間は共有フォルダの「健康診断_2026.xlsx」をご確認ください。\n\n"
            "総務部\n",
            "internal",
        ),
        MailSpec(
            jst(8, 47, 3.0),
            _u("tanaka"),
            (_PARTNER,),
            "RE: 11月分 請求書の件",
            _TANAKA_0847,
            "outbound",
            relay=sakura,
        ),
        MailSpec(
            jst(8, 52, 40.0),
            _GLOBAL,
            (_u("yamamoto"),),
            "Quotation request for Q1 2027",
            "Dear Mr. Yamamoto,\n\nCould you please send us your quotation for the Q1 2027 "
            "order of bearings (part numbers BR-220 to BR-240)?\nWe would appreciate it by "
            "Friday.\n\nBest regards,\nEmily Carter\nGlobal Parts Ltd.\n",
            "inbound",
            charset="utf-8",
            relay=global_,
        ),
        MailSpec(
            jst(9, 2, 55.0),
            _u("sato"),
            (_u("takahashi"), _u("watanabe")),
            "定例会議の議事録",
            "高橋さん、渡辺さん\n\nお疲れ様です。佐藤です。\n"
            "昨日の定例会議の議事録を添付します。\n修正があればご連絡ください。\n\n佐藤\n",
            "internal",
            attachments=(
                Attachment(
                    "議事録_定例会議_1123.docx",
                    build_docx(
                        "定例会議 議事録\n日時: 2026年11月23日 15:00-16:00\n"
                        "1. 年末の出荷スケジュール\n2. 来期予算の確認"
                    ),
                    DOCX,
                ),
            ),
        ),
        MailSpec(
            jst(9, 24, 10.0),
            _BANK,
            (_u("kato"),),
            "【シティ銀行】システムメンテナンスのお知らせ",
            "法人のお客さま各位\n\n11月29日(日) 1:00〜6:00 にシステムメンテナンスを実施します。\n"
            "詳しくは https://www.city-bank.example/info/maintenance をご覧ください。\n",
            "inbound",
            relay=bank,
        ),
        MailSpec(
            jst(9, 40, 0.0),
            _u("suzuki"),
            (_ALL,),
            "【情報システム】パスワード変更のお願い",
            "各位\n\n情報システムの鈴木です。\n12月1日までにWindowsのパスワード変更をお願いします。\n"
            "心当たりのないメールの添付ファイルは開かず、情報システムまでご連絡ください。\n\n鈴木\n",
            "internal",
        ),
        MailSpec(
            jst(10, 12, 31.0),
            _u("yamamoto"),
            (_GLOBAL,),
            "RE: Quotation request for Q1 2027",
            "Dear Ms. Carter,\n\nThank you for your inquiry. Please find our quotation "
            "attached.\n\nBest regards,\nTakuya Yamamoto\n",
            "outbound",
            charset="utf-8",
            relay=global_,
            attachments=(
                Attachment(
                    "Quotation_Q1_2027.xlsx", _quote_sheet("Quotation Q1 2027", 8, "q1"), XLSX
                ),
            ),
        ),
        MailSpec(
            jst(10, 47, 2.0),
            _u("kobayashi"),
            (_u("nakamura"),),
            "来週の打ち合わせ",
            "中村さん\n\n来週の打ち合わせですが、12月1日(火)14時からでいかがでしょうか。\n"
            "会議室Bを仮押さえしています。\n\n小林\n",
            "internal",
        ),
        MailSpec(
            jst(11, 5, 40.0),
            _NISHI,
            (_u("sato"),),
            "12月出荷分のご確認",
            "佐藤様\n\nいつもお世話になっております。西ロジスティクスの西村です。\n"
            "12月出荷分の予定表をお送りいただけますでしょうか。\n\nよろしくお願いいたします。\n",
            "inbound",
            relay=nishi,
        ),
        MailSpec(
            jst(12, 58, 13.0),
            _u("nakamura"),
            (_u("kobayashi"),),
            "RE: 来週の打ち合わせ",
            "小林さん\n\n承知しました。12月1日14時、会議室Bでお願いします。\n\n中村\n",
            "internal",
        ),
        MailSpec(
            jst(13, 30, 0.0),
            _GLOBAL,
            (_u("yamamoto"),),
            "RE: Quotation request for Q1 2027",
            "Dear Mr. Yamamoto,\n\nThank you for the quick reply. We will review it and "
            "get back to you next week.\n\nBest regards,\nEmily\n",
            "inbound",
            charset="utf-8",
            relay=global_,
        ),
        MailSpec(
            jst(14, 3, 21.0),
            _u("ito"),
            (_u("yoshida"),),
            "経費精算の締め切り",
            "吉田さん\n\n今月の経費精算は11月27日(金)締めです。\n領収書の提出をお願いします。\n\n伊藤\n",
            "internal",
        ),
        MailSpec(
            jst(15, 2, 44.0),
            _PARTNER,
            (_u("tanaka"),),
            "11月分 請求書送付のご案内",
            "田中様\n\nいつもお世話になっております。さくら商事の山田です。\n"
            "ご連絡が遅くなり申し訳ございません。11月分の請求書をお送りします。\n\n"
            "山田 太郎\nさくら商事株式会社\n",
            "inbound",
            relay=sakura,
            attachments=(
                Attachment(
                    "請求書_2026年11月分.xlsx",
                    _quote_sheet("請求書 2026年11月分", 6, "invoice"),
                    XLSX,
                ),
            ),
        ),
        MailSpec(
            jst(15, 41, 9.0),
            _u("tanaka"),
            (_u("suzuki"),),
            "不審なメールについて",
            "鈴木さん\n\n午前中にさくら商事から届いた請求書のメールですが、\n"
            "先ほど別の請求書が届きました。午前のメールは不審かもしれません。\n"
            "確認いただけますか。\n\n田中\n",
            "internal",
        ),
        MailSpec(
            jst(16, 20, 0.0),
            _u("matsumoto"),
            (_u("inoue"), _u("kimura")),
            "展示会の件",
            "井上さん、木村さん\n\n来月の展示会のブース配置案を共有フォルダに置きました。\n"
            "ご意見をお願いします。\n\n松本\n",
            "internal",
        ),
    ]
    mails += _ppap(
        jst(9, 50, 2.0),
        _KYOTO,
        (_u("yamamoto"),),
        "見積書送付の件",
        "山本様\n\nいつもお世話になっております。京都精機の木下です。\n"
        "ご依頼の見積書をお送りします。\nパスワードは別途お送りします。\n\n木下\n",
        "見積書_KS-2611.zip",
        "見積書_KS-2611.xlsx",
        _quote_sheet("御見積書 KS-2611", 10, "ks2611"),
        "Ks8wP3qa",
        "inbound",
        kyoto,
    )
    mails += _ppap(
        jst(11, 30, 15.0),
        _u("sato"),
        (_NISHI,),
        "12月出荷予定表の送付",
        "西村様\n\nいつもお世話になっております。関守デモの佐藤です。\n"
        "12月の出荷予定表をお送りします。\nパスワードは別メールにてお知らせします。\n\n佐藤\n",
        "出荷予定表_202612.zip",
        "出荷予定表_202612.xlsx",
        _quote_sheet("出荷予定表 2026年12月", 12, "ship"),
        "Nl4m2Rtx",
        "outbound",
        nishi,
    )
    mails += _ppap(
        jst(14, 45, 30.0),
        _SOUMU,
        (_ALL,),
        "年末調整書類の提出について",
        "各位\n\n年末調整の書類一式をお送りします。\n12月4日までに総務部へ提出してください。\n"
        "パスワードは別メールでお知らせします。\n\n総務部\n",
        "年末調整書類_2026.zip",
        "年末調整_記入例.xlsx",
        build_xlsx(
            [["年末調整 記入例"], ["項目", "記入内容"], ["氏名", "関守 太郎"], ["扶養親族", 1]]
        ),
        "Nc2026soumu",
        "internal",
        None,
    )
    mails += _daily_reports()
    return mails


def _daily_reports() -> list[MailSpec]:
    """End-of-day reports (日報) of a dozen people to their manager."""
    rng = stream("mail:reports")
    out: list[MailSpec] = []
    manager = _u("mori")
    tasks = (
        "顧客訪問(2件)",
        "見積書作成",
        "資料整理",
        "電話対応",
        "出荷手配",
        "請求書処理",
        "会議(定例)",
        "提案書の修正",
        "在庫確認",
        "新規顧客へのご挨拶",
    )
    for ws in WORKSTATIONS[:21]:
        user = ws.user
        if user is None or user.account in ("mori", "tanaka"):
            continue
        at = jst(17, 30) + (jst(18, 40) - jst(17, 30)) * rng.random()
        done = "\n".join(f"・{t}" for t in rng.sample(tasks, 3))
        out.append(
            MailSpec(
                at,
                (user.name_ja, user.email),
                (manager,),
                f"【日報】11/24 {user.name_ja.split()[0]}",
                f"森さん\n\nお疲れ様です。{user.name_ja.split()[0]}です。本日の業務報告です。\n\n"
                f"{done}\n\n明日もよろしくお願いします。\n",
                "internal",
            )
        )
    return out


def lure_mail() -> MailSpec:
    """The Emotet-style lure: a hijacked thread, a look-alike domain, a password zip."""
    docm = build_docm({VBA_MODULE: VBA_MACRO}, text=_LURE_DOC_TEXT)
    archive = build_zip({DOCM_NAME: docm}, password=ZIP_PASSWORD, aes=False, name_encoding="cp932")
    return MailSpec(
        jst(9, 11, 40.0),
        ("山田 太郎", LURE_SENDER),
        (_u(VICTIM.account),),
        LURE_SUBJECT,
        _LURE_BODY,
        "inbound",
        attachments=(Attachment(ZIP_NAME, archive, ZIP),),
        relay=Site(ATTACKER_MTA_NAME, ATTACKER_MTA_IP, port=25),
        auth="spf=pass; dkim=none; dmarc=none",
        malicious=True,
    )


def day_mail() -> list[MailSpec]:
    """All messages of the day, in time order, with their Message-IDs set."""
    mails = sorted([*benign_mail(), lure_mail()], key=lambda m: m.at)
    rng = stream("mail:ids")
    out: list[MailSpec] = []
    ids: dict[str, str] = {}
    for m in mails:
        domain = m.sender[1].split("@", 1)[1]
        msg_id = f"<{m.at.astimezone(JST):%Y%m%d%H%M%S}.{rng.hexdigits(12).upper()}@{domain}>"
        subject_key = m.subject.removeprefix("RE: ").removeprefix("Re: ")
        reply_to = ids.get(subject_key) if m.subject != subject_key else None
        ids.setdefault(subject_key, msg_id)
        out.append(replace(m, msg_id=msg_id, in_reply_to=m.in_reply_to or reply_to))
    return out


def _addr(name: str, address: str, charset: str) -> str:
    return email.utils.formataddr((name, address), charset=charset if charset == JIS else "utf-8")


def render(m: MailSpec, seed: str) -> bytes:
    """The message as RFC 5322 bytes (CRLF line ends), the same on every run."""
    local = m.at.astimezone(JST)
    received_at = email.utils.format_datetime((local + timedelta(seconds=2)).replace(microsecond=0))
    domain = m.sender[1].split("@", 1)[1]
    auth: str | None = None
    return_path: str | None = None
    if m.direction == "inbound" and m.relay is not None:
        received = (
            f"from {m.relay.name} ({m.relay.name} [{m.relay.ip}])\r\n\tby {_MX} "
            f"with ESMTP id {stream(seed + ':q').hexdigits(10).upper()}"
            f"\r\n\tfor <{m.to[0][1]}>; {received_at}"
        )
        spf, dkim, dmarc = (part.split("=")[1] for part in m.auth.split("; "))
        auth = auth_results(spf, dkim, dmarc, domain=domain, authserv_id=_MX)
        return_path = m.sender[1]
    else:
        sender = next((w for w in WORKSTATIONS if w.user and w.user.email == m.sender[1]), None)
        origin = f"{sender.fqdn} ([{sender.ip}])" if sender else f"{_MX} ([{MAIL_SERVER.ip}])"
        received = f"from {origin}\r\n\tby {_MX} with ESMTPSA; {received_at}"
    charset: MailCharset = "iso-2022-jp" if m.charset == JIS else "utf-8"
    return build_mail(
        m.sender,
        list(m.to),
        m.subject,
        m.body,
        attachments=[(a.name, a.data, a.content_type) for a in m.attachments],
        charset=charset,
        return_path=return_path,
        in_reply_to=m.in_reply_to,
        references=m.in_reply_to,
        auth_results=auth,
        date=local,
        msg_id=m.msg_id,
        received=[received],
        extra_headers=[("X-Mailer", "Microsoft Outlook 16.0")],
    )


def write_mail(out_dir: Path) -> list[Path]:
    """Write ``mail/`` under ``out_dir``; return the files written."""
    folder = out_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for m in day_mail():
        path = folder / m.file_name
        path.write_bytes(render(m, f"mail:{m.file_name}"))
        written.append(path)
    return written


def encoded_subject(m: MailSpec) -> str:
    """The Subject header as it travels on the wire (RFC 2047 words on one line)."""
    if m.subject.isascii():
        return m.subject
    return Header(m.subject, m.charset).encode(maxlinelen=10_000).replace("\n", "")


def encoded_address(name: str, address: str, charset: str = JIS) -> str:
    """A From/To value as it travels on the wire."""
    return _addr(name, address, charset)
