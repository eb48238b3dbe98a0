"""Mail gateway speed: messages/s and latency per message, against olevba on the same files.

Usage: .venv/bin/python bench/mail.py [MESSAGES] [--workers N] [--repeat N] [--no-cli]

Builds a corpus of MESSAGES (default 1,000) inert messages with the sample
builders, mostly clean as real traffic is (85 %: internal Japanese mail,
PPAP zips of clean spreadsheets, plain .docx/.xlsx/.pdf attachments,
newsletters), the rest Emotet-style lures (macro .docm in a PPAP zip,
reply hijack with a .docm, link to a .doc, LNK in a zip, XLM .xls). Then it
times, in the same run and on the same machine:

1. ``sekimori scan`` in one process (``scan_bytes``, the whole message:
   MIME, sender, links, passwords, archives, every attachment), per message;
2. ``sekimori scan`` through the sandbox (``Sandbox.scan_many``, the worker
   processes with memory/CPU limits that the CLI, the hunt and the mail
   filter use), with ``--workers`` processes (default: one per CPU). The
   pool is started before the clock starts, as in the long-running mail
   filter; its start-up time is printed on its own line. Then once more
   one message at a time (``Sandbox.scan``, as the mail filter sends each
   mail), with the latency per message that includes the trip to a worker;
3. olevba as a library, in one process, on every Office document in those
   messages, including the ones inside PPAP zips (extracted beforehand with
   the password from the body; the decryption is not timed for olevba):
   ``VBA_Parser(name, data=…)``, ``detect_vba_macros()`` /
   ``detect_xlm_macros()``, and ``analyze_macros()`` when there are macros,
   which is olevba's analysis without its printing. Latency is per file;
   messages/s is the corpus's message count over olevba's total time, so
   that both rows answer "how fast does this corpus go through";
4. unless ``--no-cli``, both command lines end to end on files in a
   temporary folder, interpreter start included: ``sekimori scan --json
   DIR`` (default options: sandbox with one worker per CPU) against one
   ``olevba`` invocation over all the Office files (``olevba FILE…``),
   with bytecode cached as on a user's machine.

Runs 1 to 3, and then the two command lines, go in ``--repeat``
interleaved rounds (default 3), so that a busy machine slows them alike,
and each row shows its best round; ``cpu s`` is the CPU time of the
measuring process (rows run in this process only).
The sandbox's verdicts are checked against the in-process ones.

A fourth in-process row runs olevba as in 3. inside
``mail.vbakeywords.keyword_search``, the keyword search the scan uses
(olevba's searches, each regex run only where its keyword's text is; same
results): it shows how much of olevba's time that search is.

Last, the goal ("faster than olevba alone while doing the whole message")
is checked three ways, each printed with its numbers: the scan as the
gateway and the command line run it (sandbox, ``--workers`` processes)
against the olevba library in its one process; command line against
command line; and CPU time against CPU time, one process each.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyzipper
from oletools.olevba import VBA_Parser

from sekimori.mail.filetype import sniff
from sekimori.mail.mime import parse_message
from sekimori.mail.sandbox import Sandbox, SandboxLimits
from sekimori.mail.scan import scan_bytes
from sekimori.mail.vbakeywords import keyword_search
from sekimori.samples import mail as samples
from sekimori.samples.mail import build_mail
from sekimori.samples.office import build_docx, build_xlsx
from sekimori.samples.pdf import build_pdf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OFFICE_KINDS = {"ole", "ooxml", "slk", "office_xml"}


def corpus(count: int) -> list[bytes]:
    sheet = build_xlsx([["品名", "数量"], ["A4", 10]])
    docx = build_docx("議事録")
    pdf = build_pdf("Minutes", uri="https://www.example.com/")
    internal = ("鈴木 花子", "suzuki@example.co.jp")
    to = ("山本 一郎", "yamamoto@example.co.jp")
    clean = [
        samples.clean_mail(),
        samples.clean_ppap_mail(),
        samples.ppap_password_mail(),
        build_mail(
            internal,
            to,
            "議事録",
            "添付をご確認ください。",
            attachments=[("議事録.docx", docx, DOCX)],
        ),
        build_mail(internal, to, "集計", "集計表です。", attachments=[("集計.xlsx", sheet, XLSX)]),
        build_mail(
            internal, to, "資料", "PDF です。", attachments=[("資料.pdf", pdf, "application/pdf")]
        ),
        build_mail(
            ("News", "news@example.com"),
            to,
            "Newsletter",
            "Read more: https://www.example.com/a https://www.example.com/b",
            html='<a href="https://www.example.com/a">www.example.com</a>',
        ),
    ]
    bad = [
        samples.emotet_invoice_mail(),
        samples.reply_hijack_mail(),
        samples.link_mail(),
        samples.emotet_lnk_mail(),
        samples.emotet_xlm_mail(),
    ]
    out = []
    for i in range(count):
        pool = bad if i % 100 < 15 else clean
        out.append(pool[i % len(pool)])
    return out


def office_files(raw: bytes) -> list[tuple[str, bytes]]:
    """The Office documents of a message as the scan sees them (PPAP zips opened)."""
    passwords = {
        node.name: str(node.facts["password"])
        for node in scan_bytes(raw, "m.eml").attachments
        if "password" in node.facts
    }
    files: list[tuple[str, bytes]] = []
    for child in parse_message(raw).attachments:
        if sniff(child.data, child.name) != "zip":
            files.append((child.name, child.data))
            continue
        password = passwords.get(child.name)
        with pyzipper.AESZipFile(io.BytesIO(child.data)) as zf:
            if password:
                zf.setpassword(password.encode())
            for info in zf.infolist():
                try:
                    files.append((info.filename, zf.read(info)))
                except RuntimeError:  # encrypted, and the message holds no password for it
                    continue
    return [(n, d) for n, d in files if sniff(d, n) in OFFICE_KINDS]


def olevba_once(name: str, data: bytes) -> None:
    parser = VBA_Parser(name, data=data)
    if parser.detect_vba_macros() or parser.detect_xlm_macros():
        parser.analyze_macros()
    parser.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(
    label: str,
    procs: str,
    messages: int,
    total: float,
    lat: list[float],
    files: int,
    cpu: float | None = None,
) -> str:
    p50 = f"{pct(lat, 0.5) * 1000:8.2f}" if lat else f"{'-':>8}"
    p99 = f"{pct(lat, 0.99) * 1000:8.2f}" if lat else f"{'-':>8}"
    used = f"{cpu:7.2f}" if cpu is not None else f"{'-':>7}"
    return (
        f"{label:38} {procs:>5} {messages / total:9.0f} {files / total:9.0f} "
        f"{total:8.2f} {used} {p50} {p99}"
    )


def cli_runs(
    messages: list[bytes], files: list[list[tuple[str, bytes]]], rounds: int
) -> tuple[list[str], tuple[float, float]]:
    """Both command lines, end to end, on the corpus written to a temporary folder.

    ``rounds`` interleaved rounds, the best of each kept (the first also
    writes the bytecode caches, as a user's first run does). Their rows, and
    the seconds of each (sekimori's, olevba's).
    """
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        mail_dir, office_dir = Path(tmp, "mail"), Path(tmp, "office")
        mail_dir.mkdir()
        office_dir.mkdir()
        for i, raw in enumerate(messages):
            (mail_dir / f"{i:05d}.eml").write_bytes(raw)
        paths = []
        for i, (name, data) in enumerate(f for found in files for f in found):
            path = office_dir / f"{i:05d}{Path(name).suffix}"
            path.write_bytes(data)
            paths.append(str(path))
        # Bytecode is cached as on a user's machine (installed packages have
        # theirs; a source checkout writes its own on its first run), whatever
        # PYTHONDONTWRITEBYTECODE says here.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["SEKIMORI_HOME"] = str(Path(tmp, "home"))
        olevba = shutil.which("olevba", path=str(bindir)) or "olevba"
        sekimori_runs, olevba_runs, scanned = [], [], 0
        for _ in range(max(1, rounds)):
            start = time.perf_counter()
            done = subprocess.run(
                [str(bindir / "sekimori"), "scan", "--json", "--no-intel-store", str(mail_dir)],
                capture_output=True,
                check=False,
                env=env,
            )
            sekimori_runs.append(time.perf_counter() - start)
            scanned = done.stdout.count(b"\n")
            start = time.perf_counter()
            subprocess.run([olevba, *paths], capture_output=True, check=False, env=env)
            olevba_runs.append(time.perf_counter() - start)
    workers = SandboxLimits().workers
    sekimori_total, olevba_total = min(sekimori_runs), min(olevba_runs)
    lines = [
        row(
            f"`sekimori scan --json DIR` ({scanned} out)",
            f"1+{workers}",
            len(messages),
            sekimori_total,
            [],
            len(paths),
        ),
        row("`olevba FILE…`, one invocation", "1", len(messages), olevba_total, [], len(paths)),
    ]
    return lines, (sekimori_total, olevba_total)


def time_scan(messages: list[bytes]) -> tuple[float, float, list[float], list[str]]:
    """``scan_bytes`` on every message in this process: wall s, CPU s, latencies, verdicts."""
    latencies, verdicts = [], []
    cpu = time.process_time()
    start = time.perf_counter()
    for raw in messages:
        t = time.perf_counter()
        result = scan_bytes(raw, "m.eml")
        latencies.append(time.perf_counter() - t)
        verdicts.append(result.verdict.value)
    return time.perf_counter() - start, time.process_time() - cpu, latencies, verdicts


def time_olevba(files: list[list[tuple[str, bytes]]]) -> tuple[float, float, list[float]]:
    """olevba on every Office file in this process: wall s, CPU s, latency per file."""
    latencies = []
    cpu = time.process_time()
    start = time.perf_counter()
    for found in files:
        for name, data in found:
            t = time.perf_counter()
            olevba_once(name, data)
            latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, time.process_time() - cpu, latencies


def time_olevba_keyword_search(
    files: list[list[tuple[str, bytes]]],
) -> tuple[float, float, list[float]]:
    """``time_olevba`` with the scan's keyword search in place of olevba's own."""
    with keyword_search():
        return time_olevba(files)


def time_sandbox(sandbox: Sandbox, messages: list[bytes]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    results = list(sandbox.scan_many((f"m{i}", "m.eml", raw) for i, raw in enumerate(messages)))
    return time.perf_counter() - start, [r.verdict.value for r in results]


def time_sandbox_single(sandbox: Sandbox, messages: list[bytes]) -> tuple[float, list[float]]:
    """One message at a time through the sandbox, as the mail filter sends them."""
    latencies = []
    start = time.perf_counter()
    for i, raw in enumerate(messages):
        t = time.perf_counter()
        sandbox.scan(f"m{i}", "m.eml", raw)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("messages", type=int, nargs="?", default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best of each is shown")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line runs")
    args = parser.parse_args()
    for name in ("olevba", "oletools", "olefile", "msodde"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    t0 = time.perf_counter()
    messages = corpus(args.messages)
    files = [office_files(m) for m in messages]
    nfiles = sum(map(len, files))
    print(
        f"corpus: {len(messages)} messages, {nfiles} Office files "
        f"({sum(1 for f in files if f)} messages with one), "
        f"{sum(map(len, messages)) / 1e6:.1f} MB, built in {time.perf_counter() - t0:.1f} s; "
        f"{os.cpu_count()} CPUs"
    )

    scans, olevbas, searched, sandboxes, singles = [], [], [], [], []
    with Sandbox(SandboxLimits(workers=args.workers)) as sandbox:
        start = time.perf_counter()
        sandbox.start()
        pool_start = time.perf_counter() - start
        # Rounds interleave the runs, so that a busy machine slows all of them alike.
        for _ in range(max(1, args.repeat)):
            scans.append(time_scan(messages))
            olevbas.append(time_olevba(files))
            searched.append(time_olevba_keyword_search(files))
            sandboxes.append(time_sandbox(sandbox, messages))
            singles.append(time_sandbox_single(sandbox, messages))
    scan_total, scan_cpu, latencies, verdicts = min(scans, key=lambda r: r[0])
    olevba_total, olevba_cpu, olevba_latencies = min(olevbas, key=lambda r: r[0])
    searched_total, searched_cpu, searched_latencies = min(searched, key=lambda r: r[0])
    sandbox_total, sandboxed = min(sandboxes, key=lambda r: r[0])
    single_total, single_latencies = min(singles, key=lambda r: r[0])
    counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    agree = sum(1 for a, b in zip(verdicts, sandboxed, strict=True) if a == b)

    print(f"verdicts: {counts}; sandbox verdicts equal to in-process ones: {agree}/{len(messages)}")
    print(f"sandbox pool start ({args.workers} workers): {pool_start:.2f} s (not in its row)")
    print(f"best of {max(1, args.repeat)} interleaved rounds:")
    print(
        f"{'run':38} {'procs':>5} {'msg/s':>9} {'files/s':>9} {'total s':>8} "
        f"{'cpu s':>7} {'p50 ms':>8} {'p99 ms':>8}"
    )
    n = len(messages)
    print(
        row(
            "sekimori scan, 1 process, per message", "1", n, scan_total, latencies, nfiles, scan_cpu
        )
    )
    print(row("sekimori scan, sandbox workers", str(args.workers), n, sandbox_total, [], nfiles))
    print(
        row(
            "sekimori scan, sandbox, one at a time",
            "1+1",
            n,
            single_total,
            single_latencies,
            nfiles,
        )
    )
    print(
        row(
            "olevba library, same files, per file",
            "1",
            n,
            olevba_total,
            olevba_latencies,
            nfiles,
            olevba_cpu,
        )
    )
    print(
        row(
            "olevba library, scan's keyword search",
            "1",
            n,
            searched_total,
            searched_latencies,
            nfiles,
            searched_cpu,
        )
    )
    cli: tuple[float, float] | None = None
    if not args.no_cli:
        lines, cli = cli_runs(messages, files, args.repeat)
        for line in lines:
            print(line)
    print("goal: faster than olevba alone while doing the whole message")
    print(
        goal(
            f"as run (sandbox, {args.workers} workers) vs olevba library",
            n,
            sandbox_total,
            olevba_total,
        )
    )
    if cli is not None:
        print(goal("command line vs command line", n, *cli))
    print(goal("per CPU, one process each (CPU s)", n, scan_cpu, olevba_cpu))
    return 0


def goal(label: str, messages: int, ours: float, theirs: float) -> str:
    """One way of checking the goal: both rates, their ratio, and whether it is met."""
    met = "met" if ours < theirs else "not met"
    return (
        f"  {label:52} {messages / ours:7.0f} vs {messages / theirs:7.0f} msg/s: "
        f"{theirs / ours:4.2f}x, {met}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
