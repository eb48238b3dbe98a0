"""Jobs that misbehave the way a hostile document can make a parser misbehave."""

from __future__ import annotations

import os
import socket
import time


def echo(value: int) -> int:
    return value


def hang(seconds: float) -> None:
    time.sleep(seconds)


def spin() -> None:
    while True:
        pass


def crash() -> None:
    os._exit(3)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def connect() -> str:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        return str(exc)
    return "connected"


def dispatch(kind: str, value: int) -> int:
    """One job function for mixed batches: ``crash`` dies, anything else echoes."""
    if kind == "crash":
        crash()
    return value


def burn(seconds: float) -> float:
    """Spend ``seconds`` of CPU time, then return the worker's CPU time so far."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return time.process_time()


def stamp(seconds: float) -> float:
    """Sleep ``seconds``, then return the time it ended."""
    time.sleep(seconds)
    return time.time()
