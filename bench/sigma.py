"""Sigma speed: events/s of whole ``sekimori hunt`` runs against the Zircolite method.

Both engines get the same events: by default the EVTX-ATTACK-SAMPLES events
as one evtx JSON-lines file (the ``evtx_dump -o jsonl`` shape a SIEM export
has), repeated ``--copies`` times; with ``--files`` the EVTX files themselves
(277 small files: a test of per-file overhead rather than of throughput).
The same rules (default: SigmaHQ's Windows, emerging-threats and
threat-hunting folders), each engine in its own process, start-up included.
Rules are made ready beforehand and not timed, for both: Zircolite ships
its rules converted to SQL (a JSON ruleset), so the SQL queries are
converted once; Sekimori keeps its compiled rules in a cache, so one hunt
over a single event fills it. Then, timed:

1. ``sekimori hunt DIR --rules ... --no-default-rules --json``;
2. the Zircolite method: the events flattened into one SQLite table (all
   fields as text, as Zircolite does, with its default indexes on EventID
   and Channel), every rule converted by pySigma's
   SQLite backend (``pysigma-backend-sqlite``) and run as a query, with the
   log source as a channel/event-id condition (the same mapping Sekimori
   uses; Security 4688 through a field-mapping pipeline).

Prints events/s, peak memory and findings of both, and compares the matches per
rule: rules where both agree, and the first rules where they differ. Then,
for ``--scaling`` (copies, default 1,10,40), ``sekimori hunt`` alone on ever
more events: peak memory must stay flat once a batch is full. Peak memory is
given twice: the largest resident set of any one process of the engine, and
the largest sum over all its processes at once (proportional set sizes,
sampled): ``sekimori hunt`` runs its Sigma engine in a second process on
large inputs, and both count.

    .venv/bin/python bench/sigma.py [--copies N] [--scaling 1,10,40] [--files]
                                    [--rules DIR ...] [EVTX_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This file is named like pySigma's package: keep its folder from shadowing ``sigma``.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_EVTX = SHARED / "evtx" / "EVTX-ATTACK-SAMPLES"
DEFAULT_RULES = [
    SHARED / "sigma" / "rules",
    SHARED / "sigma" / "rules-emerging-threats",
    SHARED / "sigma" / "rules-threat-hunting",
]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "#text" in value:
        return _text(value["#text"])
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t is not None)
    return json.dumps(value)


def _flatten(doc: dict[str, Any]) -> dict[str, str | None]:
    """An evtx JSON record as Zircolite flattens it: Sigma field names, all text."""
    event = doc.get("Event", doc)
    system = event.get("System", {})
    provider = system.get("Provider", {})
    row: dict[str, str | None] = {
        "EventID": _text(system.get("EventID")),
        "Channel": _text(system.get("Channel")),
        "Computer": _text(system.get("Computer")),
        "Provider_Name": _text(provider.get("#attributes", {}).get("Name")),
    }
    data = event.get("EventData")
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "Data":
                row["Data"] = _text(value.get("#text") if isinstance(value, dict) else value)
            elif not key.startswith("#"):
                row[key.replace(" ", "")] = _text(value)
    user = event.get("UserData")
    if isinstance(user, dict):
        for inner in user.values():
            if isinstance(inner, dict):
                for key, value in inner.items():
                    if not key.startswith("#"):
                        row.setdefault(key, _text(value))
    return row


def convert_rules(rule_dirs: list[Path]) -> dict[str, Any]:
    """The rules as SQL queries, per rule id: Zircolite's pre-converted ruleset.

    Zircolite ships its rules already converted (a JSON ruleset); Sekimori
    keeps its compiled rules in a cache. So, as for Sekimori's warm cache, the
    conversion is done beforehand and not timed.
    """
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation
    from sigma.rule import SigmaRule

    from sekimori.detect.sigma.logsource import variants_for
    from sekimori.errors import RuleError

    collection = SigmaCollection.load_ruleset(list(rule_dirs), collect_errors=True)
    plain = sqliteBackend()
    mapped = sqliteBackend(
        processing_pipeline=ProcessingPipeline(
            items=[
                ProcessingItem(
                    FieldMappingTransformation(
                        {"Image": "NewProcessName", "ParentImage": "ParentProcessName"}
                    )
                )
            ]
        )
    )
    queries: dict[str, list[str]] = {}
    skipped = 0
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule) or rule.errors:
            continue
        ls = rule.logsource
        try:
            variants = variants_for(ls.product, ls.service, ls.category)
        except RuleError:  # not a Windows rule: Sekimori reports it, Zircolite skips it
            skipped += 1
            continue
        sqls: list[str] = []
        for variant in variants:
            backend = mapped if variant.fieldmap else plain
            try:
                (query,) = backend.convert(SigmaCollection([rule]))
            except (SigmaError, NotImplementedError, ValueError, TypeError):  # inexpressible
                skipped += 1
                sqls = []
                break
            where = query.split(" WHERE ", 1)[1]
            conds = []
            if variant.channels:
                chans = ", ".join("'" + c.replace("'", "''") + "'" for c in variant.channels)
                conds.append(f"(Channel IN ({chans}) OR Channel IS NULL)")
            if variant.event_ids:
                conds.append(f"EventID IN ({', '.join(repr(str(i)) for i in variant.event_ids)})")
            for name, allowed in variant.conditions:
                conds.append(f"{name} IN ({', '.join(repr(a) for a in allowed)})")
            sqls.append("SELECT rowid FROM logs WHERE " + " AND ".join([*conds, f"({where})"]))
        if sqls:
            queries[str(rule.id)] = sqls
    return {"queries": queries, "skipped": skipped}


def zircolite_method(evtx_dir: Path, ruleset: Path) -> dict[str, Any]:
    """Run the Zircolite method with a converted ruleset; return events and matches per rule."""
    from evtx import PyEvtxParser

    queries: dict[str, list[str]] = json.loads(ruleset.read_text(encoding="utf-8"))["queries"]
    rows: list[dict[str, str | None]] = []
    for path in sorted(evtx_dir.rglob("*.evtx")):
        for record in PyEvtxParser(str(path)).records_json():
            rows.append(_flatten(json.loads(record["data"])))
    for path in sorted(evtx_dir.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows.extend(_flatten(json.loads(line)) for line in fh if line.strip())
    columns = sorted({k for r in rows for k in r}, key=str.lower)
    lower_seen: dict[str, str] = {}
    for col in columns:
        lower_seen.setdefault(col.lower(), col)
    columns = list(lower_seen.values())
    db = sqlite3.connect(":memory:")
    # Zircolite registers Python's re as SQLite's REGEXP.
    db.create_function(
        "regexp",
        2,
        lambda pattern, value: value is not None and re.search(pattern, value) is not None,
        deterministic=True,
    )
    db.execute(
        "CREATE TABLE logs (" + ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns) + ")"
    )
    placeholders = ", ".join("?" for _ in columns)
    db.executemany(
        f"INSERT INTO logs VALUES ({placeholders})",
        ([r.get(c) for c in columns] for r in rows),
    )
    # Zircolite's defaults: an index on EventID, and one on Channel for Windows logs.
    db.execute('CREATE INDEX "idx_eventid" ON logs ("EventID")')
    if "Channel" in columns:
        db.execute('CREATE INDEX "idx_channel" ON logs ("Channel")')
    matches: Counter[str] = Counter()
    errors: dict[str, str] = {}
    for rule_id, sqls in queries.items():
        hits: set[int] = set()
        for sql in sqls:
            try:
                hits.update(r[0] for r in db.execute(sql))
            except sqlite3.Error as exc:  # a column no event has: SQLite rejects the query
                errors[rule_id] = str(exc)
                continue
        if hits:
            matches[rule_id] += len(hits)
    return {"events": len(rows), "matches": dict(matches), "errors": errors}


def user_env() -> dict[str, str]:
    """This environment as on a user's machine: Python writes its bytecode caches.

    (Some machines set PYTHONDONTWRITEBYTECODE; then a source checkout's
    modules are compiled again at every start, which installed packages'
    are not. The warm-up hunt writes them, as a user's first run does.)
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def sekimori_hunt(evtx_dir: Path, rule_dirs: list[Path]) -> dict[str, Any]:
    """Run ``sekimori hunt`` on the folder; return its seconds and matches per Sigma rule id.

    The output goes to a file and is counted once the hunt has ended: read
    while the hunt runs, it would take a CPU from the hunt, which uses two.
    """
    cmd = [str(ROOT / ".venv" / "bin" / "sekimori"), "hunt", str(evtx_dir), "--no-default-rules"]
    for d in rule_dirs:
        cmd += ["--rules", str(d)]
    matches: Counter[str] = Counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        returncode = subprocess.run(
            [*cmd, "--json"], stdout=out, stderr=err, env=user_env()
        ).returncode
        seconds = time.perf_counter() - start
        out.seek(0)
        for line in out:
            if not line.startswith("{"):
                continue
            doc = json.loads(line)
            rule = doc.get("rule", {})
            if rule.get("ruleset") == "sigma" and "correlation" not in doc.get("evidence", {}):
                matches[rule["id"]] += 1
        err.seek(0)
        stderr = err.read()[-2000:]
    return {
        "matches": dict(matches),
        "returncode": returncode,
        "stderr": stderr,
        "seconds": seconds,
    }


@dataclass
class Memory:
    """Peak memory of one engine run, in KiB.

    ``rss``: the largest resident set of any one of its processes (the
    kernel's high-water mark, ``VmHWM``; not ``ru_maxrss``, which counts the
    memory of this process at the fork). ``pss``: the largest sum, over all
    its processes at once, of their proportional set sizes (a page shared by
    two processes counts half in each): the measure for an engine that runs
    in more than one process. Both are read every ``SAMPLE`` seconds.
    """

    rss: int = 0
    pss: int = 0


# Each sample reads /proc (some 2 ms per process): often enough to catch the
# peaks, seldom enough not to take CPU from the engine measured.
SAMPLE = 0.2


def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grown = {root}, True
    while grown:
        below = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= below
        grown = bool(below)
    return sorted(tree)


def _kib(path: str, key: str) -> int:
    """The value of ``key`` (in kB) in a /proc file of ``key: value kB`` lines; 0 if gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _sample(root: int, memory: Memory, done: threading.Event) -> None:
    while not done.wait(SAMPLE):
        pids = _tree(root)
        memory.pss = max(memory.pss, sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
        memory.rss = max([memory.rss, *(_kib(f"/proc/{p}/status", "VmHWM:") for p in pids)])


def _child(
    engine: str, evtx_dir: Path, rule_dirs: list[Path], ruleset: Path | None = None
) -> tuple[dict[str, Any], float, Memory]:
    """Run one engine in its own process: (result, seconds, peak memory)."""
    args = [sys.executable, __file__, "--engine", engine, "--copies", "0", str(evtx_dir)]
    for d in rule_dirs:
        args += ["--rules", str(d)]
    if ruleset is not None:
        args += ["--ruleset", str(ruleset)]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=user_env())
    memory, done = Memory(), threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, memory, done), daemon=True)
    if Path("/proc/self/smaps_rollup").exists():
        sampler.start()
    assert proc.stdout is not None
    text = proc.stdout.read()
    done.set()
    proc.wait()
    seconds = time.perf_counter() - start
    if sampler.is_alive():
        sampler.join()
    result = json.loads(text)
    # The engine's own time when it reports one (the hunt alone, not the counting after it).
    return result, result.get("seconds", seconds), memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evtx", nargs="*", type=Path, default=[DEFAULT_EVTX])
    parser.add_argument("--rules", action="append", type=Path)
    parser.add_argument("--copies", type=int, default=10, help="copies of the events")
    parser.add_argument("--files", action="store_true", help="hunt the EVTX files as they are")
    parser.add_argument(
        "--scaling", default="1,10,40", help="copies for the memory table ('' for none)"
    )
    parser.add_argument("--engine", choices=["sekimori", "zircolite"], help=argparse.SUPPRESS)
    parser.add_argument("--ruleset", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rule_dirs = args.rules or DEFAULT_RULES
    if args.engine == "sekimori":
        print(json.dumps(sekimori_hunt(args.evtx[0], rule_dirs)))
        return 0
    if args.engine == "zircolite":
        print(json.dumps(zircolite_method(args.evtx[0], args.ruleset)))
        return 0
    missing = [p for p in [*args.evtx, *rule_dirs] if not p.exists()]
    if missing:
        print(f"skipped: test data not found: {missing[0]}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ruleset = _prepare_rules(work / "prepared", rule_dirs)
        events = work / "events"
        _write_events(events, args.evtx, args.copies, args.files)
        zirc, z_s, z_mem = _child("zircolite", events, rule_dirs, ruleset)
        seki, s_s, s_mem = _child("sekimori", events, rule_dirs)
    _compare(zirc, z_s, z_mem, seki, s_s, s_mem, len(rule_dirs))
    if args.scaling and not args.files:
        _scaling(args.evtx, rule_dirs, [int(c) for c in args.scaling.split(",") if c])
    return 0


def _prepare_rules(folder: Path, rule_dirs: list[Path]) -> Path:
    """Both engines' rules made ready beforehand, untimed; the converted SQL ruleset's path.

    The Zircolite method gets its SQL queries converted once (Zircolite ships
    converted rulesets); Sekimori gets its compiled-rule cache filled by a hunt
    over one event.
    """
    folder.mkdir(parents=True)
    ruleset = folder / "ruleset.json"
    ruleset.write_text(json.dumps(convert_rules(rule_dirs)), encoding="utf-8")
    _write_events(folder / "one", [DEFAULT_EVTX], 1, False, limit=1)
    sekimori_hunt(folder / "one", rule_dirs)
    return ruleset


def _write_events(
    work: Path, sources: list[Path], copies: int, as_files: bool, limit: int | None = None
) -> int:
    """Write ``copies`` copies of the events under ``work``; return the events written."""
    work.mkdir(parents=True, exist_ok=True)
    written = 0
    if as_files:
        for copy in range(max(1, copies)):
            for src in sources:
                for path in sorted(src.rglob("*.evtx")):
                    dest = work / f"c{copy}" / path.relative_to(src)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dest)
    else:
        from evtx import PyEvtxParser

        docs = [
            json.loads(record["data"])
            for src in sources
            for path in sorted(src.rglob("*.evtx"))
            for record in PyEvtxParser(str(path)).records_json()
        ][:limit]
        with (work / "events.jsonl").open("w", encoding="utf-8") as fh:
            for copy in range(max(1, copies)):
                for n, doc in enumerate(docs):
                    # Each copy is another event (own record id), not a duplicate.
                    doc["Event"]["System"]["EventRecordID"] = copy * len(docs) + n + 1
                    fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    written += 1
    return written


def _scaling(sources: list[Path], rule_dirs: list[Path], copies: list[int]) -> None:
    """``sekimori hunt`` alone on ever more events: seconds, events/s and peak memory."""
    print()
    print("sekimori hunt on more events (peak memory must not grow with them)")
    print(
        f"{'events':>10}{'seconds':>10}{'events/s':>12}{'max RSS MB':>12}{'sum PSS MB':>12}"
        f"{'findings':>10}"
    )
    for n in copies:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            events = _write_events(work, sources, n, False)
            res, secs, mem = _child("sekimori", work, rule_dirs)
        total = sum(res["matches"].values())
        print(
            f"{events:>10}{secs:>10.1f}{events / secs:>12.0f}{mem.rss / 1024:>12.0f}"
            f"{mem.pss / 1024:>12.0f}{total:>10}"
        )


def _compare(
    zirc: dict[str, Any],
    z_s: float,
    z_mem: Memory,
    seki: dict[str, Any],
    s_s: float,
    s_mem: Memory,
    folders: int,
) -> None:
    """The table of both engines and the comparison of their matches."""
    events = zirc["events"]
    print(f"{events} events, {folders} rule folders")
    print(
        f"{'engine':<22}{'seconds':>10}{'events/s':>12}{'max RSS MB':>12}{'sum PSS MB':>12}"
        f"{'matches':>10}"
    )
    for name, secs, mem, res in (
        ("sekimori hunt", s_s, s_mem, seki),
        ("zircolite (sqlite)", z_s, z_mem, zirc),
    ):
        total = sum(res["matches"].values())
        print(
            f"{name:<22}{secs:>10.1f}{events / secs:>12.0f}{mem.rss / 1024:>12.0f}"
            f"{mem.pss / 1024:>12.0f}{total:>10}"
        )
    print(f"speed ratio: {z_s / s_s:.2f}x")
    ids = set(seki["matches"]) | set(zirc["matches"])
    same = [i for i in ids if seki["matches"].get(i) == zirc["matches"].get(i)]
    differ = sorted(i for i in ids if i not in same)
    print(f"rules matching: {len(ids)}, same count: {len(same)}, different: {len(differ)}")
    for rule_id in differ[:15]:
        why = zirc.get("errors", {}).get(rule_id)
        print(
            f"  {rule_id}: sekimori {seki['matches'].get(rule_id, 0)}, "
            f"zircolite {zirc['matches'].get(rule_id, 0)}"
            + (f" (query failed: {why})" if why else "")
        )
    if seki.get("returncode"):
        print("sekimori hunt exited with", seki["returncode"], seki.get("stderr", "")[-500:])


if __name__ == "__main__":
    raise SystemExit(main())
