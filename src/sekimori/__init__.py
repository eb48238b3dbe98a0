"""Sekimori: detect, contain and explain Emotet-style loader intrusions."""

from __future__ import annotations

__version__ = "0.1.0"
