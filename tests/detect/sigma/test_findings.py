"""SigmaFindings: a worker's matches become findings in a process without pySigma."""

from __future__ import annotations

import pickle
import subprocess
import sys

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.model import json_line
from tests.detect.sigma.cases import batch_of, event_row

# Unpickles a builder recipe and matches, builds the findings; prints their lines
# and whether pySigma (or the rule compiler) was imported on the way.
_BUILD = """
import pickle, sys
recipe, parts = pickle.load(sys.stdin.buffer)
build = recipe()
found = [f for part in parts for f in build(part)] + build.finish()
from sekimori.model import json_line
for f in found:
    print(json_line(f))
heavy = ("sigma", "yaml", "sekimori.detect.sigma.compiler", "sekimori.detect.sigma.detector")
print(sorted(name for name in heavy if name in sys.modules))
"""


def test_findings_are_built_without_pysigma() -> None:
    detector = SigmaDetector([])
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    shell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    sysmon = {"event.code": "1", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}
    failed = {"event.code": "4625", "winlog.channel": "Security", "IpAddress": "192.0.2.66"}
    shells = [{**sysmon, "ParentImage": word, "Image": shell, "CommandLine": "powershell -c 1"}]
    batches = [
        batch_of([event_row(0, shells[0], {}, "s.evtx")]),
        batch_of([event_row(i, failed, {}, "security.evtx") for i in range(30)]),
    ]
    state = detector.new_state()
    expected = [f for b in batches for f in detector.detect(b, state)] + detector.finish(state)
    assert {f.rule_name for f in expected} >= {"Burst of Failed Logons From One Source"}
    sent = pickle.dumps((detector.builder_recipe(), [detector.matches(b) for b in batches]))
    done = subprocess.run(
        [sys.executable, "-c", _BUILD], input=sent, capture_output=True, check=True
    )
    *lines, imported = done.stdout.decode().splitlines()
    assert lines == [json_line(f) for f in expected]
    assert imported == "[]"
