"""The intrusion of the demo day: its indicators and its timeline, in one place.

Every generator (mail, endpoint, network, feeds, README) takes its bad-side
values from here, so that the mail's password, the macro's command line, the
Zeek download and the intel feeds tell one consistent story. Everything is
inert: addresses come from TEST-NET (RFC 5737), names end in ``.invalid`` or
``.example``, and the encoded command decodes to text that only prints
``detector-test``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sekimori.demo.company import (
    FILE_SERVER,
    LOOKALIKE_DOMAIN,
    PARTNER_DOMAIN,
    PATIENT_ZERO,
    VICTIM,
    jst,
)

# Delivery: the hijacked thread, from a look-alike of the partner's domain.
ATTACKER_MTA_IP = "203.0.113.77"
ATTACKER_MTA_NAME = f"mail.{LOOKALIKE_DOMAIN}"
LURE_SENDER = f"yamada@{LOOKALIKE_DOMAIN}"
PARTNER_SENDER = f"yamada@{PARTNER_DOMAIN}"
LURE_SUBJECT = "Re: 11月分 請求書の件"
ZIP_NAME = "請求書_20261124.zip"
ZIP_PASSWORD = "Sk2611"  # noqa: S105 - the lure's published zip password (inert demo)
DOCM_NAME = "請求書_20261124.docm"

# Execution: the five download URLs of the macro's PowerShell; only the third answers.
LOADER_URLS: tuple[str, ...] = (
    "http://shop-kanazawa.invalid/wp-content/uploads/Zq3fT/",
    "http://blog-nagoya.invalid/wp-includes/css/kP9wd/",
    "http://203.0.113.15/wp-admin/css/colors/Lk0hd/",
    "http://lab.tokyo-gakuen.invalid/old/assets/R8xmv/",
    "http://192.0.2.44/cgi-bin/Bn2rq/",
)
LOADER_IP = "203.0.113.15"
LOADER_URL = LOADER_URLS[2]
LOADER_SIZE = 423_936
# Stand-ins for the loader's hashes: digests of a harmless marker text.
_LOADER_MARKER = b"sekimori demo: inert stand-in for a loader DLL"
LOADER_MD5 = hashlib.md5(_LOADER_MARKER, usedforsecurity=False).hexdigest()
LOADER_SHA1 = hashlib.sha1(_LOADER_MARKER, usedforsecurity=False).hexdigest()
LOADER_SHA256 = hashlib.sha256(_LOADER_MARKER).hexdigest()

POWERSHELL_SCRIPT = (
    "Write-Output 'detector-test'\r\n"
    "$urls = @(" + ", ".join(f"'{u}'" for u in LOADER_URLS) + ")\r\n"
    "foreach ($u in $urls) { Write-Output ('detector-test ' + $u) }\r\n"
)
ENCODED_COMMAND = base64.b64encode(POWERSHELL_SCRIPT.encode("utf-16-le")).decode("ascii")
POWERSHELL_COMMAND = f"powershell -w hidden -enc {ENCODED_COMMAND}"
CMD_COMMAND = f"cmd.exe /c {POWERSHELL_COMMAND}"
VBA_MODULE = "NewMacros"
_CHUNKS = [CMD_COMMAND[i : i + 200] for i in range(0, len(CMD_COMMAND), 200)]
VBA_MACRO = (
    "Sub AutoOpen()\r\n"
    "    ' inert demo macro: the command only prints detector-test\r\n"
    "    Dim c As String\r\n"
    + "".join(f'    c = c & "{chunk}"\r\n' for chunk in _CHUNKS)
    + "    Shell c, 0\r\n"
    "End Sub\r\n"
)

# Installation on the first victim.
DLL_DIR = rf"C:\Users\{VICTIM.account}\AppData\Local\Ftkqzrw"
DLL_PATH = rf"{DLL_DIR}\jvwkvi.dll"
RUN_VALUE = "Ftkqzrw"
RUNDLL = r"C:\Windows\SysWOW64\rundll32.exe"
RUNDLL_FIRST = f"{RUNDLL} {DLL_PATH},RunDLL"
RUN_KEY_DATA = f'{RUNDLL} "{DLL_PATH}",DllRegisterServer'
OST_PATH = rf"C:\Users\{VICTIM.account}\AppData\Local\Microsoft\Outlook\{VICTIM.email}.ost"

# Command and control.
C2_HTTP = ("198.51.100.23", 8080)
C2_TLS = ("198.51.100.77", 443)
C2_IPS: tuple[str, ...] = (C2_HTTP[0], C2_TLS[0])
# The rest of the loader's built-in C&C list: published in the feed, never contacted.
C2_SPARE: tuple[tuple[str, int], ...] = (
    ("192.0.2.101", 7080),
    ("203.0.113.200", 443),
    ("198.51.100.140", 8080),
)
BEACON_PERIOD = 300.0

# Actions: spreading to the file server and spam from the victim.
BRUTE_USERNAMES: tuple[str, ...] = (
    "administrator",
    "admin",
    "Administrator",
    "user",
    "test",
    "guest",
    "backup",
    "scanner",
    "sql",
    "support",
    "owner",
    "root",
    "operator",
    "manager",
    "it",
    "sysadmin",
    "helpdesk",
    "office",
    "staff",
    "print",
    "demo",
    "service",
    "svc_sql",
    "svc_scan",
    "svc_web",
    "kanri",
    "soumu",
    "keiri",
    "eigyo",
    "jimu",
    "shain",
    "tanaka",
    "sato",
    "suzuki",
    "takahashi",
    "watanabe",
)
BRUTE_ACCOUNT = "svc_backup"
SERVICE_NAME = "vkqtbhxm"
SERVICE_IMAGE = r"%SystemRoot%\vkqtbhxm.exe"
SERVICE_IMAGE_REAL = r"C:\Windows\vkqtbhxm.exe"
SERVER_DLL_DIR = r"C:\Windows\SysWOW64\Wqmzhfe"
SERVER_DLL_PATH = rf"{SERVER_DLL_DIR}\pbwsgk.dll"
SERVER_RUN_VALUE = "Wqmzhfe"
SPAM_TARGETS = 64
SPAM_SUBJECTS: tuple[str, ...] = (
    "Re: 見積書の件",
    "Re: 11月分 請求書の件",
    "Re: 会議資料の送付",
    "Re: 年末年始の営業について",
    "Re: 賞与支給明細",
    "Re: 発注書送付のお願い",
    "Fw: 契約書(ご確認ください)",
    "Re: 打ち合わせ日程のご相談",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of the intrusion, as the README's timeline tells it."""

    at: datetime
    host: str
    stage: str
    what: str
    where: str


TIMELINE: tuple[Step, ...] = (
    Step(
        jst(9, 11, 42.318),
        "MAIL-01",
        "delivery",
        f"mail '{LURE_SUBJECT}' from {LURE_SENDER} ({ATTACKER_MTA_IP}) to {VICTIM.email}: "
        f"password zip {ZIP_NAME}, password in the body",
        "mail/, zeek/smtp.log",
    ),
    Step(
        jst(9, 13, 51.204),
        PATIENT_ZERO.name,
        "execution",
        f"OUTLOOK.EXE opens {DOCM_NAME} in WINWORD.EXE",
        "endpoint/ Sysmon 1",
    ),
    Step(
        jst(9, 14, 3.671),
        PATIENT_ZERO.name,
        "execution",
        "WINWORD.EXE starts cmd.exe /c powershell -w hidden -enc … (AutoOpen macro)",
        "endpoint/ Sysmon 1, PowerShell 4104",
    ),
    Step(
        jst(9, 14, 6.902),
        PATIENT_ZERO.name,
        "execution",
        f"PowerShell tries five URLs; {LOADER_URL} serves a DLL",
        "endpoint/ Sysmon 22, 3, 11; zeek/dns.log, http.log, files.log",
    ),
    Step(
        jst(9, 14, 9.115),
        PATIENT_ZERO.name,
        "installation",
        f"{DLL_PATH} started by rundll32.exe; Run key value {RUN_VALUE}",
        "endpoint/ Sysmon 1, 13",
    ),
    Step(
        jst(9, 20, 4.0),
        PATIENT_ZERO.name,
        "command_and_control",
        f"beacons to {C2_HTTP[0]}:{C2_HTTP[1]} and {C2_TLS[0]}:{C2_TLS[1]} every ~300 s "
        "until the end of the day",
        "zeek/conn.log, http.log, ssl.log; intel/feodo.csv",
    ),
    Step(
        jst(9, 48, 17.5),
        PATIENT_ZERO.name,
        "actions",
        f"rundll32.exe reads the Outlook data file {OST_PATH}",
        "endpoint/ Security 4663",
    ),
    Step(
        jst(10, 5, 0.0),
        PATIENT_ZERO.name,
        "actions",
        f"SMB sweep from {PATIENT_ZERO.ip} over 10.1.10.0/24 and 10.1.0.0/24 (445/tcp)",
        "zeek/conn.log",
    ),
    Step(
        jst(10, 21, 0.0),
        FILE_SERVER.name,
        "actions",
        f"password guessing against {FILE_SERVER.name} from {PATIENT_ZERO.ip}: "
        f"{len(BRUTE_USERNAMES)} user names, then a network logon as {BRUTE_ACCOUNT}",
        "endpoint/FS-01 Security 4625, 4624; zeek/ntlm.log",
    ),
    Step(
        jst(10, 25, 10.0),
        FILE_SERVER.name,
        "installation",
        f"service {SERVICE_NAME} ({SERVICE_IMAGE}) created remotely, loader DLL in "
        f"{SERVER_DLL_DIR}",
        "endpoint/FS-01 System 7045, Security 4697, Sysmon 1, 11, 13",
    ),
    Step(
        jst(10, 30, 0.0),
        FILE_SERVER.name,
        "command_and_control",
        f"{FILE_SERVER.name} beacons to {C2_TLS[0]}:{C2_TLS[1]}",
        "zeek/conn.log, ssl.log",
    ),
    Step(
        jst(13, 2, 0.0),
        PATIENT_ZERO.name,
        "actions",
        f"spam: {PATIENT_ZERO.ip} speaks SMTP directly to {SPAM_TARGETS} outside servers "
        "with stolen Japanese threads",
        "zeek/conn.log, smtp.log",
    ),
)

INFECTED_HOSTS: tuple[str, ...] = (PATIENT_ZERO.name, FILE_SERVER.name)
