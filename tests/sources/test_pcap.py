from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from sekimori.model import REQUIRED_COLUMNS, EventBatch
from sekimori.sources.base import ReadContext, ReadReport
from sekimori.sources.pcap import PcapSource, sni_of
from tests.conftest import shared_path

T0 = 1_795_160_000.0
CLIENT = "10.1.0.66"


def ip_packet(src: str, dst: str, transport: dpkt.Packet, proto: int) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=transport)
    ip.len = len(ip)
    eth = dpkt.ethernet.Ethernet(
        src=b"\x00" * 6, dst=b"\x01" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip
    )
    return bytes(eth)


def tcp(src: str, sport: int, dst: str, dport: int, flags: int, data: bytes = b"") -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, data=data)
    return ip_packet(src, dst, segment, dpkt.ip.IP_PROTO_TCP)


def udp(src: str, sport: int, dst: str, dport: int, data: bytes) -> bytes:
    datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    datagram.ulen = len(datagram)
    return ip_packet(src, dst, datagram, dpkt.ip.IP_PROTO_UDP)


def client_hello(name: str) -> bytes:
    host = name.encode()
    sni = b"\x00\x00" + (len(host) + 5).to_bytes(2, "big") + (len(host) + 3).to_bytes(2, "big")
    sni += b"\x00" + len(host).to_bytes(2, "big") + host
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += len(sni).to_bytes(2, "big") + sni
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def session(
    out: list[tuple[float, bytes]],
    t: float,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    request: bytes,
    response: bytes,
) -> None:
    syn, ack = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
    out += [
        (t, tcp(src, sport, dst, dport, syn)),
        (t + 0.01, tcp(dst, dport, src, sport, syn | ack)),
        (t + 0.02, tcp(src, sport, dst, dport, ack | dpkt.tcp.TH_PUSH, request)),
        (t + 0.05, tcp(dst, dport, src, sport, ack | dpkt.tcp.TH_PUSH, response)),
        (t + 0.06, tcp(src, sport, dst, dport, dpkt.tcp.TH_FIN | ack)),
        (t + 0.07, tcp(dst, dport, src, sport, dpkt.tcp.TH_FIN | ack)),
    ]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    packets: list[tuple[float, bytes]] = []
    body = b"MZ\x90\x00" + b"\x00" * 60
    session(
        packets,
        T0,
        CLIENT,
        50000,
        "198.51.100.44",
        8080,
        b"GET /bins/update.exe HTTP/1.1\r\nHost: 198.51.100.44:8080\r\n"
        b"User-Agent: WindowsPowerShell/5.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 64\r\n\r\n"
        + body,
    )
    session(
        packets,
        T0 + 1,
        CLIENT,
        50001,
        "192.0.2.10",
        443,
        client_hello("c2.example.invalid"),
        b"\x16\x03\x03\x00\x00",
    )
    session(
        packets,
        T0 + 2,
        CLIENT,
        50002,
        "203.0.113.25",
        25,
        b"EHLO pc\r\nMAIL FROM:<keiri@example.com>\r\n"
        b"RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
        b"DATA\r\nSubject: Invoice\r\n\r\nhello\r\n.\r\nQUIT\r\n",
        b"220 mx.example.net ESMTP\r\n250 ok\r\n",
    )
    query = dpkt.dns.DNS(id=7, qd=[dpkt.dns.DNS.Q(name="c2.example.invalid", type=dpkt.dns.DNS_A)])
    packets.append((T0 + 3, udp(CLIENT, 53000, "10.1.0.2", 53, bytes(query))))
    answer = dpkt.dns.DNS(
        id=7,
        qr=dpkt.dns.DNS_R,
        qd=query.qd,
        an=[
            dpkt.dns.DNS.RR(
                name="c2.example.invalid", type=dpkt.dns.DNS_A, rdata=socket.inet_aton("192.0.2.10")
            )
        ],
    )
    packets.append((T0 + 3.01, udp("10.1.0.2", 53, CLIENT, 53000, bytes(answer))))
    for i in range(3):  # unanswered SMB probes and one refused
        packets.append(
            (T0 + 4 + i, tcp(CLIENT, 51000 + i, f"10.1.0.{100 + i}", 445, dpkt.tcp.TH_SYN))
        )
    packets.append(
        (T0 + 8, tcp("10.1.0.102", 445, CLIENT, 51002, dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK))
    )
    packets.append((T0 + 9, b"\x00\x01garbage"))
    path = tmp_path_factory.mktemp("pcap") / "capture.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for ts, data in sorted(packets):
            writer.writepkt(data, ts=ts)
    return path


@dataclass
class Read:
    batch: EventBatch
    report: ReadReport


def batches(path: Path) -> dict[str, Read]:
    report = ReadReport(path=str(path), source="pcap")
    return {b.dataset: Read(b, report) for b in PcapSource().read(path, ReadContext(), report)}


def test_flows_and_states(capture: Path) -> None:
    found = batches(capture)
    conn = found["zeek.conn"].batch.frame
    assert set(REQUIRED_COLUMNS) <= set(conn.columns)
    states = dict(
        zip(conn["destination.ip"].to_list(), conn["zeek.conn.conn_state"].to_list(), strict=True)
    )
    assert states["198.51.100.44"] == "SF" and states["10.1.0.100"] == "S0"
    assert states["10.1.0.102"] == "REJ"
    services = dict(
        zip(conn["destination.ip"].to_list(), conn["network.protocol"].to_list(), strict=True)
    )
    assert services["198.51.100.44"] == "http" and services["192.0.2.10"] == "ssl"
    assert found["zeek.conn"].report.skipped == 1


def test_http_dns_ssl_smtp(capture: Path) -> None:
    found = batches(capture)
    http = found["zeek.http"].batch.frame.row(0, named=True)
    assert http["url.original"] == "/bins/update.exe" and http["url.domain"] == "198.51.100.44:8080"
    assert http["zeek.http.resp_mime_types"] == ["application/x-dosexec"]
    assert http["user_agent.original"] == "WindowsPowerShell/5.1"
    dns = found["zeek.dns"].batch.frame.row(0, named=True)
    assert dns["dns.question.name"] == "c2.example.invalid" and dns["zeek.dns.answers"] == [
        "192.0.2.10"
    ]
    ssl = found["zeek.ssl"].batch.frame.row(0, named=True)
    assert ssl["tls.server.name"] == "c2.example.invalid"
    smtp = found["zeek.smtp"].batch.frame.row(0, named=True)
    assert smtp["email.from.address"] == "keiri@example.com"
    assert smtp["email.to.address"] == ["a@example.net", "b@example.net"]
    assert smtp["email.subject"] == "Invoice"


def test_capture_feeds_the_network_detectors(capture: Path) -> None:
    from sekimori.config import SiteConfig
    from sekimori.detect.download import LoaderDownloadDetector

    detector = LoaderDownloadDetector(SiteConfig())
    batch = batches(capture)["zeek.http"].batch
    found = detector.detect(batch, detector.new_state())
    assert [(f.rule_id, f.host_name) for f in found] == [("download.executable", CLIENT)]
    assert found[0].severity.value == "high"


def test_sniff_and_sni_parser() -> None:
    source = PcapSource()
    assert source.sniff(b"\xd4\xc3\xb2\xa1" + b"\x00" * 20, "x")
    assert source.sniff(b"\x0a\x0d\x0d\x0a" + b"\x00" * 20, "x")
    assert not source.sniff(b"#separator \\x09", "conn.log")
    assert sni_of(client_hello("a.example.invalid")) == "a.example.invalid"
    assert sni_of(b"\x16\x03\x01\x00") is None


@pytest.mark.shared_data
def test_zeek_trace_smtp() -> None:
    path = shared_path("zeek", "zeek-traces", "testing", "btest", "Traces", "smtp.pcap")
    found = batches(path)
    smtp = found["zeek.smtp"].batch.frame
    assert "gurpartap@patriots.in" in smtp["email.from.address"].to_list()
    assert "zeek.dns" in found


def test_broken_captures(tmp_path: Path, capture: Path) -> None:
    from sekimori.errors import SourceError

    data = capture.read_bytes()
    short = tmp_path / "short.pcap"
    short.write_bytes(data[:4])
    with pytest.raises(SourceError):
        batches(short)
    odd_link = tmp_path / "link.pcap"
    odd_link.write_bytes(data[:20] + (319).to_bytes(4, "little") + data[24:])
    with pytest.raises(SourceError):
        batches(odd_link)
    truncated = tmp_path / "truncated.pcap"
    truncated.write_bytes(data[: len(data) // 2])
    assert "zeek.conn" in batches(truncated)
