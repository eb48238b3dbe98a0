from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sekimori.cli import app
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"
runner = CliRunner()


def invoke(*args: str, home: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["intel", *args], env={"SEKIMORI_HOME": str(home)})
    return result.exit_code, result.output


def test_import_list_search_export(tmp_path: Path) -> None:
    code, out = invoke("import", str(DATA / "feodo.csv"), str(DATA / "urlhaus.csv"), home=tmp_path)
    assert code == 0 and "feodo: 3 indicators" in out
    code, out = invoke("list", home=tmp_path)
    assert code == 0 and "feodo" in out and "urlhaus" in out
    code, out = invoke("search", "203.0.113.77", "--json", home=tmp_path)
    assert code == 0 and json.loads(out.splitlines()[0])["malware"] == "QakBot"
    code, out = invoke("search", "198.18.0.1", home=tmp_path)
    assert code == 1
    site = tmp_path / "site.toml"
    site.write_text('[site]\nallow = ["192.0.2.10"]\n')
    code, out = invoke(
        "export", "--format", "plain", "--type", "ip", "--config", str(site), home=tmp_path
    )
    assert code == 0 and out.split() == ["198.51.100.23", "203.0.113.77"]


def test_update_reads_configured_files(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        f'[[intel.feeds]]\nname = "tf"\nlocation = "{DATA / "threatfox.csv"}"\nttl_days = 3\n'
        f'[[intel.feeds]]\nlocation = "{tmp_path / "missing.csv"}"\n'
    )
    code, out = invoke("update", "--config", str(site), home=tmp_path)
    assert code == 1  # one feed is missing, the other was still read
    assert "tf: 3 indicators" in out
    code, out = invoke("list", "--values", home=tmp_path)
    assert "c2.example.invalid" in out


def test_export_from_files_and_bad_options(tmp_path: Path) -> None:
    out_file = tmp_path / "block.nft"
    code, _ = invoke(
        "export",
        "-f",
        "nftables",
        "--from",
        str(DATA / "plain.txt"),
        "-o",
        str(out_file),
        home=tmp_path,
    )
    assert code == 0 and "table inet sekimori" in out_file.read_text()
    assert invoke("export", "--format", "nope", home=tmp_path)[0] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\n")
    assert invoke("export", "--format", "plain", "--config", str(bad), home=tmp_path)[0] == 2


def test_update_fetches_configured_urls_from_a_local_server(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        site = tmp_path / "site.toml"
        site.write_text(
            f'[[intel.feeds]]\nname = "feodo"\nlocation = "http://127.0.0.1:{port}/feodo.csv"\n'
        )
        code, out = invoke("update", "--config", str(site), home=tmp_path)
        assert code == 0 and "feodo: 3 indicators (feodo-csv)" in out
        site.write_text(f'[[intel.feeds]]\nlocation = "http://127.0.0.1:{port}/absent.csv"\n')
        code, out = invoke("update", "--config", str(site), home=tmp_path)
        assert code == 1 and "cannot fetch feed" in out
    finally:
        server.shutdown()
        server.server_close()


def test_purge(tmp_path: Path) -> None:
    code, _ = invoke("import", "--ttl-days", "0", str(DATA / "feodo.csv"), home=tmp_path)
    assert code == 0
    code, out = invoke("purge", home=tmp_path)
    assert code == 0 and "3 expired indicators removed" in out
