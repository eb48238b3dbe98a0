"""Mail gateway speed: messages/s and latency per message, against olevba on the same files.

Usage: .venv/bin/python bench/mail.py [MESSAGES] [--olevba-cli N]

Builds a corpus of MESSAGES (default 1,000) inert messages with the sample
builders, mostly clean as real traffic is (85 %: internal Japanese mail,
PPAP zips of clean spreadsheets, plain .docx/.xlsx/.pdf attachments,
newsletters), the rest Emotet-style lures (macro .docm in a PPAP zip,
reply hijack, link to a .doc, LNK in a zip, XLM .xls). Then it times, in
the same run:

1. ``sekimori scan`` in one process (``scan_bytes``, the whole message:
   MIME, sender, links, archives, every attachment), per message;
2. ``sekimori scan`` through the sandbox (worker processes, as the CLI and
   the mail filter run it), total throughput;
3. olevba (``VBA_Parser`` + ``analyze_macros``, the library, no process
   start) on every file inside those messages that is an Office document,
   counted per message;
4. optionally the ``olevba`` command line on N of those files (its per-file
   cost as people run it).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from email import message_from_bytes, policy
from pathlib import Path

from oletools.olevba import VBA_Parser

from sekimori.mail.filetype import sniff
from sekimori.mail.sandbox import Sandbox, SandboxLimits
from sekimori.mail.scan import scan_bytes
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
    ]
    for name in ("emotet_lnk_mail", "emotet_xlm_mail"):
        builder = getattr(samples, name, None)
        if builder is not None:
            bad.append(builder())
    out = []
    for i in range(count):
        pool = bad if i % 100 < 15 else clean
        out.append(pool[i % len(pool)])
    return out


def office_files(raw: bytes) -> list[tuple[str, bytes]]:
    """Office documents in a message, archives opened with the body password (as the scan does)."""
    msg = message_from_bytes(raw, policy=policy.default)
    files: list[tuple[str, bytes]] = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        name = part.get_filename() or "attachment"
        if sniff(data, name) == "zip":
            result = scan_bytes(data, name)
            password = result.attachments[0].facts.get("password") if result.attachments else None
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    for member in zf.namelist():
                        content = zf.read(member, pwd=password.encode() if password else None)
                        files.append((member, content))
            except (RuntimeError, zipfile.BadZipFile):
                continue
        else:
            files.append((name, data))
    return [(n, d) for n, d in files if sniff(d, n) in OFFICE_KINDS]


def olevba_once(name: str, data: bytes) -> None:
    parser = VBA_Parser(name, data=data)
    if parser.detect_vba_macros() or parser.detect_xlm_macros():
        parser.analyze_macros()
    parser.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("messages", type=int, nargs="?", default=1000)
    parser.add_argument("--olevba-cli", type=int, default=20, help="files for the olevba command")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for name in ("olevba", "oletools", "olefile", "msodde"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    t0 = time.perf_counter()
    messages = corpus(args.messages)
    files = [office_files(m) for m in messages]
    print(
        f"corpus: {len(messages)} messages, {sum(map(len, files))} Office files, "
        f"{sum(map(len, messages)) / 1e6:.1f} MB, built in {time.perf_counter() - t0:.1f} s"
    )

    latencies, verdicts = [], {}
    start = time.perf_counter()
    for raw in messages:
        t = time.perf_counter()
        result = scan_bytes(raw, "m.eml")
        latencies.append(time.perf_counter() - t)
        verdicts[result.verdict.value] = verdicts.get(result.verdict.value, 0) + 1
    scan_total = time.perf_counter() - start

    olevba_latencies = []
    start = time.perf_counter()
    for found in files:
        t = time.perf_counter()
        for name, data in found:
            olevba_once(name, data)
        olevba_latencies.append(time.perf_counter() - t)
    olevba_total = time.perf_counter() - start

    start = time.perf_counter()
    with Sandbox(SandboxLimits(workers=args.workers)) as sandbox:
        sandboxed = list(
            sandbox.scan_many((f"m{i}", "m.eml", raw) for i, raw in enumerate(messages))
        )
    sandbox_total = time.perf_counter() - start

    rows = [
        ("sekimori scan, 1 process", len(messages) / scan_total, latencies),
        (f"sekimori scan, sandbox x{args.workers}", len(messages) / sandbox_total, None),
        ("olevba library, same files", len(messages) / olevba_total, olevba_latencies),
    ]
    agreed = sum(1 for r, raw in zip(sandboxed, messages, strict=True) if r.verdict.value)
    print(f"verdicts: {verdicts}; sandbox results: {agreed}")
    print(f"{'run':34} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, rate, lat in rows:
        p50 = f"{pct(lat, 0.5) * 1000:8.2f}" if lat else f"{'-':>8}"
        p99 = f"{pct(lat, 0.99) * 1000:8.2f}" if lat else f"{'-':>8}"
        print(f"{label:34} {rate:9.1f} {p50} {p99}")

    flat = [f for found in files for f in found][: args.olevba_cli]
    if flat:
        olevba_cmd = Path(sys.executable).parent / "olevba"
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, (name, data) in enumerate(flat):
                path = Path(tmp) / f"{i}{Path(name).suffix}"
                path.write_bytes(data)
                paths.append(path)
            start = time.perf_counter()
            for path in paths:
                subprocess.run([str(olevba_cmd), str(path)], capture_output=True, check=False)
            per_file = (time.perf_counter() - start) / len(paths)
        with_files = sum(1 for found in files if found)
        per_message = per_file * sum(map(len, files)) / len(messages)
        print(
            f"olevba command line: {per_file * 1000:.0f} ms per file over {len(paths)} files; "
            f"at this corpus's {sum(map(len, files))} files in {with_files} messages that is "
            f"{1 / per_message if per_message else float('inf'):.1f} msg/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
