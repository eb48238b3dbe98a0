from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekimori.errors import SourceError
from sekimori.sources import ReadContext, ReadReport, sniff
from sekimori.sources.zeek import ZeekSource, log_type
from tests.conftest import shared_path
from tests.sources.conftest import read_all

TSV_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tservice\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tset[string]\n"
)


def test_conn_tsv_types_and_ecs(data: Path) -> None:
    report, frame, datasets = read_all(data / "zeek" / "conn.log")
    assert report.source == "zeek" and report.error is None
    assert set(datasets) == {"zeek.conn"}
    assert frame.height == 3
    # the cut-off last row (no #close) is counted with its line number
    assert report.skipped == 1
    assert report.problems[0].endswith("conn.log:12: expected 21 fields, found 5")
    schema = frame.schema
    assert schema["zeek.conn.ts"] == pl.Datetime("us", "UTC")
    assert schema["zeek.conn.duration"] == pl.Float64
    assert schema["zeek.conn.orig_bytes"] == pl.Int64
    assert schema["zeek.conn.id.resp_p"] == pl.Int64
    assert schema["zeek.conn.local_orig"] == pl.Boolean
    assert schema["zeek.conn.tunnel_parents"] == pl.List(pl.String)
    first, second, third = frame.iter_rows(named=True)
    assert first["event.id"] == "Ck1a2B3c4D5e6F7g8"
    assert first["host.name"] == "10.0.0.21"
    assert first["source.ip"] == "10.0.0.21" and first["source.port"] == 49712
    assert first["destination.ip"] == "203.0.113.50" and first["destination.port"] == 8080
    assert first["network.transport"] == "tcp" and first["network.protocol"] == "http"
    assert first["zeek.conn.tunnel_parents"] == []  # (empty)
    assert first["@timestamp"].isoformat() == "2024-05-13T09:00:00.123456+00:00"
    assert second["zeek.conn.duration"] is None  # unset "-"
    assert second["zeek.conn.service"] is None
    assert second["zeek.conn.tunnel_parents"] is None
    assert third["zeek.conn.tunnel_parents"] == ["Cabc", "Cdef"]


def test_json_lines_with_a_bad_line(data: Path) -> None:
    report, frame, datasets = read_all(data / "zeek" / "dns.log")
    assert set(datasets) == {"zeek.dns"}
    assert frame.height == 3 and report.skipped == 1
    assert "dns.log:3: malformed JSON" in report.problems[0]
    assert frame["dns.question.name"].to_list() == [
        "c2.example.com",
        "intranet.example.invalid",
        "update.example.net",
    ]
    # ISO and epoch ts in the same file
    assert frame["@timestamp"].dt.second().to_list() == [1, 2, 4]
    assert frame["zeek.dns.answers"].to_list()[0] == ["203.0.113.50"]


def test_per_log_ecs_fields(data: Path) -> None:
    _, http, _ = read_all(data / "zeek" / "http.log")
    row = http.row(0, named=True)
    assert row["url.domain"] == "c2.example.com"
    assert row["url.original"] == "/wp-admin/7ATr78/"
    assert row["http.request.method"] == "GET"
    assert row["user_agent.original"].startswith("Mozilla/4.0")
    assert row["http.response.status_code"] == 200
    assert row["zeek.http.resp_mime_types"] == ["application/x-dosexec"]

    _, files, _ = read_all(data / "zeek" / "files.log")
    row = files.row(0, named=True)
    assert row["event.id"] == "Fa1b2c3d4e5f6a7b8"  # fuid for files.log
    assert row["host.name"] == "10.0.0.21"  # receiving host
    assert row["file.hash.md5"] == "0123456789abcdef0123456789abcdef"
    assert row["file.mime_type"] == "application/x-dosexec"

    _, smtp, _ = read_all(data / "zeek" / "smtp.log")
    row = smtp.row(0, named=True)
    assert row["email.from.address"] == "k8x2q@compromised.example.net"
    assert row["email.to.address"] == ["tanaka@example.jp", "sato@example.jp"]
    assert row["email.subject"] == "RE: invoice"

    _, ntlm, datasets = read_all(data / "zeek" / "ntlm.json")
    assert datasets == ["zeek.ntlm"]  # from the file name
    assert ntlm["user.name"].to_list() == ["administrator", "administrator"]
    assert ntlm["zeek.ntlm.success"].to_list() == [False, True]


def test_sniffed_by_content_not_name(tmp_path: Path, data: Path) -> None:
    renamed = tmp_path / "foo.txt"
    shutil.copy(data / "zeek" / "conn.log", renamed)
    source = sniff(renamed)
    assert source is not None and source.name == "zeek"
    _, frame, datasets = read_all(renamed)
    assert datasets == ["zeek.conn"] and frame.height == 3  # log type from #path


def test_gzip_is_transparent(tmp_path: Path, data: Path) -> None:
    packed = tmp_path / "conn.log.gz"
    packed.write_bytes(gzip.compress((data / "zeek" / "conn.log").read_bytes()))
    report, frame, _ = read_all(packed)
    assert report.source == "zeek" and frame.height == 3 and report.skipped == 1


def test_batches_follow_batch_size(data: Path) -> None:
    report, frame, datasets = read_all(data / "zeek" / "conn.log", batch_size=2)
    assert datasets == ["zeek.conn", "zeek.conn"] and frame.height == 3
    assert report.events == 3


def test_concatenated_logs_keep_each_header(tmp_path: Path) -> None:
    first = TSV_HEADER + "1.0\tCa\t10.0.0.1\t1\t192.0.2.1\t80\thttp\t-\n"
    second = TSV_HEADER.replace("\tservice", "\tproto").replace("#path\tconn", "#path\tconn")
    second += "2.0\tCb\t10.0.0.2\t2\t192.0.2.2\t53\tudp\t-\n"
    path = tmp_path / "both.log"
    path.write_text(first + "#close\t2024\n" + second)
    _, frame, _ = read_all(path)
    assert frame["event.id"].to_list() == ["Ca", "Cb"]
    assert frame["zeek.conn.proto"].to_list() == [None, "udp"]


def test_log_type_from_name_and_fields() -> None:
    assert log_type(None, "conn.09:00:00-10:00:00.log.gz", []) == "conn"
    assert log_type(None, "open_conn.log", []) == "conn"
    assert log_type(None, "capture.json", ["ts", "uid", "query", "qtype"]) == "dns"
    assert log_type(None, "x.json", ["ts", "fuid", "mime_type"]) == "files"
    assert log_type("smb_files", "whatever.log", []) == "smb_files"


def test_rita_proxy_logs() -> None:
    folder = shared_path("zeek", "rita", "test_data", "proxy")
    report, conn, _ = read_all(folder / "conn.log")
    assert report.error is None and report.skipped == 0 and conn.height == 463
    assert "10.136.0.18" in conn["host.name"].to_list()
    _, http, _ = read_all(folder / "http.log")
    assert "www.honestimnotevil.com" in http["url.domain"].to_list()
    _, ssl, _ = read_all(folder / "ssl.log")
    assert ssl["tls.server.name"].null_count() < ssl.height


def test_zed_sample_tsv_and_json_agree() -> None:
    for log in ("ntlm", "smb_mapping", "kerberos", "dce_rpc", "rdp", "notice", "smtp", "x509"):
        _, tsv, tsv_sets = read_all(
            shared_path("zeek", "zed-sample-data", "zeek-default", f"{log}.log.gz")
        )
        _, js, js_sets = read_all(
            shared_path("zeek", "zed-sample-data", "zeek-json", f"{log}.json.gz")
        )
        assert set(tsv_sets) == set(js_sets) == {f"zeek.{log}"}
        assert tsv.height == js.height > 0
        assert tsv["@timestamp"].sort().to_list() == js["@timestamp"].sort().to_list()
        if log != "x509":
            assert sorted(tsv["event.id"].to_list()) == sorted(js["event.id"].to_list())
        if log == "smb_mapping":
            assert (
                tsv["file.path"].drop_nulls().sort().to_list()
                == js["file.path"].drop_nulls().sort().to_list()
            )
            assert "\\\\10.47.21.25\\ADMIN$" in tsv["file.path"].to_list()
    _, ntlm, _ = read_all(shared_path("zeek", "zed-sample-data", "zeek-default", "ntlm.log.gz"))
    assert (ntlm["source.ip"] == "10.150.0.20").sum() > 200


def test_slips_zeek_folder() -> None:
    folder = shared_path("zeek", "slips", "dataset", "test9-mixed-zeek-dir")
    for name in ("conn.log", "dns.log", "http.log", "ssl.log", "smtp.log", "files.log"):
        report, frame, datasets = read_all(folder / name)
        assert report.error is None, (name, report.error)
        assert datasets and datasets[0] == f"zeek.{name.removesuffix('.log')}"
        assert frame.height > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", TSV_HEADER.encode(), b'{"ts":1.0,"uid":"C1"}\n', b"#"]),
    body=st.binary(max_size=600),
)
def test_arbitrary_bytes_never_raise_other_errors(prefix: bytes, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "conn.log"
        path.write_bytes(prefix + body)
        report = ReadReport(path=str(path), source="zeek")
        try:
            for batch in ZeekSource().read(path, ReadContext(batch_size=7), report):
                assert batch.frame.height <= 7
        except SourceError as exc:
            assert str(exc).strip() and "\n" not in exc.message


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.text(max_size=40), max_size=8))
def test_arbitrary_tsv_rows_are_read_or_counted(lines: list[str]) -> None:
    cleaned = [
        line.replace("\n", " ").replace("\r", " ").lstrip("#").lstrip("\ufeff") for line in lines
    ]
    body = "".join(line + "\n" for line in cleaned)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "conn.log"
        path.write_text(TSV_HEADER + body, encoding="utf-8")
        report = ReadReport(path=str(path), source="zeek")
        try:
            rows = sum(len(b) for b in ZeekSource().read(path, ReadContext(), report))
        except SourceError:
            pytest.fail("a file with a header must be readable")
        data_lines = [line for line in cleaned if line]
        assert rows + report.skipped == len(data_lines)


def test_cut_gzip_log_keeps_the_rows_before_the_cut(tmp_path: Path) -> None:
    rows = "".join(
        f"{1700000000 + i}.5\tC{i:08d}\t10.0.0.1\t{1024 + i}\t192.0.2.1\t80\thttp\t-\n"
        for i in range(20_000)
    )
    packed = gzip.compress((TSV_HEADER + rows).encode())
    cut = tmp_path / "conn.log.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    report, frame, _ = read_all(cut)
    assert report.error is None
    assert 0 < frame.height < 20_000
    assert any("cut short" in p for p in report.problems)
    assert frame["event.id"].to_list() == [f"C{i:08d}" for i in range(frame.height)]


def test_corelight_stream_names_the_log(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(
        '{"@stream":"dns","@system":"sensor-1","ts":"2024-05-13T09:00:01Z","uid":"Cd1",'
        '"id.orig_h":"10.0.0.21","id.orig_p":53001,"id.resp_h":"10.0.0.2","id.resp_p":53,'
        '"query":"c2.example.com"}\n'
        '{"@stream":"conn","@system":"sensor-1","ts":"2024-05-13T09:00:02Z","uid":"Cc1",'
        '"id.orig_h":"10.0.0.21","id.orig_p":49712,"id.resp_h":"203.0.113.50","id.resp_p":8080,'
        '"proto":"tcp","conn_state":"SF"}\n'
    )
    _, frame, datasets = read_all(path)
    assert datasets == ["zeek.dns", "zeek.conn"]
    assert "zeek.dns.@system" not in frame.columns
    assert "zeek.dns.conn_state" not in frame.columns


def test_lone_surrogate_in_json_lines_is_replaced_and_the_file_read_on(tmp_path: Path) -> None:
    # a lone low surrogate: polars refuses the block, read again line by line
    queries = ["a.example.com", "b\udc00.example.com", "c.example.com"]
    lines = [
        {"_path": "dns", "ts": 1715590801.0 + i, "uid": f"C{i}", "query": query}
        for i, query in enumerate(queries)
    ]
    path = tmp_path / "dns.log"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="ascii")
    report, frame, _ = read_all(path)
    assert report.error is None and report.skipped == 0 and report.events == 3
    assert frame["dns.question.name"].to_list() == [
        "a.example.com",
        "b\ufffd.example.com",
        "c.example.com",
    ]
