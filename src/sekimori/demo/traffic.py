"""Writers of one network exchange at a time into the Zeek logs of the day.

:class:`Traffic` holds the day's Zeek logs and adds, for one connection,
the ``conn.log`` row and the protocol rows that belong to it (``dns``,
``http`` + ``files``, ``ssl``, ``smtp``, ``smb_mapping``, ``ntlm``), with
matching uids, so that the benign and the malicious generators speak one
vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sekimori.demo.company import AD_DNS_DOMAIN, DC
from sekimori.demo.rng import DemoRandom
from sekimori.demo.zeek_log import ZeekLog, conn_row

LOG_NAMES = ("conn", "dns", "http", "ssl", "files", "smtp", "smb_mapping", "ntlm", "dce_rpc")
QTYPES = {"A": 1, "MX": 15, "AAAA": 28, "SRV": 33, "PTR": 12}
CIPHER = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"


@dataclass(slots=True)
class Traffic:
    """The Zeek logs of the day and the writers of each kind of exchange."""

    rng: DemoRandom
    logs: dict[str, ZeekLog] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in LOG_NAMES:
            self.logs.setdefault(name, ZeekLog(name))

    def port(self) -> int:
        """An ephemeral client port."""
        return self.rng.randrange(49152, 65535)

    def conn(
        self,
        ts: datetime,
        src: str,
        dst: str,
        dport: int,
        proto: str = "tcp",
        service: str | None = None,
        duration: float | None = None,
        ob: int | None = None,
        rb: int | None = None,
        state: str = "SF",
        history: str | None = None,
        sport: int | None = None,
    ) -> str:
        """A ``conn.log`` row; returns its uid."""
        uid = self.rng.zeek_uid()
        sport = sport or self.port()
        self.ports[uid] = sport
        if history is None:
            history = {
                "SF": "ShADadFf",
                "S0": "S",
                "REJ": "Sr",
                "RSTO": "ShR",
                "S1": "ShAD",
                "OTH": "C",
            }.get(state, "ShADadFf")
            if proto == "udp":
                history = "Dd" if state == "SF" else "D"
        if state in ("S0", "REJ"):
            duration, ob, rb = (None, 0, 0) if state == "S0" else (0.000412, 0, 0)
        self.logs["conn"].add_row(
            conn_row(
                ts,
                uid,
                (src, sport),
                (dst, dport),
                proto,
                service,
                duration,
                ob,
                rb,
                state,
                history,
                local_resp=dst.startswith("10.1."),
            )
        )
        return uid

    def dns(
        self,
        ts: datetime,
        client: str,
        query: str,
        answers: Sequence[str] = (),
        qtype: str = "A",
        server: str = DC.ip,
        rcode: int = 0,
    ) -> str:
        """A DNS query and its answer (``rcode`` 3: no such name)."""
        rtt = self.rng.uniform(0.0004, 0.04)
        uid = self.conn(
            ts,
            client,
            server,
            53,
            "udp",
            "dns",
            rtt,
            self.rng.randrange(30, 60),
            self.rng.randrange(60, 220) if answers else 110,
            "SF",
        )
        self.logs["dns"].add_row(
            {
                "ts": ts,
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": 53,
                "proto": "udp",
                "trans_id": self.rng.randrange(1, 65535),
                "rtt": rtt,
                "query": query,
                "qclass": 1,
                "qclass_name": "C_INTERNET",
                "qtype": QTYPES[qtype],
                "qtype_name": qtype,
                "rcode": rcode,
                "rcode_name": {0: "NOERROR", 3: "NXDOMAIN", 2: "SERVFAIL"}[rcode],
                "AA": False,
                "TC": False,
                "RD": True,
                "RA": True,
                "Z": 0,
                "answers": list(answers) if answers else None,
                "TTLs": [float(self.rng.choice((60, 300, 3600))) for _ in answers] or None,
                "rejected": False,
            }
        )
        return uid

    def tls(
        self,
        ts: datetime,
        client: str,
        server: str,
        sni: str | None,
        subject: str,
        issuer: str,
        duration: float,
        ob: int,
        rb: int,
        port: int = 443,
        validation: str = "ok",
        version: str = "TLSv13",
    ) -> str:
        """A TLS connection with its ``ssl.log`` row."""
        uid = self.conn(ts, client, server, port, "tcp", "ssl", duration, ob, rb, "SF")
        self.logs["ssl"].add_row(
            {
                "ts": ts + timedelta(milliseconds=12),
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": port,
                "version": version,
                "cipher": CIPHER if version == "TLSv12" else "TLS_AES_256_GCM_SHA384",
                "curve": "x25519",
                "server_name": sni,
                "resumed": self.rng.random() < 0.3,
                "last_alert": None,
                "next_protocol": None,
                "established": True,
                "ssl_history": "CsiI" if version == "TLSv13" else "CsxknGIi",
                "cert_chain_fps": [self.rng.hexdigits(64)] if version == "TLSv12" else None,
                "client_cert_chain_fps": None,
                "subject": subject if version == "TLSv12" else None,
                "issuer": issuer if version == "TLSv12" else None,
                "sni_matches_cert": (sni is not None) if version == "TLSv12" else None,
                "validation_status": validation if version == "TLSv12" else None,
            }
        )
        return uid

    def http(
        self,
        ts: datetime,
        client: str,
        server: str,
        port: int,
        host: str,
        uri: str,
        method: str = "GET",
        user_agent: str = "",
        status: int = 200,
        request_len: int = 0,
        response_len: int = 0,
        mime: str | None = None,
        filename: str | None = None,
        hashes: tuple[str, str, str] | None = None,
        duration: float = 0.2,
    ) -> str:
        """An HTTP exchange with its ``http.log`` row (and ``files.log`` when a body came)."""
        uid = self.conn(
            ts,
            client,
            server,
            port,
            "tcp",
            "http",
            duration,
            request_len + 180 + len(uri),
            response_len + 240,
            "SF",
        )
        fuid = self.rng.zeek_uid("F") if response_len else None
        self.logs["http"].add_row(
            {
                "ts": ts + timedelta(milliseconds=3),
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": port,
                "trans_depth": 1,
                "method": method,
                "host": host,
                "uri": uri,
                "referrer": None,
                "version": "1.1",
                "user_agent": user_agent or None,
                "origin": None,
                "request_body_len": request_len,
                "response_body_len": response_len,
                "status_code": status,
                "status_msg": {200: "OK", 304: "Not Modified", 404: "Not Found"}.get(status, "OK"),
                "info_code": None,
                "info_msg": None,
                "tags": [],
                "username": None,
                "password": None,
                "proxied": None,
                "orig_fuids": None,
                "orig_filenames": None,
                "orig_mime_types": None,
                "resp_fuids": [fuid] if fuid else None,
                "resp_filenames": [filename] if filename else None,
                "resp_mime_types": [mime] if mime and fuid else None,
            }
        )
        if fuid:
            md5, sha1, sha256 = hashes or (self.rng.hexdigits(32), self.rng.hexdigits(40), None)
            self.logs["files"].add_row(
                {
                    "ts": ts + timedelta(milliseconds=40),
                    "fuid": fuid,
                    "uid": uid,
                    "id.orig_h": client,
                    "id.orig_p": self.ports[uid],
                    "id.resp_h": server,
                    "id.resp_p": port,
                    "source": "HTTP",
                    "depth": 0,
                    "analyzers": ["MD5", "SHA1", "SHA256"] if sha256 else ["MD5", "SHA1"],
                    "mime_type": mime,
                    "filename": filename,
                    "duration": duration * 0.8,
                    "local_orig": False,
                    "is_orig": False,
                    "seen_bytes": response_len,
                    "total_bytes": response_len,
                    "missing_bytes": 0,
                    "overflow_bytes": 0,
                    "timedout": False,
                    "parent_fuid": None,
                    "md5": md5,
                    "sha1": sha1,
                    "sha256": sha256,
                    "extracted": None,
                    "extracted_cutoff": None,
                    "extracted_size": None,
                }
            )
        return uid

    def smb_mapping(
        self, ts: datetime, uid: str, client: str, server: str, share: str, service: str = "DISK"
    ) -> None:
        """A tree connect to ``share`` on the connection ``uid``."""
        self.logs["smb_mapping"].add_row(
            {
                "ts": ts,
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": 445,
                "path": share,
                "service": service,
                "native_file_system": "NTFS" if service == "DISK" else None,
                "share_type": "DISK" if service == "DISK" else "PIPE",
            }
        )

    def dce_rpc(
        self,
        ts: datetime,
        uid: str,
        client: str,
        server: str,
        pipe: str,
        endpoint: str,
        operations: Sequence[str],
    ) -> None:
        """DCE/RPC calls over a named pipe of the SMB connection ``uid``, 10 ms apart."""
        for i, operation in enumerate(operations):
            self.logs["dce_rpc"].add_row(
                {
                    "ts": ts + timedelta(milliseconds=10 * i),
                    "uid": uid,
                    "id.orig_h": client,
                    "id.orig_p": self.ports[uid],
                    "id.resp_h": server,
                    "id.resp_p": 445,
                    "rtt": self.rng.uniform(0.0003, 0.002),
                    "named_pipe": pipe,
                    "endpoint": endpoint,
                    "operation": operation,
                }
            )

    def ntlm(
        self,
        ts: datetime,
        uid: str,
        client: str,
        server: str,
        server_name: str,
        username: str,
        hostname: str,
        success: bool,
        domain: str = "CORP",
    ) -> None:
        """An NTLM authentication on the connection ``uid``."""
        self.logs["ntlm"].add_row(
            {
                "ts": ts,
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": 445,
                "username": username,
                "hostname": hostname,
                "domainname": domain,
                "server_nb_computer_name": server_name,
                "server_dns_computer_name": f"{server_name}.{AD_DNS_DOMAIN}",
                "server_tree_name": AD_DNS_DOMAIN,
                "success": success,
            }
        )

    def smtp(
        self,
        ts: datetime,
        client: str,
        server: str,
        helo: str,
        mail_from: str,
        rcpt_to: Sequence[str],
        date: str,
        from_: str,
        to: Sequence[str],
        msg_id: str,
        subject: str,
        size: int,
        last_reply: str = "250 2.0.0 Ok: queued",
        in_reply_to: str | None = None,
        state: str = "SF",
    ) -> str:
        """One SMTP session delivering one message."""
        uid = self.conn(
            ts,
            client,
            server,
            25,
            "tcp",
            "smtp",
            self.rng.uniform(0.8, 3.5),
            size + 420,
            self.rng.randrange(600, 900),
            state,
        )
        self.logs["smtp"].add_row(
            {
                "ts": ts + timedelta(milliseconds=300),
                "uid": uid,
                "id.orig_h": client,
                "id.orig_p": self.ports[uid],
                "id.resp_h": server,
                "id.resp_p": 25,
                "trans_depth": 1,
                "helo": helo,
                "mailfrom": mail_from,
                "rcptto": list(rcpt_to),
                "date": date,
                "from": from_,
                "to": list(to),
                "cc": None,
                "reply_to": None,
                "msg_id": msg_id,
                "in_reply_to": in_reply_to,
                "subject": subject,
                "x_originating_ip": None,
                "first_received": None,
                "second_received": None,
                "last_reply": last_reply,
                "path": [server, client],
                "user_agent": None,
                "tls": False,
                "fuids": [],
                "is_webmail": False,
            }
        )
        return uid
