"""The ordinary Windows day of every machine: logons, Office, browsers, Teams, updates, backups.

What a quiet office leaves in Sysmon, Security, System and PowerShell logs,
made to look like the real thing so that detectors have to tell it apart from
the intrusion: people log on between 08:00 and 09:00, open Outlook, Teams and
a browser, work on files of the file server, Windows and Defender update
themselves, the IT admin runs a few (plain, not encoded) PowerShell commands,
and the backup server copies the shares at lunch and in the evening.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sekimori.demo.company import (
    AD_DOMAIN,
    ADMIN,
    BACKUP_ACCOUNT,
    BACKUP_SERVER,
    DAY_END,
    DAY_START,
    DC,
    FILE_SERVER,
    MAIL_SERVER,
    WORKSTATIONS,
    Host,
    User,
    jst,
)
from sekimori.demo.evtx_json import HostLog, Proc
from sekimori.demo.internet import CLOUD, DEFENDER, TEAMS, UPDATE_TLS, weighted_web
from sekimori.demo.rng import DemoRandom

OFFICE = r"C:\Program Files\Microsoft Office\root\Office16"
CHROME = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"
SYS32 = r"C:\Windows\System32"
WORK_FILES = (
    r"\\FS-01\share\営業部\見積書_2026-11.xlsx",
    r"\\FS-01\share\営業部\顧客リスト.xlsx",
    r"\\FS-01\share\総務部\年末調整のお知らせ.docx",
    r"\\FS-01\share\経理部\11月分_支払予定.xlsx",
    r"\\FS-01\share\共有\会議室予約.xlsx",
    r"\\FS-01\share\企画部\2027年度_事業計画(案).docx",
    r"\\FS-01\share\共有\議事録_定例会議_1124.docx",
)
ADMIN_SCRIPTS = (
    "Get-Service -ComputerName FS-01 | Where-Object Status -eq 'Stopped'",
    "Get-ADUser -Filter 'Enabled -eq $true' -Properties LastLogonDate | "
    "Sort-Object LastLogonDate | Select-Object -First 20 Name, LastLogonDate",
    "Test-NetConnection -ComputerName MAIL-01 -Port 443 -InformationLevel Quiet",
    "Get-SmbShare -CimSession FS-01",
    "Get-HotFix -ComputerName DC-01 | Sort-Object InstalledOn -Descending | Select-Object -First 5",
    "Get-PSDrive -PSProvider FileSystem | Select-Object Name, Used, Free",
)
BACKUP_SCRIPT = (
    "Get-ChildItem -Path E:\\Backup\\logs -Filter *.log | "
    "Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-30) } | Remove-Item"
)


def _session_id(rng: DemoRandom) -> str:
    return hex(rng.randrange(0x100000, 0x9FFFFF))


def _system_procs(log: HostLog) -> tuple[Proc, Proc]:
    services = log.process(rf"{SYS32}\services.exe", rf"{SYS32}\services.exe")
    svchost = log.process(
        rf"{SYS32}\svchost.exe", rf"{SYS32}\svchost.exe -k netsvcs -p -s Schedule", services
    )
    return services, svchost


def _at(start: datetime, rng: DemoRandom, lo: float, hi: float) -> datetime:
    return start + timedelta(seconds=rng.uniform(lo, hi))


def _maintenance(log: HostLog, svchost: Proc, services: Proc) -> None:
    """Windows Update, Defender signature updates and scheduled tasks all day."""
    rng = log.rng
    t = DAY_START + timedelta(minutes=rng.uniform(5, 40))
    while t < DAY_END:
        kind = rng.randrange(4)
        if kind == 0:
            mp = log.spawn(
                t,
                r"C:\ProgramData\Microsoft\Windows Defender\Platform"
                r"\4.18.24090.11-0\MpCmdRun.exe",
                '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\'
                '4.18.24090.11-0\\MpCmdRun.exe" SignatureUpdate -ScheduleJob '
                "-RestrictPrivileges -DailyTask",
                svchost,
            )
            log.network(t + timedelta(seconds=2), mp, DEFENDER.ip, 443, dst_host=DEFENDER.name)
        elif kind == 1:
            uso = log.spawn(t, rf"{SYS32}\usoclient.exe", "usoclient.exe StartScan", svchost)
            log.network(t + timedelta(seconds=3), uso, UPDATE_TLS.ip, 443, dst_host=UPDATE_TLS.name)
        elif kind == 2:
            log.spawn(
                t,
                rf"{SYS32}\taskhostw.exe",
                "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
                svchost,
            )
        else:
            log.spawn(
                t,
                rf"{SYS32}\svchost.exe",
                rf"{SYS32}\svchost.exe -k wsappx -p -s "
                "ClipSVC",
                services,
            )
        t += timedelta(minutes=rng.uniform(35, 95))


def workstation_day(log: HostLog, failed_first: bool = False) -> dict[str, Proc]:
    """One employee's day on their workstation."""
    host, rng = log.host, log.rng
    user = host.user
    if user is None:
        return {}
    services, svchost = _system_procs(log)
    arrive = jst(8, 0) + timedelta(minutes=rng.uniform(2, 55))
    leave = jst(17, 30) + timedelta(minutes=rng.uniform(0, 85))
    sid = _session_id(rng)
    account = f"{AD_DOMAIN}\\{user.account}"
    if failed_first:
        log.failed_logon(
            arrive - timedelta(seconds=14),
            user.account,
            2,
            "127.0.0.1",
            host.name,
            package="Negotiate",
        )
    log.logon(arrive, user, 2, sid, ip="127.0.0.1", workstation=host.name, package="Negotiate")
    log.logon(
        arrive + timedelta(seconds=1), user, 3, _session_id(rng), ip=DC.ip, workstation=DC.name
    )
    winlogon = log.process(rf"{SYS32}\winlogon.exe", "winlogon.exe")
    userinit = log.spawn(
        arrive + timedelta(seconds=2), rf"{SYS32}\userinit.exe", rf"{SYS32}\userinit.exe", winlogon
    )
    userinit.user, userinit.logon_id, userinit.integrity, userinit.sid = (
        account,
        sid,
        "Medium",
        user.sid,
    )
    explorer = log.spawn(
        arrive + timedelta(seconds=3),
        r"C:\Windows\explorer.exe",
        r"C:\Windows\Explorer.EXE",
        userinit,
        cwd=rf"C:\Users\{user.account}\\",
    )
    t = arrive + timedelta(seconds=9)
    onedrive = log.spawn(
        t,
        rf"C:\Users\{user.account}\AppData\Local\Microsoft\OneDrive"
        r"\OneDrive.exe",
        '"C:\\Users\\' + user.account + "\\AppData\\Local"
        '\\Microsoft\\OneDrive\\OneDrive.exe" /background',
        explorer,
    )
    log.network(t + timedelta(seconds=4), onedrive, CLOUD[3].ip, 443, dst_host=CLOUD[3].name)
    teams = log.spawn(
        t + timedelta(seconds=6),
        r"C:\Program Files\WindowsApps"
        r"\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe",
        '"ms-teams.exe" --system-initiated',
        explorer,
    )
    log.dns_query(t + timedelta(seconds=7), teams, TEAMS.name, TEAMS.ip)
    log.network(t + timedelta(seconds=8), teams, TEAMS.ip, 443, dst_host=TEAMS.name)
    outlook = log.spawn(
        arrive + timedelta(minutes=rng.uniform(1, 4)),
        rf"{OFFICE}\OUTLOOK.EXE",
        f'"{OFFICE}\\OUTLOOK.EXE" ',
        explorer,
    )
    log.network(
        outlook_at := arrive + timedelta(minutes=5),
        outlook,
        MAIL_SERVER.ip,
        443,
        dst_host=MAIL_SERVER.fqdn,
    )
    log.image_load(outlook_at, outlook, rf"{SYS32}\mswsock.dll")
    browser_image = CHROME if rng.random() < 0.5 else EDGE
    browser = log.spawn(
        arrive + timedelta(minutes=rng.uniform(5, 20)),
        browser_image,
        f'"{browser_image}" ',
        explorer,
    )
    log.file_create(
        arrive + timedelta(minutes=6),
        outlook,
        rf"C:\Users\{user.account}\AppData\Local\Microsoft\Outlook"
        rf"\~{user.email}.ost.tmp",
    )
    _browse(log, browser, arrive + timedelta(minutes=20), leave)
    _office_work(log, explorer, user, arrive + timedelta(minutes=30), leave)
    _maintenance(log, svchost, services)
    for _ in range(rng.randrange(2, 5)):
        t = _at(arrive, rng, 1800, 30000)
        log.network(t, outlook, MAIL_SERVER.ip, 443, dst_host=MAIL_SERVER.fqdn)
    if user.admin:
        _admin_powershell(log, explorer, user, arrive)
    return {"explorer": explorer, "outlook": outlook, "browser": browser}


def _browse(log: HostLog, browser: Proc, start: datetime, end: datetime) -> None:
    rng = log.rng
    sites = weighted_web()
    t = start
    while t < end:
        site = rng.choice(sites)
        log.dns_query(t, browser, site.name, site.ip)
        log.network(
            t + timedelta(milliseconds=rng.randrange(20, 120)),
            browser,
            site.ip,
            site.port,
            dst_host=site.name,
        )
        t += timedelta(minutes=rng.uniform(15, 70))
    if rng.random() < 0.6:
        t = _at(start, rng, 600, 20000)
        user = browser.user.split("\\")[-1]
        log.file_create(t, browser, rf"C:\Users\{user}\Downloads\{rng.choice(_DOWNLOADS)}")


_DOWNLOADS = (
    "会社案内_2026.pdf",
    "申請書_様式1.pdf",
    "カタログ_秋冬.pdf",
    "invoice_template.xlsx",
    "交通費精算_11月.pdf",
    "product_spec_v2.pdf",
)


def _office_work(log: HostLog, explorer: Proc, user: User, start: datetime, end: datetime) -> None:
    rng = log.rng
    for _ in range(rng.randrange(2, 5)):
        t = _at(start, rng, 0, (end - start).total_seconds() - 600)
        path = rng.choice(WORK_FILES)
        app = "EXCEL.EXE" if path.endswith(".xlsx") else "WINWORD.EXE"
        proc = log.spawn(t, rf"{OFFICE}\{app}", f'"{OFFICE}\\{app}" "{path}"', explorer)
        folder, _, leaf = path.rpartition("\\")
        log.file_create(
            t + timedelta(seconds=rng.uniform(3, 30)),
            proc,
            rf"{folder}\~${leaf[2:] if len(leaf) > 4 else leaf}",
        )
        log.network(t + timedelta(seconds=1), proc, FILE_SERVER.ip, 445, dst_host=FILE_SERVER.fqdn)
        log.registry_set(
            t + timedelta(seconds=2),
            proc,
            rf"HKU\{user.sid}\SOFTWARE\Microsoft\Office\16.0\Common\Open Find"
            rf"\{app[:-4].capitalize()}\Settings\File Name MRU\Value",
            path,
        )


def _admin_powershell(log: HostLog, explorer: Proc, user: User, arrive: datetime) -> None:
    rng = log.rng
    ps_image = rf"{SYS32}\WindowsPowerShell\v1.0\powershell.exe"
    for i, script in enumerate(ADMIN_SCRIPTS):
        t = arrive + timedelta(minutes=40 + 70 * i + rng.uniform(0, 30))
        ps = log.spawn(t, ps_image, f'"{ps_image}" ', explorer)
        log.script_block(t + timedelta(seconds=rng.uniform(5, 60)), script, user.sid)
        if "ADUser" in script:
            # Active Directory cmdlets talk to the AD Web Services of the domain controller.
            log.network(t + timedelta(seconds=70), ps, DC.ip, 9389, dst_host=DC.fqdn)


def dc_day(log: HostLog) -> None:
    """DC-01: Kerberos network logons of everyone, NTLM validations, an admin session."""
    rng = log.rng
    services, svchost = _system_procs(log)
    for ws in WORKSTATIONS:
        if ws.user is None:
            continue
        t = jst(8, 0) + timedelta(minutes=rng.uniform(2, 58))
        log.logon(t, ws.user, 3, _session_id(rng), ip=ws.ip, workstation="-")
        log.logon(
            t + timedelta(seconds=1), f"{ws.name}$", 3, _session_id(rng), ip=ws.ip, workstation="-"
        )
        if rng.random() < 0.3:
            log.credential_validation(_at(t, rng, 600, 25000), ws.user.account, ws.name)
    for t in (jst(11, 32, 5.0), jst(16, 4, 41.0)):
        sid = _session_id(rng)
        log.logon(
            t,
            ADMIN,
            10,
            sid,
            ip=WORKSTATIONS[1].ip,
            workstation=WORKSTATIONS[1].name,
            package="Negotiate",
            elevated=True,
        )
    ps_image = rf"{SYS32}\WindowsPowerShell\v1.0\powershell.exe"
    admin_shell = log.process(
        ps_image,
        f'"{ps_image}" ',
        None,
        f"{AD_DOMAIN}\\{ADMIN.account}",
        "0x5f2a1c",
        "High",
        rf"C:\Users\{ADMIN.account}\\",
        ADMIN.sid,
    )
    log.spawn(jst(11, 33, 12.0), ps_image, f'"{ps_image}" -NoLogo', admin_shell)
    log.script_block(jst(11, 34, 2.5), ADMIN_SCRIPTS[1], ADMIN.sid)
    _maintenance(log, svchost, services)


def file_server_day(log: HostLog) -> None:
    """FS-01: everyone's network logons to the shares, the backup account from BK-01."""
    rng = log.rng
    services, svchost = _system_procs(log)
    for ws in WORKSTATIONS:
        if ws.user is None:
            continue
        for _ in range(rng.randrange(1, 4)):
            t = jst(8, 5) + timedelta(minutes=rng.uniform(0, 560))
            log.logon(t, ws.user, 3, _session_id(rng), ip=ws.ip, workstation="-")
    for t in (jst(12, 0, 7.0), jst(18, 30, 5.0)):
        log.credential_validation(t, BACKUP_ACCOUNT.account, BACKUP_SERVER.name)
        log.logon(
            t,
            BACKUP_ACCOUNT,
            3,
            _session_id(rng),
            ip=BACKUP_SERVER.ip,
            workstation=BACKUP_SERVER.name,
            package="NTLM",
            elevated=True,
        )
    _maintenance(log, svchost, services)


def backup_server_day(log: HostLog) -> None:
    """BK-01: the lunchtime and evening copies of the file server's shares."""
    rng = log.rng
    services, svchost = _system_procs(log)
    svchost.user, svchost.sid = f"{AD_DOMAIN}\\{BACKUP_ACCOUNT.account}", BACKUP_ACCOUNT.sid
    ps_image = rf"{SYS32}\WindowsPowerShell\v1.0\powershell.exe"
    for t in (jst(12, 0), jst(18, 30)):
        cmd = log.spawn(
            t,
            rf"{SYS32}\cmd.exe",
            r'C:\Windows\system32\cmd.exe /c "E:\Scripts\share_backup.cmd"',
            svchost,
            cwd="E:\\Scripts\\",
        )
        robo = log.spawn(
            t + timedelta(seconds=2),
            rf"{SYS32}\Robocopy.exe",
            r"robocopy \\FS-01\share E:\Backup\share /MIR /R:1 /W:1 /NP "
            r"/LOG:E:\Backup\logs\share.log",
            cmd,
        )
        log.network(t + timedelta(seconds=3), robo, FILE_SERVER.ip, 445, dst_host=FILE_SERVER.fqdn)
        log.file_create(
            t + timedelta(seconds=rng.uniform(60, 500)), robo, r"E:\Backup\logs\share.log"
        )
        ps = log.spawn(
            t + timedelta(minutes=25),
            ps_image,
            f'"{ps_image}" -NoProfile -File E:\\Scripts\\rotate_logs.ps1',
            cmd,
        )
        log.script_block(
            t + timedelta(minutes=25, seconds=2),
            BACKUP_SCRIPT,
            BACKUP_ACCOUNT.sid,
            path=r"E:\Scripts\rotate_logs.ps1",
        )
        log.network(t + timedelta(minutes=25, seconds=3), ps, DC.ip, 389, dst_host=DC.fqdn)
    _maintenance(log, svchost, services)


def mail_server_day(log: HostLog) -> None:
    """MAIL-01: the transport service and updates."""
    services, svchost = _system_procs(log)
    transport = log.process(
        r"C:\Program Files\MailServer\bin\transport.exe",
        r'"C:\Program Files\MailServer\bin\transport.exe" -service',
        services,
    )
    rng = log.rng
    for _ in range(12):
        t = _at(DAY_START, rng, 0, (DAY_END - DAY_START).total_seconds())
        log.network(t, transport, DC.ip, 389, dst_host=DC.fqdn)
    _maintenance(log, svchost, services)


def benign_day(log: HostLog, host: Host, failed_first: bool = False) -> dict[str, Proc]:
    """The benign events of ``host`` (by its role); a workstation's user processes."""
    if host.role == "workstation":
        return workstation_day(log, failed_first)
    if host.role == "domain-controller":
        dc_day(log)
    elif host.role == "file-server":
        file_server_day(log)
    elif host.role == "backup-server":
        backup_server_day(log)
    else:
        mail_server_day(log)
    return {}
