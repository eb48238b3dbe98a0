"""What every analyzer gets besides the file: limits, passwords, depth and budget.

Limits follow DESIGN.md ("size, depth and time limits on every parser"):
a file or archive that would break them is reported as unscannable with
the limit it hit, never expanded further.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Limits:
    """Size, depth, ratio and count limits of one scan."""

    max_depth: int = 6
    max_file_size: int = 50 * 1024 * 1024
    max_total_size: int = 200 * 1024 * 1024
    max_ratio: int = 200
    max_members: int = 1000
    max_files: int = 2000
    # Ratio checks only apply to members bigger than this (small files compress well legitimately).
    ratio_floor: int = 1024 * 1024


@dataclass(slots=True)
class ScanContext:
    """Per-message state handed to analyzers: limits, candidate passwords, budget.

    ``passwords`` are the candidates found in the message (PPAP bodies);
    ``extracted`` and ``files`` count what the whole scan has unpacked so far,
    so that limits hold across nested archives, not just within one.
    """

    limits: Limits = field(default_factory=Limits)
    passwords: tuple[str, ...] = ()
    depth: int = 0
    extracted: int = 0
    files: int = 0

    def room(self) -> int:
        """Bytes that may still be unpacked before the total-size limit."""
        return max(0, self.limits.max_total_size - self.extracted)

    def take(self, size: int) -> bool:
        """Account ``size`` unpacked bytes and one file; False when over a limit."""
        self.extracted += size
        self.files += 1
        return self.extracted <= self.limits.max_total_size and self.files <= self.limits.max_files
