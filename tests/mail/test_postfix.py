"""The content filter behind a real Postfix, configured here in a temporary directory.

Postfix (Debian ``postfix``) listens on an inbound port, hands every message
to ``sekimori mailfilter`` (``content_filter = sekimori:[127.0.0.1]:<port>``),
takes it back on a re-injection ``smtpd`` without a content filter and relays
it to an SMTP sink on 127.0.0.1. Skipped without Postfix or root; under
``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from sekimori.mail.quarantine import Quarantine
from sekimori.samples import mail as samples
from tests.conftest import missing

MASTER_CF = """\
127.0.0.1:{inbound} inet n - n - - smtpd
127.0.0.1:{reinject} inet n - n - 10 smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_relay_restrictions=permit_mynetworks,reject
sekimori unix - - n - 4 smtp
  -o smtp_send_xforward_command=yes
  -o disable_mime_output_conversion=yes
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def postfix():
    if shutil.which("postfix") is None or shutil.which("postconf") is None:
        missing("Postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        missing("a private Postfix instance needs root to start")
    # Postfix daemons run as the postfix user: the folder must be reachable by it.
    root = Path(tempfile.mkdtemp(prefix="sekimori-postfix-", dir="/tmp"))
    root.chmod(0o755)
    ports = {name: free_port() for name in ("inbound", "reinject", "filter", "sink")}
    etc, queue, data = root / "etc", root / "queue", root / "data"
    for folder in (etc, queue, data):
        folder.mkdir()
    shutil.chown(data, "postfix")
    (etc / "main.cf").write_text(
        f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.jp
mydomain = example.jp
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.jp, example.co.jp
relayhost = [127.0.0.1]:{ports["sink"]}
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
content_filter = sekimori:[127.0.0.1]:{ports["filter"]}
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
alias_maps =
alias_database =
local_recipient_maps =
"""
    )
    (etc / "master.cf").write_text(MASTER_CF.format(**ports))
    subprocess.run(["postfix", "-c", str(etc), "start"], check=True, capture_output=True)
    try:
        wait_for_port(ports["inbound"], time.monotonic() + 30)
        yield root, ports
    finally:
        subprocess.run(["postfix", "-c", str(etc), "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_mail_through_postfix_and_sekimori_mailfilter(postfix) -> None:
    root, ports = postfix
    sink = Sink()
    sink_server = Controller(sink, hostname="127.0.0.1", port=ports["sink"], decode_data=False)
    sink_server.start()
    home = root / "home"
    env = {**os.environ, "SEKIMORI_HOME": str(home)}
    filter_cmd = [
        str(Path(sys.executable).parent / "sekimori"), "mailfilter",
        "--listen", f"127.0.0.1:{ports['filter']}",
        "--reinject", f"127.0.0.1:{ports['reinject']}",
        "--workers", "1", "--no-store",
    ]  # fmt: skip
    proc = subprocess.Popen(filter_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(ports["filter"], time.monotonic() + 60)
        with smtplib.SMTP("127.0.0.1", ports["inbound"], timeout=30) as client:
            client.sendmail("suzuki@example.jp", ["yamamoto@example.jp"], samples.clean_mail())
            client.sendmail(
                "sato@examp1e.invalid", ["tanaka@example.co.jp"], samples.emotet_invoice_mail()
            )
            link = samples.link_mail()
            client.sendmail("info@examp1e.invalid", ["tanaka@example.co.jp"], link)
        deadline = time.monotonic() + 60
        log = root / "maillog"
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if len(sink.messages) >= 1 and text.count("quarantined") >= 2:
                break
            time.sleep(0.3)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
        sink_server.stop()
    assert len(sink.messages) == 1, output
    delivered = sink.messages[0]
    assert b"X-Sekimori-Verdict: clean" in delivered
    assert (root / "maillog").read_text().count("Ok: quarantined") == 2
    assert len(list(Quarantine(home / "quarantine"))) == 2
