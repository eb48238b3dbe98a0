"""Starting a hunt's Sigma engine: whether it gets a worker process, and starting that early.

The worker (``detect.worker``) spends about a second importing polars and
pySigma and loading the rules before it can take a batch; the hunt's own
process spends about half a second importing its readers and detectors
before it reads the first event. Nothing here imports either, so the
command line can start the worker first and both get ready at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sekimori.detect.base import Detector
    from sekimori.detect.worker import Recipe, WorkerRun

# A worker pays off above this much input and this many rule files: below,
# detection is cheap next to reading, and the worker's start-up and the
# batches' trip cost more than they save.
PARALLEL_MIN_BYTES = 16_000_000
PARALLEL_MIN_RULES = 100
_RULE_SUFFIXES = (".yml", ".yaml")
# ``SigmaDetector.name`` and ``.datasets``, known here without importing it.
SIGMA_NAME = "sigma"
SIGMA_DATASETS: frozenset[str] = frozenset({"windows"})


def build_sigma(rule_dirs: list[Path], use_default_rules: bool) -> Detector:
    """The Sigma engine of ``--rules`` folders (and the bundled pack)."""
    from sekimori.detect.sigma.detector import SigmaDetector

    return SigmaDetector(rule_dirs, use_default_rules=use_default_rules)


def sigma_recipe(rule_dirs: Iterable[Path], use_default_rules: bool) -> Recipe | None:
    """How to build the Sigma engine (None: no rules at all), picklable for a worker."""
    dirs = list(rule_dirs)
    if not dirs and not use_default_rules:
        return None
    return partial(build_sigma, dirs, use_default_rules)


def wants_worker(paths: Iterable[Path], rule_dirs: Iterable[Path], parallel: bool | None) -> bool:
    """Whether the Sigma engine runs in a worker: ``parallel``, or when it pays off.

    It pays off with two CPUs, ``PARALLEL_MIN_BYTES`` of input and
    ``PARALLEL_MIN_RULES`` rule files in the ``--rules`` folders (the bundled
    pack alone is cheap). Both are counted only up to the threshold.
    """
    if parallel is not None:
        return parallel
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cpus or 1) < 2:
        return False
    return _reaches(_sizes(paths), PARALLEL_MIN_BYTES) and _reaches(
        (1 for _ in _rule_files(rule_dirs)), PARALLEL_MIN_RULES
    )


def start_worker(
    paths: Iterable[Path],
    rule_dirs: Iterable[Path],
    use_default_rules: bool,
    parallel: bool | None,
    batch_size: int,
) -> WorkerRun | None:
    """The hunt's Sigma worker, started now; None when the engine runs in the hunt's process.

    Two batches of ``batch_size`` rows may wait for it: one evaluated, the
    next ready. The caller owns the worker: ``WorkerRun.close`` it if the
    hunt does not take it over.
    """
    dirs = list(rule_dirs)
    recipe = sigma_recipe(dirs, use_default_rules)
    if recipe is None or not wants_worker(paths, dirs, parallel):
        return None
    from sekimori.detect.worker import WorkerRun

    return WorkerRun.start(recipe, SIGMA_NAME, SIGMA_DATASETS, 2 * batch_size)


def _reaches(amounts: Iterable[int], threshold: int) -> bool:
    total = 0
    for amount in amounts:
        total += amount
        if total >= threshold:
            return True
    return False


def _sizes(paths: Iterable[Path]) -> Iterator[int]:
    """Sizes of the files under ``paths`` (missing ones are the hunt's to report)."""
    for path in paths:
        if path.is_file():
            yield _size(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith("."):
                    yield _size(Path(root, name))


def _rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for root, _dirs, files in os.walk(path):
            for name in files:
                if name.endswith(_RULE_SUFFIXES):
                    yield Path(root, name)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
