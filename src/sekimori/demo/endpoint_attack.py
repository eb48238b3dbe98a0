"""The intrusion as the Windows logs of WS-07, FS-01 and DC-01 record it.

WS-07: Outlook opens the lure's document, Word's AutoOpen macro starts
``cmd.exe /c powershell -enc``, PowerShell fetches the loader DLL into
``%LOCALAPPDATA%``, rundll32 runs it and sets a Run key, then the loader
beacons, reads the Outlook data file, sweeps the LAN on 445 and sends spam.
FS-01: a burst of failed network logons from WS-07, one success as the backup
account, a remotely created service, the same rundll32 pattern as SYSTEM.
"""

from __future__ import annotations

from datetime import timedelta

from sekimori.demo.company import (
    BACKUP_ACCOUNT,
    FILE_SERVER,
    PATIENT_ZERO,
    VICTIM,
    jst,
)
from sekimori.demo.evtx_json import HostLog, Proc
from sekimori.demo.schedule import beacons, guesses, spam, sweep
from sekimori.demo.story import (
    CMD_COMMAND,
    DLL_PATH,
    DOCM_NAME,
    LOADER_IP,
    LOADER_URLS,
    OST_PATH,
    POWERSHELL_COMMAND,
    POWERSHELL_SCRIPT,
    RUN_KEY_DATA,
    RUN_VALUE,
    RUNDLL,
    RUNDLL_FIRST,
    SERVER_DLL_PATH,
    SERVER_RUN_VALUE,
    SERVICE_IMAGE,
    SERVICE_IMAGE_REAL,
    SERVICE_NAME,
    ZIP_NAME,
)

OFFICE = r"C:\Program Files\Microsoft Office\root\Office16"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
OUTLOOK_CACHE = (
    rf"C:\Users\{VICTIM.account}\AppData\Local\Microsoft\Windows\INetCache"
    r"\Content.Outlook\Q7ZK2M1B"
)


def patient_zero(log: HostLog, session: dict[str, Proc]) -> None:
    """WS-07: from opening the attachment to the spam run."""
    outlook = session["outlook"]
    log.file_create(jst(9, 13, 22.06), outlook, rf"{OUTLOOK_CACHE}\{ZIP_NAME}")
    log.file_create(jst(9, 13, 49.73), outlook, rf"{OUTLOOK_CACHE}\{DOCM_NAME}")
    word = log.spawn(
        jst(9, 13, 51.204),
        rf"{OFFICE}\WINWORD.EXE",
        f'"{OFFICE}\\WINWORD.EXE" /n "{OUTLOOK_CACHE}\\{DOCM_NAME}" /o ""',
        outlook,
    )
    log.image_load(
        jst(9, 13, 58.417),
        word,
        r"C:\Program Files\Common Files\Microsoft Shared\VBA\VBA7.1\VBE7.DLL",
    )
    cmd = log.spawn(jst(9, 14, 3.671), r"C:\Windows\System32\cmd.exe", CMD_COMMAND, word)
    ps = log.spawn(jst(9, 14, 3.902), POWERSHELL, POWERSHELL_COMMAND, cmd)
    log.script_block(jst(9, 14, 4.815), POWERSHELL_SCRIPT, VICTIM.sid)
    t = jst(9, 14, 5.1)
    for url in LOADER_URLS[:2]:
        host = url.split("/")[2]
        log.dns_query(t, ps, host, None)
        t += timedelta(milliseconds=812)
    log.network(jst(9, 14, 6.902), ps, LOADER_IP, 80, dst_host="-")
    log.file_create(jst(9, 14, 8.337), ps, DLL_PATH)
    loader = log.spawn(jst(9, 14, 9.115), RUNDLL, RUNDLL_FIRST, ps)
    log.registry_set(
        jst(9, 14, 11.482),
        loader,
        rf"HKU\{VICTIM.sid}\Software\Microsoft\Windows\CurrentVersion\Run"
        rf"\{RUN_VALUE}",
        RUN_KEY_DATA,
    )
    for beacon in beacons():
        if beacon.src == PATIENT_ZERO.ip:
            log.network(beacon.at, loader, beacon.dst, beacon.port)
    for i, t in enumerate((jst(9, 48, 17.5), jst(9, 48, 19.1), jst(9, 48, 23.8))):
        log.object_access(
            t,
            loader,
            VICTIM,
            loader.logon_id,
            OST_PATH if i != 1 else OST_PATH.replace(".ost", ".pst"),
        )
    for probe in sweep():
        log.network(probe.at, loader, probe.dst, 445)
    for guess in guesses()[::9]:
        log.network(guess.at, loader, FILE_SERVER.ip, 445, dst_host=FILE_SERVER.fqdn)
    for send in spam():
        log.network(send.at, loader, send.dst, 25)


def file_server(log: HostLog) -> None:
    """FS-01: the password guessing, the remote service and the second loader."""
    ws = PATIENT_ZERO
    for guess in guesses():
        if guess.success:
            log.credential_validation(guess.at, guess.username, ws.name)
            log.logon(
                guess.at + timedelta(milliseconds=41),
                BACKUP_ACCOUNT,
                3,
                "0x8c41f2",
                ip=ws.ip,
                workstation=ws.name,
                package="NTLM",
                elevated=True,
            )
        else:
            status = "0xc000006a" if guess.known_user else "0xc0000064"
            log.credential_validation(guess.at, guess.username, ws.name, status=status)
            log.failed_logon(
                guess.at + timedelta(milliseconds=17),
                guess.username,
                3,
                ws.ip,
                ws.name,
                sub_status=status,
            )
    system = log.process("System", "", None)
    system.pid = 4
    log.file_create(jst(10, 25, 5.204), system, SERVICE_IMAGE_REAL)
    log.service_installed(
        jst(10, 25, 10.03), SERVICE_NAME, SERVICE_IMAGE, BACKUP_ACCOUNT, "0x8c41f2"
    )
    services = log.process(r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe")
    dropper = log.spawn(
        jst(10, 25, 11.118),
        SERVICE_IMAGE_REAL,
        SERVICE_IMAGE_REAL,
        services,
        cwd="C:\\Windows\\system32\\",
    )
    log.file_create(jst(10, 25, 14.52), dropper, SERVER_DLL_PATH)
    loader = log.spawn(jst(10, 25, 15.007), RUNDLL, f"{RUNDLL} {SERVER_DLL_PATH},RunDLL", dropper)
    log.registry_set(
        jst(10, 25, 17.66),
        loader,
        rf"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\{SERVER_RUN_VALUE}",
        f'{RUNDLL} "{SERVER_DLL_PATH}",DllRegisterServer',
    )
    for beacon in beacons():
        if beacon.src == FILE_SERVER.ip:
            log.network(beacon.at, loader, beacon.dst, beacon.port)


def domain_controller(log: HostLog) -> None:
    """DC-01: the pass-through validation of the guessed domain account."""
    last = guesses()[-1]
    log.credential_validation(last.at - timedelta(milliseconds=5), last.username, PATIENT_ZERO.name)
