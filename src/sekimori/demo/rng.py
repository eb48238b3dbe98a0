"""Deterministic randomness for the demo: one named stream per part of the day.

Each generator asks for its own stream (``stream("endpoint:WS-07")``) so that
adding events to one part never shifts the values of another; string seeds
go through SHA-512 inside :mod:`random`, which is stable across runs and
interpreters (unlike ``hash()``).
"""

from __future__ import annotations

import random
import string

SEED = "sekimori-demo-2026-11-24"
_B62 = string.digits + string.ascii_letters


class DemoRandom(random.Random):
    """A seeded :class:`random.Random` with the id shapes the logs need."""

    def guid(self) -> str:
        """An upper-case GUID without braces, as Sysmon prints ``ProcessGuid``."""
        h = f"{self.getrandbits(128):032X}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def zeek_uid(self, prefix: str = "C") -> str:
        """A Zeek connection (``C…``) or file (``F…``) id."""
        return prefix + "".join(self.choice(_B62) for _ in range(17))

    def hexdigits(self, n: int, upper: bool = False) -> str:
        """``n`` random hex digits."""
        text = f"{self.getrandbits(4 * n):0{n}x}"
        return text.upper() if upper else text

    def word(self, n: int, capital: bool = False) -> str:
        """A random lower-case word of ``n`` letters (loader folder and file names)."""
        text = "".join(self.choice(string.ascii_lowercase) for _ in range(n))
        return text.capitalize() if capital else text

    def jitter(self, base: float, spread: float) -> float:
        """``base`` plus or minus up to ``spread``."""
        return base + self.uniform(-spread, spread)


def stream(name: str) -> DemoRandom:
    """The random stream called ``name``, the same on every run."""
    return DemoRandom(f"{SEED}:{name}")
