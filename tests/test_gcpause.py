"""The collector's settings are the caller's again after a hunt."""

from __future__ import annotations

import gc

from sekimori.gcpause import YOUNG, fewer_collections


def test_thresholds_and_frozen_objects_are_restored() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == YOUNG
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_when_the_block_fails() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise ValueError("hunt failed")
    except ValueError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
