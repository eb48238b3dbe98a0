"""Windows events in the JSON shape the ``evtx`` package prints, one host at a time.

``records_json`` of the ``evtx`` package (and ``evtx_dump -o jsonl``) writes
``{"Event": {"#attributes": …, "System": {…}, "EventData": {…}}}`` per record;
this module writes the same shape for Sysmon, Security, System and
PowerShell/Operational, with the provider GUIDs, tasks and keywords those
channels carry. A :class:`HostLog` collects one machine's events; record ids
are numbered per channel in time order when the log is written.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sekimori.demo.company import AD_DOMAIN, DOMAIN_SID, Host, User
from sekimori.demo.rng import DemoRandom

SYSTEM_SID = "S-1-5-18"
XMLNS = "http://schemas.microsoft.com/win/2004/08/events/event"


@dataclass(frozen=True, slots=True)
class Channel:
    """A Windows event channel and the provider that writes to it."""

    key: str
    name: str
    provider: str
    guid: str
    keywords: str
    level: int


SYSMON = Channel(
    "sysmon",
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-Sysmon",
    "5770385F-C22A-43E0-BF4C-06F5698FFBD9",
    "0x8000000000000000",
    4,
)
SECURITY = Channel(
    "security",
    "Security",
    "Microsoft-Windows-Security-Auditing",
    "54849625-5478-4994-A5BA-3E3B0328C30D",
    "0x8020000000000000",
    0,
)
SYSTEM = Channel(
    "system",
    "System",
    "Service Control Manager",
    "{555908d1-a6d7-4695-8e1e-26931d2012f4}",
    "0x8080000000000000",
    4,
)
POWERSHELL = Channel(
    "powershell",
    "Microsoft-Windows-PowerShell/Operational",
    "Microsoft-Windows-PowerShell",
    "A0C1853B-5C40-4B15-8766-3CF1C58F985A",
    "0x0",
    5,
)

_SYSMON_VERSION = {1: 5, 3: 5, 7: 3, 11: 2, 13: 2, 22: 5}
_SECURITY_TASK = {
    4624: 12544,
    4625: 12544,
    4634: 12545,
    4672: 12548,
    4688: 13312,
    4663: 12800,
    4697: 12289,
    4776: 14336,
}
_SECURITY_VERSION = {4624: 2, 4625: 0, 4688: 2, 4663: 1, 4697: 0, 4672: 0, 4776: 0}

# Version resources of the images the demo starts (what Sysmon 1 and 7 print).
_FILE_INFO: dict[str, tuple[str, str, str, str]] = {
    "explorer.exe": (
        "Windows Explorer",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "EXPLORER.EXE",
    ),
    "cmd.exe": (
        "Windows Command Processor",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "Cmd.Exe",
    ),
    "powershell.exe": (
        "Windows PowerShell",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "PowerShell.EXE",
    ),
    "rundll32.exe": (
        "Windows host process (Rundll32)",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "RUNDLL32.EXE",
    ),
    "winword.exe": ("Microsoft Word", "Microsoft Office", "Microsoft Corporation", "WinWord.exe"),
    "excel.exe": ("Microsoft Excel", "Microsoft Office", "Microsoft Corporation", "Excel.exe"),
    "outlook.exe": (
        "Microsoft Outlook",
        "Microsoft Outlook",
        "Microsoft Corporation",
        "Outlook.exe",
    ),
    "chrome.exe": ("Google Chrome", "Google Chrome", "Google LLC", "chrome.exe"),
    "msedge.exe": ("Microsoft Edge", "Microsoft Edge", "Microsoft Corporation", "msedge.exe"),
    "ms-teams.exe": ("Microsoft Teams", "Microsoft Teams", "Microsoft Corporation", "ms-teams.exe"),
    "svchost.exe": (
        "Host Process for Windows Services",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "svchost.exe",
    ),
    "services.exe": (
        "Services and Controller app",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "services.exe",
    ),
    "onedrive.exe": (
        "Microsoft OneDrive",
        "Microsoft OneDrive",
        "Microsoft Corporation",
        "OneDrive.exe",
    ),
    "robocopy.exe": (
        "Microsoft Robocopy",
        "Microsoft® Windows® Operating System",
        "Microsoft Corporation",
        "robocopy.exe",
    ),
}
_VERSION = "10.0.19041.5247 (WinBuild.160101.0800)"


def file_info(image: str) -> dict[str, str]:
    """Version-resource fields of ``image`` as Sysmon prints them (``-`` when unknown)."""
    leaf = image.rsplit("\\", 1)[-1].lower()
    info = _FILE_INFO.get(leaf)
    if info is None:
        return {
            "FileVersion": "-",
            "Description": "-",
            "Product": "-",
            "Company": "-",
            "OriginalFileName": "-",
        }
    description, product, company, original = info
    return {
        "FileVersion": _VERSION,
        "Description": description,
        "Product": product,
        "Company": company,
        "OriginalFileName": original,
    }


def fake_hashes(image: str) -> str:
    """Stable stand-in hashes of an image (digests of its path, not of any real file)."""
    key = image.lower().encode("utf-8")
    md5 = hashlib.md5(key, usedforsecurity=False).hexdigest().upper()
    sha256 = hashlib.sha256(key).hexdigest().upper()
    imphash = hashlib.md5(b"imp:" + key, usedforsecurity=False).hexdigest().upper()
    return f"MD5={md5},SHA256={sha256},IMPHASH={imphash}"


def machine_sid(account: str) -> str:
    """A stable domain SID for an account known only by name (computer accounts ``WS-01$``)."""
    return f"{DOMAIN_SID}-{3000 + zlib.crc32(account.encode()) % 5000}"


def system_time(at: datetime) -> str:
    """``TimeCreated/@SystemTime`` as ``evtx`` prints it: always six decimals, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sysmon_time(at: datetime) -> str:
    """Sysmon's ``UtcTime`` form: ``2026-11-24 00:14:03.671``."""
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}"


@dataclass(slots=True)
class Proc:
    """A running process as Sysmon knows it."""

    image: str
    command_line: str
    pid: int
    guid: str
    user: str
    logon_id: str
    integrity: str
    cwd: str
    sid: str = SYSTEM_SID
    parent: Proc | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    at: datetime
    channel: Channel
    event_id: int
    data: dict[str, Any]
    user_sid: str | None
    execution: tuple[int, int]


@dataclass(slots=True)
class HostLog:
    """The Windows events of one machine, built up event by event."""

    host: Host
    rng: DemoRandom
    events: list[_Pending] = field(default_factory=list)

    # ----------------------------------------------------------------- raw
    def add(
        self,
        at: datetime,
        channel: Channel,
        event_id: int,
        data: dict[str, Any],
        user_sid: str | None = None,
    ) -> None:
        """Add one event with its ``EventData``."""
        pid = {"sysmon": 3184, "security": 788, "system": 744, "powershell": 0}[channel.key]
        execution = (pid, self.rng.randrange(300, 9000, 4))
        self.events.append(_Pending(at, channel, event_id, data, user_sid, execution))

    # -------------------------------------------------------------- sysmon
    def process(
        self,
        image: str,
        command_line: str,
        parent: Proc | None = None,
        user: str = "NT AUTHORITY\\SYSTEM",
        logon_id: str = "0x3e7",
        integrity: str = "System",
        cwd: str = "C:\\Windows\\system32\\",
        sid: str = SYSTEM_SID,
    ) -> Proc:
        """A process that was already running (no event; see :meth:`spawn`)."""
        return Proc(
            image,
            command_line,
            self.rng.randrange(1000, 14000, 4),
            self.rng.guid(),
            user,
            logon_id,
            integrity,
            cwd,
            sid,
            parent,
        )

    def spawn(
        self,
        at: datetime,
        image: str,
        command_line: str,
        parent: Proc,
        integrity: str | None = None,
        cwd: str | None = None,
    ) -> Proc:
        """Start a process as ``parent``'s user: Sysmon 1 (and Security 4688 on servers)."""
        proc = self.process(
            image,
            command_line,
            parent,
            parent.user,
            parent.logon_id,
            integrity or parent.integrity,
            cwd or parent.cwd,
            parent.sid,
        )
        data: dict[str, Any] = {
            "RuleName": "-",
            "UtcTime": sysmon_time(at),
            "ProcessGuid": proc.guid,
            "ProcessId": proc.pid,
            "Image": image,
        }
        data |= file_info(image)
        data |= {
            "CommandLine": command_line,
            "CurrentDirectory": proc.cwd,
            "User": proc.user,
            "LogonGuid": self._logon_guid(proc.logon_id),
            "LogonId": proc.logon_id,
            "TerminalSessionId": 0 if proc.logon_id == "0x3e7" else 1,
            "IntegrityLevel": proc.integrity,
            "Hashes": fake_hashes(image),
            "ParentProcessGuid": parent.guid,
            "ParentProcessId": parent.pid,
            "ParentImage": parent.image,
            "ParentCommandLine": parent.command_line,
            "ParentUser": parent.user,
        }
        self.add(at, SYSMON, 1, data, SYSTEM_SID)
        if self.host.is_server:
            self._security_4688(at, proc, parent)
        return proc

    def _logon_guid(self, logon_id: str) -> str:
        digest = (
            hashlib.md5(f"{self.host.name}:{logon_id}".encode(), usedforsecurity=False)
            .hexdigest()
            .upper()
        )
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _security_4688(self, at: datetime, proc: Proc, parent: Proc) -> None:
        domain, _, name = proc.user.partition("\\")
        system = proc.logon_id == "0x3e7"
        self.add(
            at,
            SECURITY,
            4688,
            {
                "SubjectUserSid": proc.sid,
                "SubjectUserName": f"{self.host.name}$" if system else name,
                "SubjectDomainName": AD_DOMAIN if system else domain,
                "SubjectLogonId": proc.logon_id,
                "NewProcessId": hex(proc.pid),
                "NewProcessName": proc.image,
                "TokenElevationType": "%%1936",
                "ProcessId": hex(parent.pid),
                "CommandLine": proc.command_line,
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": "-",
                "TargetDomainName": "-",
                "TargetLogonId": "0x0",
                "ParentProcessName": parent.image,
                "MandatoryLabel": "S-1-16-16384" if system else "S-1-16-8192",
            },
        )

    def network(
        self,
        at: datetime,
        proc: Proc,
        dst_ip: str,
        dst_port: int,
        protocol: str = "tcp",
        dst_host: str = "-",
    ) -> None:
        """Sysmon 3: an outgoing connection of ``proc``."""
        self.add(
            at,
            SYSMON,
            3,
            {
                "RuleName": "-",
                "UtcTime": sysmon_time(at),
                "ProcessGuid": proc.guid,
                "ProcessId": proc.pid,
                "Image": proc.image,
                "User": proc.user,
                "Protocol": protocol,
                "Initiated": True,
                "SourceIsIpv6": False,
                "SourceIp": self.host.ip,
                "SourceHostname": self.host.fqdn,
                "SourcePort": self.rng.randrange(49152, 65535),
                "SourcePortName": "-",
                "DestinationIsIpv6": False,
                "DestinationIp": dst_ip,
                "DestinationHostname": dst_host,
                "DestinationPort": dst_port,
                "DestinationPortName": {
                    80: "http",
                    443: "https",
                    445: "microsoft-ds",
                    53: "domain",
                    25: "smtp",
                }.get(dst_port, "-"),
            },
            SYSTEM_SID,
        )

    def image_load(self, at: datetime, proc: Proc, dll: str, signed: bool = True) -> None:
        """Sysmon 7: ``proc`` loads ``dll``."""
        data: dict[str, Any] = {
            "RuleName": "-",
            "UtcTime": sysmon_time(at),
            "ProcessGuid": proc.guid,
            "ProcessId": proc.pid,
            "Image": proc.image,
            "ImageLoaded": dll,
        }
        data |= file_info(dll)
        data |= {
            "Hashes": fake_hashes(dll),
            "Signed": "true" if signed else "false",
            "Signature": "Microsoft Corporation" if signed else "-",
            "SignatureStatus": "Valid" if signed else "Unavailable",
            "User": proc.user,
        }
        self.add(at, SYSMON, 7, data, SYSTEM_SID)

    def file_create(self, at: datetime, proc: Proc, path: str) -> None:
        """Sysmon 11: ``proc`` creates ``path``."""
        self.add(
            at,
            SYSMON,
            11,
            {
                "RuleName": "-",
                "UtcTime": sysmon_time(at),
                "ProcessGuid": proc.guid,
                "ProcessId": proc.pid,
                "Image": proc.image,
                "TargetFilename": path,
                "CreationUtcTime": sysmon_time(at),
                "User": proc.user,
            },
            SYSTEM_SID,
        )

    def registry_set(self, at: datetime, proc: Proc, key: str, details: str) -> None:
        """Sysmon 13: ``proc`` sets the registry value ``key``."""
        self.add(
            at,
            SYSMON,
            13,
            {
                "RuleName": "-",
                "EventType": "SetValue",
                "UtcTime": sysmon_time(at),
                "ProcessGuid": proc.guid,
                "ProcessId": proc.pid,
                "Image": proc.image,
                "TargetObject": key,
                "Details": details,
                "User": proc.user,
            },
            SYSTEM_SID,
        )

    def dns_query(self, at: datetime, proc: Proc, name: str, results: str | None) -> None:
        """Sysmon 22: ``proc`` resolves ``name`` (``results`` None: no such name)."""
        self.add(
            at,
            SYSMON,
            22,
            {
                "RuleName": "-",
                "UtcTime": sysmon_time(at),
                "ProcessGuid": proc.guid,
                "ProcessId": proc.pid,
                "QueryName": name,
                "QueryStatus": "0" if results is not None else "9003",
                "QueryResults": f"::ffff:{results};" if results else "-",
                "Image": proc.image,
                "User": proc.user,
            },
            SYSTEM_SID,
        )

    # ------------------------------------------------------------ security
    def logon(
        self,
        at: datetime,
        user: User | str,
        logon_type: int,
        logon_id: str,
        ip: str = "-",
        workstation: str = "-",
        package: str = "Kerberos",
        domain: str = AD_DOMAIN,
        elevated: bool = False,
    ) -> None:
        """Security 4624 (and 4672 when the account is privileged)."""
        name = user.account if isinstance(user, User) else user
        sid = user.sid if isinstance(user, User) else machine_sid(name)
        process = {
            2: "C:\\Windows\\System32\\svchost.exe",
            11: "C:\\Windows\\System32\\svchost.exe",
            7: "C:\\Windows\\System32\\lsass.exe",
        }.get(logon_type, "-")
        self.add(
            at,
            SECURITY,
            4624,
            {
                "SubjectUserSid": SYSTEM_SID if logon_type in (2, 7, 11) else "S-1-0-0",
                "SubjectUserName": f"{self.host.name}$" if logon_type in (2, 7, 11) else "-",
                "SubjectDomainName": AD_DOMAIN if logon_type in (2, 7, 11) else "-",
                "SubjectLogonId": "0x3e7" if logon_type in (2, 7, 11) else "0x0",
                "TargetUserSid": sid,
                "TargetUserName": name,
                "TargetDomainName": domain,
                "TargetLogonId": logon_id,
                "LogonType": logon_type,
                "LogonProcessName": "NtLmSsp "
                if package == "NTLM"
                else ("User32 " if logon_type in (2, 7, 11) else "Kerberos"),
                "AuthenticationPackageName": package,
                "WorkstationName": workstation,
                "LogonGuid": "00000000-0000-0000-0000-000000000000"
                if package == "NTLM"
                else self._logon_guid(logon_id),
                "TransmittedServices": "-",
                "LmPackageName": "NTLM V2" if package == "NTLM" else "-",
                "KeyLength": 128 if package == "NTLM" else 0,
                "ProcessId": "0x0" if process == "-" else hex(self.rng.randrange(600, 1400, 4)),
                "ProcessName": process,
                "IpAddress": ip,
                "IpPort": "-" if ip == "-" else str(self.rng.randrange(49152, 65535)),
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "-",
                "TargetOutboundUserName": "-",
                "TargetOutboundDomainName": "-",
                "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842" if elevated else "%%1843",
            },
        )
        if elevated:
            self.add(
                at,
                SECURITY,
                4672,
                {
                    "SubjectUserSid": sid,
                    "SubjectUserName": name,
                    "SubjectDomainName": domain,
                    "SubjectLogonId": logon_id,
                    "PrivilegeList": "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
                    "SeRestorePrivilege\r\n\t\t\tSeTakeOwnershipPrivilege\r\n\t\t\t"
                    "SeDebugPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege\r\n\t\t\t"
                    "SeLoadDriverPrivilege\r\n\t\t\tSeImpersonatePrivilege",
                },
            )

    def failed_logon(
        self,
        at: datetime,
        name: str,
        logon_type: int,
        ip: str,
        workstation: str,
        sub_status: str = "0xc000006a",
        package: str = "NTLM",
    ) -> None:
        """Security 4625: a failed logon."""
        self.add(
            at,
            SECURITY,
            4625,
            {
                "SubjectUserSid": "S-1-0-0",
                "SubjectUserName": "-",
                "SubjectDomainName": "-",
                "SubjectLogonId": "0x0",
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": name,
                "TargetDomainName": AD_DOMAIN if logon_type != 3 else "",
                "Status": "0xc000006d",
                "FailureReason": "%%2313",
                "SubStatus": sub_status,
                "LogonType": logon_type,
                "LogonProcessName": "NtLmSsp " if package == "NTLM" else "User32 ",
                "AuthenticationPackageName": package,
                "WorkstationName": workstation,
                "TransmittedServices": "-",
                "LmPackageName": "-",
                "KeyLength": 0,
                "ProcessId": "0x0",
                "ProcessName": "-",
                "IpAddress": ip,
                "IpPort": str(self.rng.randrange(49152, 65535)),
            },
        )

    def credential_validation(
        self, at: datetime, name: str, workstation: str, status: str = "0x0"
    ) -> None:
        """Security 4776: NTLM credential validation."""
        self.add(
            at,
            SECURITY,
            4776,
            {
                "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0",
                "TargetUserName": name,
                "Workstation": workstation,
                "Status": status,
            },
        )

    def object_access(self, at: datetime, proc: Proc, user: User, logon_id: str, path: str) -> None:
        """Security 4663: ``proc`` reads the file ``path`` (object access auditing)."""
        self.add(
            at,
            SECURITY,
            4663,
            {
                "SubjectUserSid": user.sid,
                "SubjectUserName": user.account,
                "SubjectDomainName": AD_DOMAIN,
                "SubjectLogonId": logon_id,
                "ObjectServer": "Security",
                "ObjectType": "File",
                "ObjectName": path,
                "HandleId": hex(self.rng.randrange(0x100, 0x4000, 4)),
                "AccessList": "%%4416\r\n\t\t\t\t",
                "AccessMask": "0x1",
                "ProcessId": hex(proc.pid),
                "ProcessName": proc.image,
                "ResourceAttributes": "S:AI",
            },
        )

    def service_installed(
        self, at: datetime, name: str, image: str, subject: User | str, logon_id: str
    ) -> None:
        """System 7045 and Security 4697: a new service."""
        account = subject.account if isinstance(subject, User) else subject
        sid = subject.sid if isinstance(subject, User) else SYSTEM_SID
        self.add(
            at,
            SYSTEM,
            7045,
            {
                "ServiceName": name,
                "ImagePath": image,
                "ServiceType": "user mode service",
                "StartType": "auto start",
                "AccountName": "LocalSystem",
            },
            sid,
        )
        self.add(
            at,
            SECURITY,
            4697,
            {
                "SubjectUserSid": sid,
                "SubjectUserName": account,
                "SubjectDomainName": AD_DOMAIN,
                "SubjectLogonId": logon_id,
                "ServiceName": name,
                "ServiceFileName": image,
                "ServiceType": "0x10",
                "ServiceStartType": "2",
                "ServiceAccount": "LocalSystem",
            },
        )

    # ---------------------------------------------------------- powershell
    def script_block(self, at: datetime, text: str, user_sid: str, path: str = "") -> None:
        """PowerShell 4104: a script block was compiled."""
        self.add(
            at,
            POWERSHELL,
            4104,
            {
                "MessageNumber": 1,
                "MessageTotal": 1,
                "ScriptBlockText": text,
                "ScriptBlockId": self.rng.guid().lower(),
                "Path": path,
            },
            user_sid,
        )

    # -------------------------------------------------------------- output
    def render(self) -> dict[str, list[str]]:
        """JSON lines per channel key, in time order, with record ids numbered from a base."""
        out: dict[str, list[str]] = {}
        ordered = sorted(self.events, key=lambda e: (e.at, e.channel.key, e.event_id))
        next_id: dict[str, int] = {}
        for ev in ordered:
            record_id = next_id.get(ev.channel.key, _RECORD_BASE[ev.channel.key])
            next_id[ev.channel.key] = record_id + 1
            out.setdefault(ev.channel.key, []).append(
                json.dumps(self._record(ev, record_id), ensure_ascii=False, separators=(",", ":"))
            )
        return out

    def _record(self, ev: _Pending, record_id: int) -> dict[str, Any]:
        ch = ev.channel
        provider: dict[str, Any] = {"#attributes": {"Name": ch.provider, "Guid": ch.guid}}
        event_id: Any = ev.event_id
        version, task, opcode, level, keywords = 0, 0, 0, ch.level, ch.keywords
        if ch is SYSMON:
            version, task = _SYSMON_VERSION.get(ev.event_id, 2), ev.event_id
        elif ch is SECURITY:
            version = _SECURITY_VERSION.get(ev.event_id, 0)
            task = _SECURITY_TASK.get(ev.event_id, 0)
            if ev.event_id == 4625:
                keywords = "0x8010000000000000"
        elif ch is SYSTEM:
            provider["#attributes"]["EventSourceName"] = ch.provider
            event_id = {"#attributes": {"Qualifiers": 16384}, "#text": ev.event_id}
        elif ch is POWERSHELL:
            version, task, opcode = 1, 2, 15
        system: dict[str, Any] = {
            "Provider": provider,
            "EventID": event_id,
            "Version": version,
            "Level": level,
            "Task": task,
            "Opcode": opcode,
            "Keywords": keywords,
            "TimeCreated": {"#attributes": {"SystemTime": system_time(ev.at)}},
            "EventRecordID": record_id,
            "Correlation": None,
            "Execution": {
                "#attributes": {"ProcessID": ev.execution[0], "ThreadID": ev.execution[1]}
            },
            "Channel": ch.name,
            "Computer": self.host.fqdn,
            "Security": {"#attributes": {"UserID": ev.user_sid}} if ev.user_sid else None,
        }
        return {"Event": {"#attributes": {"xmlns": XMLNS}, "System": system, "EventData": ev.data}}


_RECORD_BASE = {"sysmon": 184_201, "security": 1_093_772, "system": 22_418, "powershell": 5_302}
