"""Learning which address belongs to which machine."""

from __future__ import annotations

import polars as pl

from sekimori.hosts import HostDirectory, short_name
from sekimori.model import EventBatch


def test_logon_events_name_the_remote_workstation() -> None:
    directory = HostDirectory()
    frame = pl.DataFrame(
        {
            "event.code": ["4624", "4625", "4625"],
            "winlog.event_data.IpAddress": ["10.1.10.57", "10.1.10.57", "-"],
            "winlog.event_data.WorkstationName": ["WS-07", "WS-07", "WS-09"],
        }
    )
    directory.learn_batch(EventBatch("windows", frame))
    assert directory.name_of("10.1.10.57") == "WS-07"
    assert directory.canonical("10.1.10.57") == "ws-07"
    assert directory.canonical("10.9.9.9") == "10.9.9.9"
    assert directory.addresses() == {"10.1.10.57": "WS-07"}


def test_zeek_ntlm_names_the_client() -> None:
    directory = HostDirectory()
    frame = pl.DataFrame({"zeek.ntlm.id.orig_h": ["10.1.10.57"], "zeek.ntlm.hostname": ["WS-07"]})
    directory.learn_batch(EventBatch("zeek.ntlm", frame))
    assert directory.name_of("10.1.10.57") == "WS-07"


def test_short_name_is_first_label_lower_case() -> None:
    assert short_name("WS-07.corp.example") == "ws-07"


def test_interactive_logons_and_processes_tell_where_a_person_works() -> None:
    directory = HostDirectory()
    frame = pl.DataFrame(
        {
            "event.code": ["4624", "4624", "4624", "1", "1"],
            "winlog.computer_name": ["WS-07.corp", "FS-01.corp", "WS-07.corp", "WS-07.corp", "DC"],
            "winlog.event_data.TargetUserName": ["tanaka", "tanaka", "WS-07$", None, None],
            "winlog.event_data.LogonType": ["2", "3", "2", None, None],
            "winlog.event_data.User": [None, None, None, "CORP\\tanaka", "NT AUTHORITY\\SYSTEM"],
        }
    )
    directory.learn_batch(EventBatch("windows", frame))
    # The network logon on FS-01 is not where tanaka works; machine accounts are no one.
    assert directory.machine_of_user("tanaka@sekimori-demo.example") == "ws-07"
    assert directory.machine_of_user("CORP\\TANAKA") == "ws-07"
    assert directory.machine_of_user("ws-07$") is None
    assert directory.machine_of_user("system") is None
    assert directory.display("ws-07") == "WS-07.corp"
