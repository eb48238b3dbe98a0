"""The catalogue of verdict reasons: id, weight, ATT&CK techniques, English and Japanese.

Every analyzer reports hits by id; this table is the single place that says
what an id means, how much it weighs in the score and which ATT&CK
techniques it stands for. ``unscannable`` reasons mark a file the gateway
could not see through (a bomb, an unknown password, a parser that gave up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReasonSpec:
    """One kind of reason: what it means and what it weighs."""

    id: str
    weight: int
    techniques: tuple[str, ...]
    en: str
    ja: str
    unscannable: bool = False


def _r(
    rid: str, weight: int, techniques: str, en: str, ja: str, *, unscannable: bool = False
) -> ReasonSpec:
    return ReasonSpec(rid, weight, tuple(techniques.split()), en, ja, unscannable)


_ALL = (
    # Office documents (olevba, mraptor, msodde, rtfobj, msoffcrypto)
    _r(
        "office.vba_macros",
        10,
        "T1137 T1566.001",
        "The document contains VBA macros.",
        "文書に VBA マクロが含まれています。",
    ),
    _r(
        "office.vba_autoexec",
        20,
        "T1204.002",
        "A macro runs automatically when the document is opened or touched.",
        "文書を開く・操作すると自動的に実行されるマクロがあります。",
    ),
    _r(
        "office.vba_execution",
        30,
        "T1059.005",
        "The macro can start programs or shell commands (Shell, WScript.Shell, WMI, CreateObject).",
        "マクロがプログラムやシェルコマンドを起動できます（Shell、WScript.Shell、WMI、CreateObject）。",
    ),
    _r(
        "office.vba_download",
        25,
        "T1105",
        "The macro can download files from the Internet.",
        "マクロがインターネットからファイルをダウンロードできます。",
    ),
    _r(
        "office.vba_obfuscation",
        15,
        "T1027",
        "The macro hides strings (hex, Base64, StrReverse, Replace, Chr concatenation).",
        "マクロが文字列を難読化しています（16進、Base64、StrReverse、Replace、Chr 連結）。",
    ),
    _r(
        "office.mraptor_suspicious",
        45,
        "T1204.002 T1059.005",
        "The macro both runs automatically and writes or executes (MacroRaptor: suspicious).",
        "自動実行されるマクロが書き込みまたは実行を行います（MacroRaptor: 不審）。",
    ),
    _r(
        "office.xlm_macros",
        40,
        "T1204.002 T1059",
        "The workbook contains Excel 4.0 (XLM) macro sheets.",
        "ブックに Excel 4.0（XLM）マクロシートが含まれています。",
    ),
    _r(
        "office.xlm_execution",
        35,
        "T1218.010 T1105",
        "The Excel 4.0 macros call EXEC/CALL/RUN or download files.",
        "Excel 4.0 マクロが EXEC/CALL/RUN を呼び出すかファイルをダウンロードします。",
    ),
    _r(
        "office.dde",
        60,
        "T1559.002",
        "The document runs a command through a DDE field.",
        "文書が DDE フィールド経由でコマンドを実行します。",
    ),
    _r(
        "office.rtf_object",
        25,
        "T1204.002",
        "The RTF document carries embedded OLE objects.",
        "RTF 文書に埋め込み OLE オブジェクトがあります。",
    ),
    _r(
        "office.rtf_exploit",
        50,
        "T1203",
        "The RTF document embeds an object class abused by exploits (Equation Editor, Package).",
        "RTF 文書に攻撃で悪用される OLE クラス（数式エディタ、Package）が埋め込まれています。",
    ),
    _r(
        "office.embedded_object",
        15,
        "T1204.002",
        "The document embeds another file or OLE object.",
        "文書に別のファイルまたは OLE オブジェクトが埋め込まれています。",
    ),
    _r(
        "office.external_template",
        30,
        "T1221",
        "The document loads a template or object from a remote location.",
        "文書が外部のテンプレートやオブジェクトを読み込みます。",
    ),
    _r(
        "office.encrypted_opened",
        5,
        "T1027.013",
        "The Office file is encrypted; a password from the mail or a default one opened it.",
        "暗号化された Office ファイルを本文中または既定のパスワードで開けました。",
    ),
    _r(
        "office.encrypted_locked",
        20,
        "T1027.013",
        "The Office file is encrypted with an unknown password and could not be inspected.",
        "Office ファイルが不明なパスワードで暗号化されており、検査できません。",
        unscannable=True,
    ),
    # archives
    _r(
        "archive.password_from_body",
        5,
        "T1027.013",
        "The archive is encrypted; the password written in the mail opened it (PPAP).",
        "アーカイブはパスワード付きでしたが、本文に書かれたパスワードで開けました（PPAP）。",
    ),
    _r(
        "archive.encrypted_locked",
        25,
        "T1027.013",
        "The archive is encrypted and no password in the mail opens it.",
        "アーカイブが暗号化されており、本文中のどのパスワードでも開けません。",
        unscannable=True,
    ),
    _r(
        "archive.bomb",
        30,
        "T1499",
        "The archive exceeds the size, ratio or member-count limits (possible archive bomb).",
        "アーカイブがサイズ・圧縮率・ファイル数の上限を超えています（アーカイブ爆弾の可能性）。",
        unscannable=True,
    ),
    _r(
        "archive.too_deep",
        20,
        "T1027",
        "Archives are nested deeper than the inspection limit.",
        "アーカイブの入れ子が検査の上限より深くなっています。",
        unscannable=True,
    ),
    _r(
        "archive.corrupt",
        10,
        "",
        "The archive is damaged and could only be read in part.",
        "アーカイブが破損しており、一部しか読めませんでした。",
        unscannable=True,
    ),
    _r(
        "archive.unsupported",
        15,
        "T1027",
        "The archive format (RAR, CAB, ...) cannot be inspected by the gateway.",
        "このアーカイブ形式（RAR、CAB など）はゲートウェイで検査できません。",
        unscannable=True,
    ),
    # other attachment types
    _r(
        "attachment.executable",
        60,
        "T1204.002",
        "An executable or script file is attached (exe, js, vbs, hta, bat, ps1, …).",
        "実行ファイルまたはスクリプトが添付されています（exe、js、vbs、hta、bat、ps1 など）。",
    ),
    _r(
        "attachment.double_extension",
        25,
        "T1036.007",
        "An attachment name hides its real type behind a double extension.",
        "添付ファイル名が二重拡張子で本当の種類を隠しています。",
    ),
    _r(
        "attachment.disk_image",
        30,
        "T1553.005",
        "A disk image (ISO/IMG/VHD) is attached, a common way around Mark-of-the-Web.",
        "ディスクイメージ（ISO/IMG/VHD）が添付されています（Mark-of-the-Web 回避の常套手段）。",
    ),
    _r(
        "lnk.shortcut",
        45,
        "T1204.002",
        "A Windows shortcut (LNK) file is attached.",
        "Windows ショートカット（LNK）ファイルが添付されています。",
    ),
    _r(
        "lnk.command",
        40,
        "T1059.001 T1218.005",
        "The shortcut runs PowerShell, cmd, mshta or another script host.",
        "ショートカットが PowerShell、cmd、mshta などのスクリプト実行環境を起動します。",
    ),
    _r(
        "onenote.document",
        20,
        "T1566.001",
        "A OneNote document is attached.",
        "OneNote 文書が添付されています。",
    ),
    _r(
        "onenote.embedded_file",
        50,
        "T1204.002",
        "The OneNote document embeds a script or executable file.",
        "OneNote 文書にスクリプトまたは実行ファイルが埋め込まれています。",
    ),
    _r(
        "pdf.javascript",
        30,
        "T1059.007",
        "The PDF contains JavaScript.",
        "PDF に JavaScript が含まれています。",
    ),
    _r(
        "pdf.open_action",
        10,
        "T1204.002",
        "The PDF runs an action when it is opened (OpenAction / AA).",
        "PDF を開くと自動的にアクションが実行されます（OpenAction / AA）。",
    ),
    _r(
        "pdf.launch",
        50,
        "T1204.002",
        "The PDF can launch a program (Launch action).",
        "PDF がプログラムを起動できます（Launch アクション）。",
    ),
    _r(
        "pdf.embedded_file",
        20,
        "T1027.009",
        "The PDF carries embedded files.",
        "PDF にファイルが埋め込まれています。",
    ),
    _r(
        "pdf.uri",
        5,
        "T1566.002",
        "The PDF links to web addresses.",
        "PDF に Web アドレスへのリンクがあります。",
    ),
    _r(
        "pdf.corrupt",
        10,
        "",
        "The PDF is damaged and could not be fully parsed.",
        "PDF が破損しており、完全には解析できませんでした。",
        unscannable=True,
    ),
    # decoded content
    _r(
        "decode.powershell_encoded",
        40,
        "T1059.001 T1027",
        "A Base64-encoded PowerShell command (-enc) was found and decoded.",
        "Base64 でエンコードされた PowerShell コマンド（-enc）を検出し、復号しました。",
    ),
    _r(
        "decode.url_list",
        35,
        "T1105 T1027",
        "A list of download URLs, joined to be split at run time, was found.",
        "実行時に分割されるダウンロード URL のリストを検出しました。",
    ),
    _r(
        "decode.hidden_command",
        30,
        "T1027 T1059",
        "A command (powershell, cmd, winmgmts, mshta …) appears only after deobfuscation.",
        "難読化を解除すると初めてコマンド（powershell、cmd、winmgmts、mshta など）が現れます。",
    ),
    # links
    _r(
        "link.download",
        30,
        "T1566.002 T1204.001",
        "A link points straight at a document, archive or program download.",
        "リンクが文書・アーカイブ・プログラムのダウンロードを直接指しています。",
    ),
    _r(
        "link.raw_ip",
        20,
        "T1566.002",
        "A link uses a bare IP address instead of a domain name.",
        "リンクがドメイン名ではなく IP アドレスを直接使っています。",
    ),
    _r(
        "link.text_mismatch",
        25,
        "T1566.002 T1036",
        "A link's visible text shows a different address than where it leads.",
        "リンクの表示テキストと実際のリンク先のアドレスが異なります。",
    ),
    _r(
        "link.punycode",
        25,
        "T1566.002 T1036",
        "A link uses an internationalized (Punycode) domain that can imitate another.",
        "リンクが他のドメインに似せられる国際化ドメイン（Punycode）を使っています。",
    ),
    # sender
    _r(
        "sender.auth_fail",
        15,
        "T1566 T1656",
        "The sender failed SPF, DKIM or DMARC authentication.",
        "送信者が SPF・DKIM・DMARC の認証に失敗しています。",
    ),
    _r(
        "sender.reply_to_mismatch",
        10,
        "T1656",
        "Replies would go to a different domain than the sender's.",
        "返信先（Reply-To）が送信者と異なるドメインです。",
    ),
    _r(
        "sender.return_path_mismatch",
        5,
        "T1656",
        "The envelope sender (Return-Path) differs from the From domain.",
        "エンベロープ送信者（Return-Path）が From のドメインと異なります。",
    ),
    _r(
        "sender.display_name_spoof",
        25,
        "T1656 T1566",
        "The display name imitates another address or the recipient's own organization.",
        "表示名が別のアドレスや受信者自身の組織を装っています。",
    ),
    _r(
        "sender.lookalike_domain",
        30,
        "T1656 T1583.001",
        "The sender's domain looks like the recipient's own domain.",
        "送信者のドメインが受信者自身のドメインに似せられています。",
    ),
    _r(
        "sender.reply_hijack",
        30,
        "T1566 T1586.002",
        "A reply from an outside domain continues an internal conversation (thread hijacking).",
        "外部ドメインからの返信が社内のやり取りを引用・継続しています（スレッド乗っ取り）。",
    ),
    # threat intelligence
    _r(
        "intel.known_bad",
        60,
        "T1566 T1071.001",
        "A URL, domain, IP or file hash of the message is a known threat indicator.",
        "メール中の URL・ドメイン・IP・ファイルハッシュが既知の脅威指標と一致しました。",
    ),
    # the message itself
    _r(
        "mime.malformed",
        5,
        "",
        "The MIME structure is malformed; it was analyzed as far as possible.",
        "MIME 構造が不正です。可能な範囲で解析しました。",
    ),
    _r(
        "mime.unparseable",
        20,
        "",
        "The message could not be parsed.",
        "メッセージを解析できませんでした。",
        unscannable=True,
    ),
    _r(
        "scan.timeout",
        20,
        "",
        "The analysis took longer than the time limit.",
        "解析が制限時間を超えました。",
        unscannable=True,
    ),
    _r(
        "scan.crash",
        20,
        "",
        "The analyzer failed on this file (crash or memory limit).",
        "このファイルの解析に失敗しました（クラッシュまたはメモリ上限）。",
        unscannable=True,
    ),
    _r(
        "scan.too_large",
        20,
        "",
        "The file is larger than the inspection limit.",
        "ファイルが検査の上限サイズを超えています。",
        unscannable=True,
    ),
    _r(
        "scan.parser_error",
        10,
        "",
        "A parser failed on part of this file; the rest was analyzed.",
        "このファイルの一部で解析に失敗しました。残りは解析しました。",
        unscannable=True,
    ),
)

REASONS: Mapping[str, ReasonSpec] = {spec.id: spec for spec in _ALL}


def spec(reason_id: str) -> ReasonSpec:
    """The catalogue entry of ``reason_id`` (an unknown id is a programming error)."""
    return REASONS[reason_id]
