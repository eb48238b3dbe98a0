"""Write the demo data set: ``write_demo_data(out_dir)`` and what it wrote.

The folder holds ``mail/``, ``endpoint/``, ``zeek/``, ``intel/``,
``site.toml`` and ``README.md`` (see :mod:`sekimori.demo.readme` for the
story). A marker file lets a later run replace an earlier demo folder without
ever deleting a folder it did not write.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sekimori.demo.company import HOSTS
from sekimori.demo.endpoint import write_endpoint
from sekimori.demo.feeds import write_feeds
from sekimori.demo.mail import write_mail
from sekimori.demo.network import write_network
from sekimori.demo.readme import readme, site_toml
from sekimori.demo.story import INFECTED_HOSTS, TIMELINE, Step
from sekimori.errors import SekimoriError

log = logging.getLogger(__name__)

MARKER = ".sekimori-demo"
INPUT_DIRS = ("mail", "endpoint", "zeek")
_OWNED = (*INPUT_DIRS, "intel", "site.toml", "README.md", MARKER)


@dataclass(frozen=True, slots=True)
class DemoManifest:
    """What ``write_demo_data`` wrote and the story it tells.

    ``inputs`` are the folders to hunt over, ``intel_files`` and
    ``config_file`` the feeds and site file to hunt with; ``infected_hosts``
    the machines the intrusion reached; ``timeline`` its steps.
    """

    root: Path
    files: tuple[Path, ...]
    inputs: tuple[Path, ...]
    intel_files: tuple[Path, ...]
    config_file: Path
    readme: Path
    infected_hosts: tuple[str, ...]
    clean_hosts: tuple[str, ...]
    timeline: tuple[Step, ...]

    @property
    def size(self) -> int:
        """Bytes written."""
        return sum(p.stat().st_size for p in self.files)


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SekimoriError("exists and is not a folder", where=str(out_dir))
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise SekimoriError(
                "folder is not empty and holds no earlier demo data; choose an empty folder",
                where=str(out_dir),
            )
        for name in _OWNED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def write_demo_data(out_dir: Path) -> DemoManifest:
    """Write the demo day into ``out_dir`` (created if needed) and describe it.

    The bytes are the same on every run. A non-empty ``out_dir`` is only
    accepted when it holds an earlier demo (its marker file); then the demo's
    own files and folders are replaced and nothing else is touched.
    """
    out_dir = Path(out_dir)
    _prepare(out_dir)
    (out_dir / MARKER).write_text("written by sekimori demo\n", encoding="utf-8")
    files: list[Path] = []
    files += write_mail(out_dir)
    files += write_endpoint(out_dir)
    files += write_network(out_dir)
    intel = write_feeds(out_dir)
    files += intel
    config = out_dir / "site.toml"
    config.write_text(site_toml(), encoding="utf-8", newline="\n")
    notes = out_dir / "README.md"
    notes.write_text(readme(), encoding="utf-8", newline="\n")
    files += [config, notes]
    log.info("demo data written to %s (%d files)", out_dir, len(files))
    return DemoManifest(
        root=out_dir,
        files=tuple(files),
        inputs=tuple(out_dir / d for d in INPUT_DIRS),
        intel_files=tuple(intel),
        config_file=config,
        readme=notes,
        infected_hosts=INFECTED_HOSTS,
        clean_hosts=tuple(h.name for h in HOSTS if h.name not in INFECTED_HOSTS),
        timeline=TIMELINE,
    )
