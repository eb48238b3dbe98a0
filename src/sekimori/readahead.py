"""Reading the next batch while the detectors work on this one.

Reading a Windows log is Python (JSON or EVTX records turned into columns);
detection is mostly polars, which releases the interpreter while it works.
Run on a thread of their own, the readers fill the next batch while the
detectors evaluate the current one, so a hunt on two cores takes about the
longer of the two rather than their sum. One batch is read ahead, no more,
so memory stays bounded by two batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """The items of ``produce()``, made on a thread ``depth`` items ahead of the consumer.

    An exception in ``produce`` is raised in the consumer, where it would have
    been raised without the thread. Stopping early (closing the generator)
    stops the producer at its next item.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        # Waits for room, but gives up once the consumer has stopped.
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:
            put(_Failed(exc))

    thread = threading.Thread(target=run, name="sekimori-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


__all__ = ["read_ahead"]
