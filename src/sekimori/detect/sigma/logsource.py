"""Sigma log sources mapped onto Windows event channels and event ids.

A Sigma rule names where its events come from (``product``/``service``/
``category``); on a batch of Windows events that becomes a row filter on
``winlog.channel`` and ``event.code``. A category may have several
*variants*: ``process_creation`` is Sysmon event 1 and also Security event
4688, whose fields carry other names (``NewProcessName`` for ``Image``).

The tables follow SigmaHQ's own mapping (``tests/thor.yml`` in SigmaHQ/sigma)
and the Sysmon event id list of the Sigma taxonomy appendix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from sekimori.detect.sigma.fields import FieldResolver
from sekimori.errors import RuleError

CHANNEL_COLUMN = "winlog.channel"
EVENT_CODE_COLUMN = "event.code"

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational")
POWERSHELL_CLASSIC = "Windows PowerShell"
DEFENDER = "Microsoft-Windows-Windows Defender/Operational"

# service → channels (``WinEventLog:<channel>`` in thor.yml).
SERVICE_CHANNELS: Mapping[str, tuple[str, ...]] = {
    "security": (SECURITY,),
    "system": ("System",),
    "application": ("Application",),
    "sysmon": (SYSMON,),
    "powershell": POWERSHELL,
    "powershell-classic": (POWERSHELL_CLASSIC,),
    "ntlm": ("Microsoft-Windows-NTLM/Operational",),
    "taskscheduler": ("Microsoft-Windows-TaskScheduler/Operational",),
    "wmi": ("Microsoft-Windows-WMI-Activity/Operational",),
    "dhcp": ("Microsoft-Windows-DHCP-Server/Operational",),
    "printservice-admin": ("Microsoft-Windows-PrintService/Admin",),
    "printservice-operational": ("Microsoft-Windows-PrintService/Operational",),
    "smbclient-security": ("Microsoft-Windows-SmbClient/Security",),
    "smbclient-connectivity": ("Microsoft-Windows-SmbClient/Connectivity",),
    "smbserver-connectivity": ("Microsoft-Windows-SMBServer/Connectivity",),
    "terminalservices-localsessionmanager": (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    ),
    "codeintegrity-operational": ("Microsoft-Windows-CodeIntegrity/Operational",),
    "applocker": (
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    ),
    "msexchange-management": ("MSExchange Management",),
    "windefend": (DEFENDER,),
    "firewall-as": ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",),
    "bits-client": ("Microsoft-Windows-Bits-Client/Operational",),
    "security-mitigations": (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    ),
    "diagnosis-scripted": ("Microsoft-Windows-Diagnosis-Scripted/Operational",),
    "shell-core": ("Microsoft-Windows-Shell-Core/Operational",),
    "openssh": ("OpenSSH/Operational",),
    "ldap": ("Microsoft-Windows-LDAP-Client/Debug",),
    "bitlocker": ("Microsoft-Windows-BitLocker/BitLocker Management",),
    "vhdmp": ("Microsoft-Windows-VHDMP/Operational",),
    "appxdeployment-server": ("Microsoft-Windows-AppXDeploymentServer/Operational",),
    "lsa-server": ("Microsoft-Windows-LSA/Operational",),
    "appxpackaging-om": ("Microsoft-Windows-AppxPackaging/Operational",),
    "dns-client": ("Microsoft-Windows-DNS Client Events/Operational",),
    "appmodel-runtime": ("Microsoft-Windows-AppModel-Runtime/Admin",),
    "capi2": ("Microsoft-Windows-CAPI2/Operational",),
    "certificateservicesclient-lifecycle-system": (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
    ),
    "kernel-shimengine": (
        "Microsoft-Windows-Kernel-ShimEngine/Operational",
        "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
    ),
    "application-experience": (
        "Microsoft-Windows-Application-Experience/Program-Telemetry",
        "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant",
    ),
    "ntfs": ("Microsoft-Windows-Ntfs/Operational",),
    "hyper-v-worker": ("Microsoft-Windows-Hyper-V-Worker",),
    "kernel-event-tracing": ("Microsoft-Windows-Kernel-EventTracing",),
    "sense": ("Microsoft-Windows-SENSE/Operational",),
    "servicebus-client": (
        "Microsoft-ServiceBus-Client/Admin",
        "Microsoft-ServiceBus-Client/Operational",
    ),
    "microsoft-servicebus-client": (
        "Microsoft-ServiceBus-Client/Admin",
        "Microsoft-ServiceBus-Client/Operational",
    ),
    "iis-configuration": ("Microsoft-IIS-Configuration/Operational",),
    "dns-server": ("DNS Server",),
    "dns-server-analytic": ("Microsoft-Windows-DNSServer/Analytical",),
    "dns-server-audit": ("Microsoft-Windows-DNSServer/Audit",),
    "driver-framework": ("Microsoft-Windows-DriverFrameworks-UserMode/Operational",),
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One concrete event shape a log source stands for.

    ``channels`` and ``event_ids`` filter the rows (empty: no filter);
    ``conditions`` are extra ``(Sigma field, allowed values)`` filters (Sysmon
    event 12 is ``registry_add`` only when ``EventType`` is ``CreateKey``);
    ``fieldmap`` renames Sigma fields for this shape (Security 4688 calls
    ``Image`` ``NewProcessName``).
    """

    key: str
    channels: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fieldmap: Mapping[str, str] = field(default_factory=dict)

    def may_match(self, channels: set[str | None] | None, codes: set[str] | None) -> bool:
        """False when a batch with these channels and event codes has no row of this variant.

        Channels are lower-cased; ``None`` stands for a column the batch lacks.
        """
        if self.event_ids and codes is not None and not codes & {str(i) for i in self.event_ids}:
            return False
        if self.channels and channels is not None and None not in channels:
            return bool(channels & {c.lower() for c in self.channels})
        return True

    def mask(self, resolver: FieldResolver) -> pl.Expr:
        """Boolean row filter of this variant for the frame ``resolver`` reads.

        A row without a channel (some JSON shippers drop it) is judged on its
        event id alone, as SigmaHQ's own mapping does for categories.
        """
        schema = resolver.schema
        expr = pl.lit(True)
        if self.channels and CHANNEL_COLUMN in schema:
            channel = pl.col(CHANNEL_COLUMN).cast(pl.String).str.to_lowercase()
            wanted = [c.lower() for c in self.channels]
            expr = expr & (channel.is_in(wanted) | channel.is_null())
        if self.event_ids:
            if EVENT_CODE_COLUMN not in schema:
                return pl.lit(False)
            code = pl.col(EVENT_CODE_COLUMN).cast(pl.String)
            expr = expr & code.is_in([str(i) for i in self.event_ids]).fill_null(False)
        for name, allowed in self.conditions:
            value = resolver.expr(name, self.fieldmap).str.to_lowercase()
            expr = expr & value.is_in([a.lower() for a in allowed]).fill_null(False)
        return expr


def _sysmon(
    key: str, *ids: int, conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()
) -> Variant:
    return Variant(key=key, channels=(SYSMON,), event_ids=ids, conditions=conditions)


_REG_ADD = (("EventType", ("CreateKey",)),)
_REG_DELETE = (("EventType", ("DeleteKey", "DeleteValue")),)

# category → variants, as in thor.yml; Security 4688 for process_creation.
CATEGORY_VARIANTS: Mapping[str, tuple[Variant, ...]] = {
    "process_creation": (
        _sysmon("process_creation/sysmon", 1),
        Variant(
            key="process_creation/security",
            channels=(SECURITY,),
            event_ids=(4688,),
            fieldmap={"Image": "NewProcessName", "ParentImage": "ParentProcessName"},
        ),
    ),
    "file_change": (_sysmon("file_change", 2),),
    "network_connection": (_sysmon("network_connection", 3),),
    "sysmon_status": (_sysmon("sysmon_status", 4, 16),),
    "process_termination": (_sysmon("process_termination", 5),),
    "driver_load": (_sysmon("driver_load", 6),),
    "image_load": (_sysmon("image_load", 7),),
    "create_remote_thread": (_sysmon("create_remote_thread", 8),),
    "raw_access_thread": (_sysmon("raw_access_thread", 9),),
    "process_access": (_sysmon("process_access", 10),),
    "file_event": (_sysmon("file_event", 11),),
    "registry_event": (_sysmon("registry_event", 12, 13, 14),),
    "registry_add": (_sysmon("registry_add", 12, conditions=_REG_ADD),),
    "registry_delete": (_sysmon("registry_delete", 12, conditions=_REG_DELETE),),
    "registry_set": (_sysmon("registry_set", 13),),
    "registry_rename": (_sysmon("registry_rename", 14),),
    "create_stream_hash": (_sysmon("create_stream_hash", 15),),
    "pipe_created": (_sysmon("pipe_created", 17, 18),),
    "wmi_event": (_sysmon("wmi_event", 19, 20, 21),),
    "dns_query": (_sysmon("dns_query", 22),),
    "file_delete": (_sysmon("file_delete", 23, 26),),
    "clipboard_change": (_sysmon("clipboard_change", 24),),
    "process_tampering": (_sysmon("process_tampering", 25),),
    "file_delete_detected": (_sysmon("file_delete_detected", 26),),
    "file_block_executable": (_sysmon("file_block_executable", 27),),
    "file_block_shredding": (_sysmon("file_block_shredding", 28),),
    "file_executable_detected": (_sysmon("file_executable_detected", 29),),
    "sysmon_error": (_sysmon("sysmon_error", 255),),
    "ps_module": (Variant(key="ps_module", channels=POWERSHELL, event_ids=(4103,)),),
    "ps_script": (Variant(key="ps_script", channels=POWERSHELL, event_ids=(4104,)),),
    "ps_classic_start": (
        Variant(key="ps_classic_start", channels=(POWERSHELL_CLASSIC,), event_ids=(400,)),
    ),
    "ps_classic_provider_start": (
        Variant(key="ps_classic_provider_start", channels=(POWERSHELL_CLASSIC,), event_ids=(600,)),
    ),
    "ps_classic_script": (
        Variant(key="ps_classic_script", channels=(POWERSHELL_CLASSIC,), event_ids=(800,)),
    ),
    "antivirus": (
        Variant(
            key="antivirus",
            channels=(DEFENDER,),
            event_ids=(1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116),
            fieldmap={"Signature": "ThreatName", "Filename": "Path"},
        ),
    ),
}

# Categories with no source in Windows event logs: they need EDR or ETW telemetry.
NO_EVENT_LOG_SOURCE = frozenset({"file_access", "file_rename"})

ANY_WINDOWS = Variant(key="windows")


def variants_for(
    product: str | None, service: str | None, category: str | None
) -> tuple[Variant, ...]:
    """The variants a Sigma log source stands for, or ``RuleError`` when none exists.

    The error message is the reason the rule is reported as not loaded.
    """
    if category == "antivirus" and product in (None, "windows"):
        return CATEGORY_VARIANTS["antivirus"]
    if product != "windows":
        what = "/".join(p for p in (product, service, category) if p) or "empty"
        raise RuleError(f"log source '{what}' is not a Windows event log")
    if category is not None:
        if category in NO_EVENT_LOG_SOURCE:
            raise RuleError(
                f"category '{category}' has no Windows event log source (needs EDR/ETW telemetry)"
            )
        variants = CATEGORY_VARIANTS.get(category)
        if variants is None:
            raise RuleError(f"unknown Windows log source category '{category}'")
        if service is not None:
            wanted = {c.lower() for c in SERVICE_CHANNELS.get(service, ())}
            variants = tuple(v for v in variants if {c.lower() for c in v.channels} & wanted)
            if not variants:
                raise RuleError(f"category '{category}' does not occur in service '{service}'")
        return variants
    if service is not None:
        channels = SERVICE_CHANNELS.get(service)
        if channels is None:
            raise RuleError(f"unknown Windows log source service '{service}'")
        return (Variant(key=f"service:{service}", channels=channels),)
    return (ANY_WINDOWS,)
