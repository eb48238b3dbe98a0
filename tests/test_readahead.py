"""Reading ahead on a thread: same items, same order, errors where they belong."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sekimori.readahead import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(lambda: iter(range(100)))) == list(range(100))


def test_an_error_of_the_reader_is_raised_in_the_consumer() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("corrupt chunk")

    got: list[int] = []
    with pytest.raises(ValueError, match="corrupt chunk"):
        for item in read_ahead(produce):
            got.append(item)
    assert got == [1]


def test_the_reader_stays_at_most_one_item_ahead_and_stops_with_the_consumer() -> None:
    made: list[int] = []
    finished = threading.Event()

    def produce() -> Iterator[int]:
        try:
            for n in range(1000):
                made.append(n)
                yield n
        finally:
            finished.set()

    items = read_ahead(produce)
    assert next(items) == 0
    assert next(items) == 1
    # Item 2 may wait in the queue and item 3 in the reader's hands, no more.
    assert len(made) <= 4
    items.close()
    assert finished.wait(5)
    assert len(made) <= 4
