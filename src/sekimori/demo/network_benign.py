"""The ordinary network day seen by the Zeek sensor at the office's Internet and core switch.

Browsing (DNS to DC-01, then HTTPS to the site and its CDNs), Outlook to
MAIL-01, Teams and Microsoft 365, file shares on FS-01 (Kerberos and the odd
NTLM session), time from DC-01 (which itself asks NICT every ~17 minutes),
Windows Update and Defender every hour or so, the backup server's copies and
the mail server's SMTP with partners. Periodic but harmless patterns (NTP,
updates) are there on purpose: a beacon detector must not flag them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sekimori.demo.company import (
    BACKUP_SERVER,
    DAY_END,
    DAY_START,
    DC,
    FILE_SERVER,
    MAIL_DOMAIN,
    MAIL_SERVER,
    SERVERS,
    WORKSTATIONS,
    Host,
    jst,
)
from sekimori.demo.internet import (
    CLOUD,
    DEFENDER,
    NTP,
    TEAMS,
    UPDATE_HTTP,
    UPDATE_TLS,
    UPSTREAM_DNS,
    weighted_web,
)
from sekimori.demo.traffic import Traffic

ISSUERS = (
    "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US",
    "CN=GTS CA 1C3,O=Google Trust Services LLC,C=US",
    "CN=GlobalSign RSA OV SSL CA 2018,O=GlobalSign nv-sa,C=BE",
)
CDNS = ("fonts.gstatic.com", "www.gstatic.com")
OCSP = ("ocsp.digicert.com", "23.43.137.187")
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
UPDATE_AGENT = "Microsoft-Delivery-Optimization/10.0"


def _workday(t: Traffic, ws: Host) -> None:
    rng = t.rng
    sites = weighted_web()
    by_name = {s.name: s for s in sites}
    arrive = jst(8, 0) + timedelta(minutes=rng.uniform(2, 55))
    leave = jst(17, 30) + timedelta(minutes=rng.uniform(0, 85))
    # Browsing sessions: a name lookup, then a few HTTPS connections to the site and its CDNs.
    now = arrive + timedelta(minutes=rng.uniform(3, 15))
    while now < leave:
        site = rng.choice(sites)
        t.dns(now, ws.ip, site.name, [site.ip])
        for i in range(rng.randrange(2, 6)):
            target = site if i < 2 else by_name.get(rng.choice(CDNS), site)
            t.tls(
                now + timedelta(seconds=0.05 + i * rng.uniform(0.1, 2.0)),
                ws.ip,
                target.ip,
                target.name,
                target.tls_subject,
                rng.choice(ISSUERS),
                rng.uniform(0.5, 120.0),
                rng.randrange(900, 9000),
                rng.randrange(4000, 900_000),
                version=rng.choice(("TLSv13", "TLSv12")),
            )
        if rng.random() < 0.15:
            t.http(
                now + timedelta(seconds=0.4),
                ws.ip,
                OCSP[1],
                80,
                OCSP[0],
                "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ",
                "POST",
                USER_AGENT,
                200,
                83,
                471,
                "application/ocsp-response",
            )
        now += timedelta(minutes=rng.uniform(2, 11))
    # Outlook keeps talking to MAIL-01; Teams and Microsoft 365 to the cloud.
    now = arrive + timedelta(minutes=2)
    while now < leave:
        t.tls(
            now,
            ws.ip,
            MAIL_SERVER.ip,
            f"mail01.{MAIL_DOMAIN}",
            f"CN=mail01.{MAIL_DOMAIN}",
            f"CN=CORP-DC-01-CA,DC=corp,DC={MAIL_DOMAIN.split('.')[0]}",
            rng.uniform(0.2, 40.0),
            rng.randrange(1500, 12000),
            rng.randrange(2000, 60000),
            version="TLSv12",
        )
        now += timedelta(minutes=rng.uniform(1, 5))
    now = arrive + timedelta(minutes=1)
    while now < leave:
        svc = rng.choice(CLOUD[:4])
        t.tls(
            now,
            ws.ip,
            svc.ip,
            svc.name,
            svc.tls_subject,
            ISSUERS[0],
            rng.uniform(1, 300),
            rng.randrange(2000, 30000),
            rng.randrange(3000, 200000),
        )
        now += timedelta(minutes=rng.uniform(4, 12))
    for _ in range(rng.randrange(0, 3)):
        start = arrive + timedelta(minutes=rng.uniform(60, 480))
        t.conn(
            start,
            ws.ip,
            TEAMS.ip,
            3478,
            "udp",
            None,
            rng.uniform(900, 3600),
            rng.randrange(5_000_000, 40_000_000),
            rng.randrange(5_000_000, 40_000_000),
        )
    # Directory, file shares and time, all inside.
    now = arrive
    while now < leave:
        kind = rng.randrange(6)
        if kind < 2:
            t.conn(
                now,
                ws.ip,
                DC.ip,
                88,
                "tcp",
                "krb_tcp",
                rng.uniform(0.005, 0.05),
                rng.randrange(1400, 1800),
                rng.randrange(1300, 1700),
            )
        elif kind < 4:
            t.conn(
                now,
                ws.ip,
                DC.ip,
                389,
                "tcp",
                "ldap",
                rng.uniform(0.01, 0.5),
                rng.randrange(300, 3000),
                rng.randrange(800, 9000),
            )
        elif kind == 4:
            uid = t.conn(
                now,
                ws.ip,
                FILE_SERVER.ip,
                445,
                "tcp",
                "smb,gssapi,krb",
                rng.uniform(5, 1800),
                rng.randrange(20_000, 900_000),
                rng.randrange(40_000, 9_000_000),
            )
            t.smb_mapping(
                now + timedelta(milliseconds=20), uid, ws.ip, FILE_SERVER.ip, r"\\FS-01\share"
            )
        elif rng.random() < 0.3:
            # Group policy and name lookups ask the DC over named pipes.
            uid = t.conn(
                now,
                ws.ip,
                DC.ip,
                445,
                "tcp",
                "smb,dce_rpc,krb",
                rng.uniform(0.05, 2),
                rng.randrange(3000, 9000),
                rng.randrange(3000, 12000),
            )
            t.smb_mapping(
                now + timedelta(milliseconds=5), uid, ws.ip, DC.ip, r"\\DC-01\IPC$", "IPC"
            )
            t.dce_rpc(
                now + timedelta(milliseconds=9),
                uid,
                ws.ip,
                DC.ip,
                r"\pipe\lsass",
                "lsarpc",
                ("LsarOpenPolicy2", "LsarLookupSids2", "LsarClose"),
            )
        else:
            t.dns(
                now,
                ws.ip,
                rng.choice(
                    (
                        f"_ldap._tcp.dc._msdcs.corp.{MAIL_DOMAIN}",
                        f"fs-01.corp.{MAIL_DOMAIN}",
                        f"mail01.{MAIL_DOMAIN}",
                    )
                ),
                [rng.choice((DC.ip, FILE_SERVER.ip, MAIL_SERVER.ip))],
            )
        now += timedelta(minutes=rng.uniform(3, 14))
    now = arrive + timedelta(seconds=rng.uniform(0, 600))
    while now < leave:
        t.conn(now, ws.ip, DC.ip, 123, "udp", "ntp", 0.0011, 48, 48)
        now += timedelta(seconds=rng.jitter(3600, 600))
    if rng.random() < 0.25:
        at = arrive + timedelta(minutes=rng.uniform(20, 400))
        uid = t.conn(
            at,
            ws.ip,
            FILE_SERVER.ip,
            445,
            "tcp",
            "smb,gssapi,ntlm",
            rng.uniform(1, 60),
            rng.randrange(5000, 50000),
            rng.randrange(5000, 90000),
        )
        user = ws.user.account if ws.user else "-"
        t.ntlm(
            at + timedelta(milliseconds=8),
            uid,
            ws.ip,
            FILE_SERVER.ip,
            FILE_SERVER.name,
            user,
            ws.name,
            True,
        )
        t.smb_mapping(
            at + timedelta(milliseconds=30), uid, ws.ip, FILE_SERVER.ip, r"\\10.1.0.10\share"
        )


def _updates(t: Traffic, host: Host) -> None:
    """Defender signatures and Windows Update, roughly hourly on every machine."""
    rng = t.rng
    now = DAY_START + timedelta(minutes=rng.uniform(0, 60))
    while now < DAY_END:
        t.dns(now, host.ip, DEFENDER.name, [DEFENDER.ip])
        t.tls(
            now + timedelta(seconds=0.1),
            host.ip,
            DEFENDER.ip,
            DEFENDER.name,
            DEFENDER.tls_subject,
            ISSUERS[0],
            rng.uniform(0.3, 3),
            rng.randrange(2500, 4000),
            rng.randrange(5000, 9000),
        )
        if rng.random() < 0.4:
            t.tls(
                now + timedelta(seconds=2),
                host.ip,
                UPDATE_TLS.ip,
                UPDATE_TLS.name,
                UPDATE_TLS.tls_subject,
                ISSUERS[0],
                rng.uniform(0.5, 6),
                rng.randrange(3000, 8000),
                rng.randrange(8000, 40000),
            )
        now += timedelta(seconds=rng.jitter(3900, 900))
    if rng.random() < 0.5:
        at = DAY_START + timedelta(minutes=rng.uniform(30, 600))
        size = rng.randrange(200_000, 4_000_000)
        t.http(
            at,
            host.ip,
            UPDATE_HTTP.ip,
            80,
            UPDATE_HTTP.name,
            f"/c/msdownload/update/software/defu/2026/11/am_delta_patch_1.421."
            f"{rng.randrange(100, 999)}.0_{rng.hexdigits(40)}.exe",
            user_agent=UPDATE_AGENT,
            response_len=size,
            mime="application/vnd.ms-cab-compressed",
            duration=rng.uniform(1, 20),
        )


def _dc(t: Traffic) -> None:
    rng = t.rng
    now = DAY_START + timedelta(seconds=rng.uniform(0, 300))
    while now < DAY_END:
        t.conn(now, DC.ip, NTP.ip, 123, "udp", "ntp", rng.uniform(0.006, 0.012), 48, 48)
        now += timedelta(seconds=rng.jitter(1024, 2))
    now = DAY_START
    sites = weighted_web()
    while now < DAY_END:
        site = rng.choice(sites)
        t.dns(now, DC.ip, site.name, [site.ip], server=rng.choice(UPSTREAM_DNS))
        now += timedelta(seconds=rng.uniform(10, 90))


def _backup(t: Traffic) -> None:
    rng = t.rng
    for at in (jst(12, 0, 7.0), jst(18, 30, 5.0)):
        uid = t.conn(
            at,
            BACKUP_SERVER.ip,
            FILE_SERVER.ip,
            445,
            "tcp",
            "smb,gssapi,ntlm",
            rng.uniform(1200, 1700),
            rng.randrange(3_000_000, 5_000_000),
            rng.randrange(900_000_000, 1_400_000_000),
        )
        t.ntlm(
            at + timedelta(milliseconds=9),
            uid,
            BACKUP_SERVER.ip,
            FILE_SERVER.ip,
            FILE_SERVER.name,
            "svc_backup",
            BACKUP_SERVER.name,
            True,
        )
        t.smb_mapping(
            at + timedelta(milliseconds=25), uid, BACKUP_SERVER.ip, FILE_SERVER.ip, r"\\FS-01\share"
        )


def benign_traffic(t: Traffic) -> None:
    """Every benign exchange of the day."""
    for ws in WORKSTATIONS:
        _workday(t, ws)
    for host in WORKSTATIONS + SERVERS:
        _updates(t, host)
    _dc(t)
    _backup(t)


def day_bounds() -> tuple[datetime, datetime]:
    """When the sensor's logs open and close."""
    return DAY_START, DAY_END + timedelta(seconds=5)
