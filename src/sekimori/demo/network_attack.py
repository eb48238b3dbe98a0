"""The intrusion as the Zeek sensor sees it, and the day's SMTP of the mail server.

The loader download by raw IP (``files.log``: ``application/x-dosexec``),
NXDOMAIN answers for the dead ``.invalid`` download hosts, HTTP and TLS
beacons every ~300 s with stable sizes, the SMB sweep with its many
``S0``/``REJ``, the NTLM guesses against FS-01, the remote service copy over
``ADMIN$`` and the spam run straight to outside mail servers on port 25.
"""

from __future__ import annotations

import email.utils
from datetime import timedelta

from sekimori.demo.company import (
    FILE_SERVER,
    JST,
    MAIL_DOMAIN,
    MAIL_SERVER,
    PATIENT_ZERO,
    jst,
)
from sekimori.demo.internet import OUTBOUND_MX
from sekimori.demo.mail import MailSpec, encoded_address, encoded_subject
from sekimori.demo.schedule import beacons, guesses, spam, sweep
from sekimori.demo.story import (
    C2_HTTP,
    LOADER_IP,
    LOADER_MD5,
    LOADER_SHA1,
    LOADER_SHA256,
    LOADER_SIZE,
    LOADER_URLS,
)
from sekimori.demo.traffic import Traffic

# PowerShell's WebClient sends no User-Agent; Invoke-WebRequest sends this one.
PS_AGENT = "Mozilla/5.0 (Windows NT; Windows NT 10.0; ja-JP) WindowsPowerShell/5.1.19041.5247"
BEACON_AGENT = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.2; WOW64; Trident/7.0; .NET4.0C)"
# The self-signed certificate Emotet's TLS C&C servers were known to present.
C2_CERT = "CN=example.com,OU=IT Department,O=Global Security,L=London,ST=London,C=GB"


def infection(t: Traffic) -> None:
    """Every exchange of the intrusion, in story order."""
    rng = t.rng
    ws = PATIENT_ZERO.ip
    at = jst(9, 14, 5.1)
    for url in LOADER_URLS[:2]:
        t.dns(at, ws, url.split("/")[2], rcode=3)
        at += timedelta(milliseconds=812)
    path = "/" + LOADER_URLS[2].split("/", 3)[3]
    t.http(
        jst(9, 14, 6.902),
        ws,
        LOADER_IP,
        80,
        LOADER_IP,
        path,
        user_agent=PS_AGENT,
        response_len=LOADER_SIZE,
        mime="application/x-dosexec",
        hashes=(LOADER_MD5, LOADER_SHA1, LOADER_SHA256),
        duration=1.318,
    )
    for b in beacons():
        if b.dst == C2_HTTP[0]:
            t.http(
                b.at,
                b.src,
                b.dst,
                b.port,
                f"{b.dst}:{b.port}",
                f"/{rng.word(5)}/{rng.word(6)}/",
                "POST",
                BEACON_AGENT,
                200,
                612,
                148,
                "text/html",
                duration=rng.uniform(0.28, 0.33),
            )
        else:
            t.tls(
                b.at,
                b.src,
                b.dst,
                None,
                C2_CERT,
                C2_CERT,
                rng.uniform(0.4, 0.5),
                1242,
                3386,
                port=b.port,
                validation="self signed certificate",
                version="TLSv12",
            )
    for p in sweep():
        if p.dst == FILE_SERVER.ip:
            t.conn(p.at, ws, p.dst, 445, "tcp", "smb", 0.0132, 199, 283, "SF")
        else:
            t.conn(p.at, ws, p.dst, 445, state=p.state)
    for g in guesses():
        uid = t.conn(
            g.at,
            ws,
            FILE_SERVER.ip,
            445,
            "tcp",
            "smb,gssapi,ntlm",
            rng.uniform(0.02, 0.06),
            1688,
            1317,
            "SF",
        )
        t.ntlm(
            g.at + timedelta(milliseconds=11),
            uid,
            ws,
            FILE_SERVER.ip,
            FILE_SERVER.name,
            g.username,
            PATIENT_ZERO.name,
            g.success,
            domain="CORP" if g.success else PATIENT_ZERO.name,
        )
        if g.success:
            t.smb_mapping(
                g.at + timedelta(milliseconds=30), uid, ws, FILE_SERVER.ip, r"\\FS-01\IPC$", "IPC"
            )
    copy = t.conn(
        jst(10, 25, 4.9),
        ws,
        FILE_SERVER.ip,
        445,
        "tcp",
        "smb,gssapi,ntlm,dce_rpc",
        6.4,
        LOADER_SIZE + 38_000,
        9_200,
        "SF",
    )
    t.ntlm(
        jst(10, 25, 4.92),
        copy,
        ws,
        FILE_SERVER.ip,
        FILE_SERVER.name,
        "svc_backup",
        PATIENT_ZERO.name,
        True,
    )
    t.smb_mapping(jst(10, 25, 4.95), copy, ws, FILE_SERVER.ip, r"\\FS-01\ADMIN$")
    t.smb_mapping(jst(10, 25, 9.6), copy, ws, FILE_SERVER.ip, r"\\FS-01\IPC$", "IPC")
    t.dce_rpc(
        jst(10, 25, 9.7),
        copy,
        ws,
        FILE_SERVER.ip,
        r"\pipe\svcctl",
        "svcctl",
        ("OpenSCManagerW", "CreateServiceW", "StartServiceW", "CloseServiceHandle"),
    )
    for s in spam():
        domain = s.rcpt_to.split("@", 1)[1]
        t.dns(s.at - timedelta(seconds=1), ws, domain, [f"mx.{domain}"], qtype="MX")
        refused = rng.random() < 0.2
        subject = encoded_subject(
            MailSpec(s.at, ("", s.mail_from), (), s.subject, "", "spam", charset="utf-8")
        )
        t.smtp(
            s.at,
            ws,
            s.dst,
            PATIENT_ZERO.name,
            s.mail_from,
            [s.rcpt_to],
            email.utils.format_datetime(s.at.astimezone(JST)).replace(".000000", ""),
            s.mail_from,
            [s.rcpt_to],
            f"<{rng.hexdigits(16)}@{s.mail_from.split('@')[1]}>",
            subject,
            rng.randrange(180_000, 260_000),
            "550 5.7.1 Service unavailable; client host blocked"
            if refused
            else "250 2.0.0 Ok: queued as " + rng.hexdigits(10).upper(),
        )


def mail_transport(t: Traffic, mails: list[MailSpec]) -> None:
    """SMTP of the mail server: inbound from partners (and the lure), outbound relays."""
    rng = t.rng
    for m in mails:
        if m.direction == "internal" or m.relay is None:
            continue
        size = 2_000 + len(m.body.encode()) + sum(len(a.data) * 4 // 3 for a in m.attachments)
        date = email.utils.format_datetime(m.at.astimezone(JST)).replace(".000000", "")
        from_ = encoded_address(*m.sender, m.charset)
        to = [encoded_address(n, a, m.charset) for n, a in m.to]
        subject = encoded_subject(m)
        if m.direction == "inbound":
            t.smtp(
                m.at + timedelta(seconds=1),
                m.relay.ip,
                MAIL_SERVER.ip,
                m.relay.name,
                m.sender[1],
                [a for _, a in m.to],
                date,
                from_,
                to,
                m.msg_id,
                subject,
                size,
                in_reply_to=m.in_reply_to,
                last_reply=f"250 2.0.0 Ok: queued as {rng.hexdigits(10).upper()}",
            )
        else:
            mx = next(
                (s for s in OUTBOUND_MX if s.name.split(".", 1)[1] == m.to[0][1].split("@", 1)[1]),
                m.relay,
            )
            t.smtp(
                m.at + timedelta(seconds=2),
                MAIL_SERVER.ip,
                mx.ip,
                f"mail01.{MAIL_DOMAIN}",
                m.sender[1],
                [a for _, a in m.to],
                date,
                from_,
                to,
                m.msg_id,
                subject,
                size,
                in_reply_to=m.in_reply_to,
            )
