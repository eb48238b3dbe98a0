"""Small batches of Windows events joined into one before detection.

The Sigma engine's cost per batch is mostly fixed: one pass per rule group
(some sixty with SigmaHQ's folders), whatever the number of rows. A folder
of EVTX files, the usual thing to hunt through, gives one small batch per
file (EVTX-ATTACK-SAMPLES: 278 files, 30 events each on average), so the
hunt would spend its time on passes over a handful of rows. Joining the
batches of consecutive files up to the hunt's batch size makes the passes
few and full. The joined frame keeps every row's ``log.file.path``, so
findings still name their file.

Only batches of the same source (EVTX with EVTX, Winlogbeat with Winlogbeat)
are joined: a Sigma field falls back to its ECS name only where a batch has no
raw ``winlog.event_data`` column for it (``detect/sigma/fields.py``), and
ECS-only shippers are what that fallback is for. And only batches of the
same channel: the readers give one batch per channel, a dense frame, and a
Sysmon batch joined with a Security one would be a frame of both channels'
columns, mostly empty (an empty text cell still costs 16 bytes); the Sigma
engine runs on a batch only the rule groups of the channels in it anyway.
"""

from __future__ import annotations

import logging

import polars as pl

from sekimori.model import EventBatch
from sekimori.sources.windows import CHANNEL

log = logging.getLogger(__name__)

JOINED_DATASETS = frozenset({"windows"})
# A batch of this share of the rows runs alone: its rule-group passes are
# already full enough, and a held batch stays in memory while the next
# ones are read.
ALONE_SHARE = 8


def _channel(batch: EventBatch) -> str | None:
    frame = batch.frame
    if CHANNEL not in frame.columns or not frame.height:
        return None
    value = frame.get_column(CHANNEL)[0]
    return value if isinstance(value, str) else None


class BatchJoiner:
    """Collects small batches of ``JOINED_DATASETS`` until ``rows`` rows; passes others through.

    ``add`` returns the batches ready for detection, in the order they came
    within each channel, batches joined in the order their first part came; a
    big batch (``ALONE_SHARE``) runs at once, after the held batches of its
    channel, while the small ones of other channels wait to be joined with
    more (a JSON-lines export gives a big Sysmon batch and a dozen small ones
    of other channels per window). ``flush`` returns what is still held, at
    the end of the input. ``source`` names the reader of the batch; only
    batches of one source and one channel are joined. Held batches of all
    channels together stay under ``rows`` rows.
    """

    def __init__(self, rows: int) -> None:
        self.rows = rows
        # Per channel (of the first row), in the order each channel came.
        self._held: dict[str | None, list[EventBatch]] = {}
        self._source: str | None = None
        self._count = 0

    def add(self, batch: EventBatch, source: str | None = None) -> list[EventBatch]:
        """The batches ready once ``batch`` is added."""
        if batch.dataset not in JOINED_DATASETS:
            return [batch]
        ready: list[EventBatch] = []
        if self._held and (self._source != source or self._count + len(batch) > self.rows):
            ready.extend(self.flush())
        if len(batch) >= self.rows // ALONE_SHARE:
            # Big enough to run alone (no copy), after what came before it in its channel.
            ready.extend(self._flush_channel(_channel(batch)))
            ready.append(batch)
            return ready
        self._held.setdefault(_channel(batch), []).append(batch)
        self._source = source
        self._count += len(batch)
        return ready

    def _flush_channel(self, channel: str | None) -> list[EventBatch]:
        held = self._held.pop(channel, [])
        self._count -= sum(len(b) for b in held)
        return _joined(held)

    def flush(self) -> list[EventBatch]:
        """Everything held, joined into as few batches per channel as the schemas allow."""
        held, self._held, self._count = self._held, {}, 0
        ready: list[EventBatch] = []
        for channel in list(held):
            # Popped: the parts of a channel are freed once joined.
            ready.extend(_joined(held.pop(channel)))
        return ready


def _joined(held: list[EventBatch]) -> list[EventBatch]:
    if len(held) <= 1:
        return held
    try:
        frame = pl.concat([b.frame for b in held], how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:
        # Columns of the same name but irreconcilable types: run them apart.
        log.info("batches not joined: %s", exc)
        return held
    return [EventBatch(dataset=held[0].dataset, frame=frame, path=None)]


__all__ = ["ALONE_SHARE", "JOINED_DATASETS", "BatchJoiner"]
