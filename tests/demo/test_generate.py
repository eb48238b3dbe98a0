from __future__ import annotations

import base64
import email
import email.policy
import io
import ipaddress
import itertools
import json
import re
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sekimori.demo import feeds, story
from sekimori.demo.company import DAY_END, DAY_START, HOSTS, PATIENT_ZERO
from sekimori.demo.generate import MARKER, DemoManifest, write_demo_data
from sekimori.errors import SekimoriError
from sekimori.sources import ReadContext, read_file

TEST_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
INTERNAL = ipaddress.ip_network("10.1.0.0/16")


def in_test_net(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in TEST_NETS)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return write_demo_data(tmp_path_factory.mktemp("demo") / "day")


def events(manifest: DemoManifest, host: str, channel: str) -> list[dict[str, Any]]:
    path = manifest.root / "endpoint" / host / f"{channel}.jsonl"
    return [json.loads(line)["Event"] for line in path.read_text("utf-8").splitlines()]


def of(evs: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    out = []
    for ev in evs:
        eid = ev["System"]["EventID"]
        if (eid["#text"] if isinstance(eid, dict) else eid) == event_id:
            out.append(ev["EventData"])
    return out


def zeek_rows(manifest: DemoManifest, name: str) -> list[dict[str, str]]:
    lines = (manifest.root / "zeek" / f"{name}.log").read_text("utf-8").splitlines()
    fields = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in lines if line[:1] != "#"]


def test_two_runs_write_the_same_bytes(demo: DemoManifest, tmp_path: Path) -> None:
    again = write_demo_data(tmp_path / "again")
    first = {p.relative_to(demo.root): p.read_bytes() for p in demo.files}
    second = {p.relative_to(again.root): p.read_bytes() for p in again.files}
    assert first.keys() == second.keys()
    differing = [str(k) for k in first if first[k] != second[k]]
    assert differing == []


def test_manifest_and_layout(demo: DemoManifest) -> None:
    assert {p.name for p in demo.inputs} == {"mail", "endpoint", "zeek"}
    assert demo.infected_hosts == ("WS-07", "FS-01")
    assert len(demo.infected_hosts) + len(demo.clean_hosts) == 30
    assert demo.config_file.name == "site.toml"
    assert [p.name for p in demo.intel_files] == ["feodo.csv", "urlhaus.csv"]
    assert 40 <= len(list((demo.root / "mail").glob("*.eml"))) <= 50
    assert {p.name for p in (demo.root / "endpoint").iterdir()} == {h.name for h in HOSTS}
    assert demo.size < 15_000_000
    text = demo.readme.read_text("utf-8")
    assert "WS-07" in text and "09:14:03" in text and story.LOADER_URL in text


def test_every_input_file_parses_without_skips(demo: DemoManifest) -> None:
    seen: Counter[str] = Counter()
    for path in demo.files:
        if path.parts[-2] == "intel" or path.suffix in (".toml", ".md"):
            continue
        reports = [fb.report for fb in read_file(path, ReadContext())]
        report = reports[-1]
        assert report.error is None, (path, report.error)
        assert report.skipped == 0, (path, report.problems)
        assert report.events > 0, path
        seen[report.source] += 1
    assert set(seen) == {"eml", "evtx_json", "zeek"}


def test_zeek_headers_are_valid(demo: DemoManifest) -> None:
    for path in (demo.root / "zeek").glob("*.log"):
        lines = path.read_text("utf-8").splitlines()
        assert lines[0] == "#separator \\x09"
        assert lines[1:4] == ["#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-"]
        assert lines[4] == f"#path\t{path.stem}"
        assert re.fullmatch(r"#open\t\d{4}(-\d\d){5}", lines[5])
        fields, types = lines[6].split("\t"), lines[7].split("\t")
        assert fields[0] == "#fields" and types[0] == "#types" and len(fields) == len(types)
        assert re.fullmatch(r"#close\t\d{4}(-\d\d){5}", lines[-1])
        times = []
        for line in lines[8:-1]:
            cols = line.split("\t")
            assert len(cols) == len(fields) - 1, (path.name, line)
            times.append(float(cols[0]))
        assert times == sorted(times)
        assert DAY_START.timestamp() - 1 <= times[0] and times[-1] <= DAY_END.timestamp() + 1


def test_windows_json_lines_have_the_evtx_shape(demo: DemoManifest) -> None:
    for path in (demo.root / "endpoint").rglob("*.jsonl"):
        last_id = 0
        for line in path.read_text("utf-8").splitlines():
            event = json.loads(line)["Event"]
            system = event["System"]
            assert system["Provider"]["#attributes"]["Name"]
            assert system["Computer"] == f"{path.parent.name}.corp.sekimori-demo.example"
            stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            assert DAY_START <= when <= DAY_END
            assert system["EventRecordID"] > last_id
            last_id = system["EventRecordID"]
            assert isinstance(event["EventData"], dict)


def test_the_macro_chain_on_the_first_victim(demo: DemoManifest) -> None:
    sysmon = events(demo, "WS-07", "sysmon")
    procs = of(sysmon, 1)
    cmd = next(p for p in procs if p["ParentImage"].endswith("WINWORD.EXE"))
    assert cmd["Image"].endswith("cmd.exe") and " -enc " in cmd["CommandLine"]
    word = next(
        p for p in procs if p["Image"].endswith("WINWORD.EXE") and "docm" in p["CommandLine"]
    )
    assert word["ParentImage"].endswith("OUTLOOK.EXE")
    encoded = cmd["CommandLine"].rsplit(" ", 1)[1]
    decoded = base64.b64decode(encoded).decode("utf-16-le")
    assert "Write-Output 'detector-test'" in decoded and "$urls" in decoded
    urls = re.findall(r"'(http://[^']+)'", decoded)
    assert len(urls) == 5
    for url in urls:
        host = url.split("/")[2]
        assert host.endswith(".invalid") or in_test_net(host)
    blocks = of(events(demo, "WS-07", "powershell"), 4104)
    assert any("detector-test" in b["ScriptBlockText"] for b in blocks)
    assert any(f["TargetFilename"] == story.DLL_PATH for f in of(sysmon, 11))
    rundll = [p for p in procs if p["Image"].endswith("rundll32.exe")]
    assert rundll and story.DLL_PATH in rundll[0]["CommandLine"]
    runs = of(sysmon, 13)
    assert any(r["TargetObject"].endswith(rf"CurrentVersion\Run\{story.RUN_VALUE}") for r in runs)
    c2 = [
        n
        for n in of(sysmon, 3)
        if n["Image"].endswith("rundll32.exe") and n["DestinationIp"] in story.C2_IPS
    ]
    assert len(c2) > 100
    reads = of(events(demo, "WS-07", "security"), 4663)
    assert any(
        r["ObjectName"].endswith(".ost") and r["ProcessName"].endswith("rundll32.exe")
        for r in reads
    )


def test_the_file_server_is_brute_forced_and_gets_a_service(demo: DemoManifest) -> None:
    security = events(demo, "FS-01", "security")
    failed = [e for e in of(security, 4625) if e["IpAddress"] == PATIENT_ZERO.ip]
    assert len(failed) >= 60
    assert len({e["TargetUserName"] for e in failed}) >= 20
    assert all(e["WorkstationName"] == "WS-07" for e in failed)
    logons = [
        e
        for e in of(security, 4624)
        if e["IpAddress"] == PATIENT_ZERO.ip and e["AuthenticationPackageName"] == "NTLM"
    ]
    assert [e["TargetUserName"] for e in logons] == [story.BRUTE_ACCOUNT]
    services = of(events(demo, "FS-01", "system"), 7045)
    assert [s["ServiceName"] for s in services] == [story.SERVICE_NAME]
    assert of(security, 4697)[0]["ServiceFileName"] == story.SERVICE_IMAGE
    procs = of(events(demo, "FS-01", "sysmon"), 1)
    assert any(
        p["Image"].endswith("rundll32.exe") and story.SERVER_DLL_PATH in p["CommandLine"]
        for p in procs
    )


def test_clean_hosts_have_no_malicious_process(demo: DemoManifest) -> None:
    for host in demo.clean_hosts:
        for proc in of(events(demo, host, "sysmon"), 1):
            assert " -enc " not in proc["CommandLine"].lower()
            assert not proc["Image"].lower().endswith("rundll32.exe")
            assert not proc["ParentImage"].upper().endswith(("WINWORD.EXE", "EXCEL.EXE"))


def test_network_story(demo: DemoManifest) -> None:
    files = zeek_rows(demo, "files")
    loader = [f for f in files if f["mime_type"] == "application/x-dosexec"]
    assert [f["id.resp_h"] for f in loader] == [story.LOADER_IP]
    http = [h for h in zeek_rows(demo, "http") if h["host"] == story.LOADER_IP]
    assert http[0]["resp_mime_types"] == "application/x-dosexec"
    conn = zeek_rows(demo, "conn")
    beacons = sorted(
        float(c["ts"])
        for c in conn
        if c["id.orig_h"] == PATIENT_ZERO.ip and c["id.resp_h"] == "198.51.100.23"
    )
    assert len(beacons) > 100
    gaps = [b - a for a, b in itertools.pairwise(beacons)]
    assert all(290 < g < 310 for g in gaps)
    sizes = {c["orig_bytes"] for c in conn if c["id.resp_h"] == "198.51.100.23"}
    assert len(sizes) <= 3
    sweep = [c for c in conn if c["id.orig_h"] == PATIENT_ZERO.ip and c["id.resp_p"] == "445"]
    states = Counter(c["conn_state"] for c in sweep)
    assert len({c["id.resp_h"] for c in sweep}) > 400
    assert states["S0"] + states["REJ"] > 0.8 * len(sweep) - 150
    ntlm = [n for n in zeek_rows(demo, "ntlm") if n["id.orig_h"] == PATIENT_ZERO.ip]
    assert len(ntlm) > 100 and any(n["success"] == "T" for n in ntlm)
    rpc = [r for r in zeek_rows(demo, "dce_rpc") if r["id.orig_h"] == PATIENT_ZERO.ip]
    assert [r["operation"] for r in rpc if r["endpoint"] == "svcctl"][:3] == [
        "OpenSCManagerW",
        "CreateServiceW",
        "StartServiceW",
    ]
    spam = [s for s in zeek_rows(demo, "smtp") if s["id.orig_h"] == PATIENT_ZERO.ip]
    assert len({s["id.resp_h"] for s in spam}) >= 60
    assert all(s["id.resp_p"] == "25" and in_test_net(s["id.resp_h"]) for s in spam)
    lure = [s for s in zeek_rows(demo, "smtp") if s["mailfrom"] == story.LURE_SENDER]
    assert lure and lure[0]["id.orig_h"] == story.ATTACKER_MTA_IP


def test_every_bad_address_and_name_is_inert(demo: DemoManifest) -> None:
    bad_ips = {story.LOADER_IP, story.ATTACKER_MTA_IP, *story.C2_IPS}
    bad_ips |= {ip for ip, _ in story.C2_SPARE}
    feodo = (demo.root / "intel" / "feodo.csv").read_text("utf-8")
    bad_ips |= set(re.findall(r'^"[^"]+","([\d.]+)"', feodo, flags=re.M))
    assert bad_ips and all(in_test_net(ip) for ip in bad_ips)
    urlhaus = (demo.root / "intel" / "urlhaus.csv").read_text("utf-8")
    for url in re.findall(r'^"\d+","[^"]+","([^"]+)"', urlhaus, flags=re.M):
        host = url.split("/")[2]
        assert host.endswith(".invalid") or in_test_net(host), url
    # Whatever the loaders talked to outside the company is TEST-NET.
    for host in demo.infected_hosts:
        for net in of(events(demo, host, "sysmon"), 3):
            if net["Image"].endswith("rundll32.exe"):
                ip = ipaddress.ip_address(net["DestinationIp"])
                assert ip in INTERNAL or in_test_net(str(ip))
    domains = {story.LURE_SENDER.split("@")[1], story.ATTACKER_MTA_NAME}
    domains |= {u.split("/")[2] for u in story.LOADER_URLS if not in_test_net(u.split("/")[2])}
    assert all(d.endswith((".invalid", ".example")) for d in domains)
    assert "detector-test" in base64.b64decode(story.ENCODED_COMMAND).decode("utf-16-le")


def _mail(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_the_lure_and_the_ppap_mails(demo: DemoManifest) -> None:
    mails = {p.name: _mail(p) for p in (demo.root / "mail").glob("*.eml")}
    lure = [m for m in mails.values() if story.LURE_SENDER in str(m["From"])]
    assert len(lure) == 1
    body = lure[0].get_body(("plain",)).get_content()
    assert story.ZIP_PASSWORD in body and "-----Original Message-----" in body
    assert lure[0]["In-Reply-To"]
    attachment = next(lure[0].iter_attachments())
    assert attachment.get_filename() == story.ZIP_NAME
    archive = zipfile.ZipFile(io.BytesIO(attachment.get_payload(decode=True)))
    (inner,) = archive.infolist()
    assert inner.flag_bits & 0x1
    docm = zipfile.ZipFile(io.BytesIO(archive.read(inner, pwd=story.ZIP_PASSWORD.encode())))
    assert "word/vbaProject.bin" in docm.namelist()
    charsets = Counter(m.get_body(("plain",)).get_content_charset() for m in mails.values())
    assert charsets["iso-2022-jp"] >= 20 and charsets["utf-8"] >= 2
    # PPAP: a password zip, then the password in its own mail; the zip holds a clean sheet.
    notices = [m for m in mails.values() if str(m["Subject"]).startswith("【パスワード通知】")]
    assert len(notices) == 3
    for notice in notices:
        text = notice.get_body(("plain",)).get_content()
        password = re.search(r"パスワード: (\S+)", text)
        assert password is not None
        subject = str(notice["Subject"]).removeprefix("【パスワード通知】")
        (first,) = [m for m in mails.values() if str(m["Subject"]) == subject]
        (att,) = list(first.iter_attachments())
        outer = zipfile.ZipFile(io.BytesIO(att.get_payload(decode=True)))
        (entry,) = outer.infolist()
        sheet = zipfile.ZipFile(io.BytesIO(outer.read(entry, pwd=password.group(1).encode())))
        assert not any("vbaProject" in n for n in sheet.namelist())


def test_feeds_are_abuse_ch_csv() -> None:
    assert feeds.feodo_csv().splitlines()[7] == (
        '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"'
    )
    assert "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter" in (
        feeds.urlhaus_csv()
    )


def test_a_foreign_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SekimoriError, match="not empty"):
        write_demo_data(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_an_earlier_demo_folder_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "d"
    write_demo_data(target)
    (target / "zeek" / "stale.log").write_text("old")
    (target / "notes.txt").write_text("mine")
    write_demo_data(target)
    assert not (target / "zeek" / "stale.log").exists()
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / MARKER).exists()
