"""One root exception, a subclass per layer; each carries where the problem was."""

from __future__ import annotations


class SekimoriError(Exception):
    """Root of every error Sekimori raises on purpose.

    ``where`` names the place the problem was found (``file:line``, a record id,
    a rule id) so that a one-line report can point at it.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class SourceError(SekimoriError):
    """An input file cannot be read or is not of any known format."""


class RuleError(SekimoriError):
    """A detection rule cannot be loaded or honoured."""


class ConfigError(SekimoriError):
    """The site configuration is missing, malformed or contradictory."""


class StoreError(SekimoriError):
    """The store cannot be opened, migrated or written."""


class MailError(SekimoriError):
    """A message or document cannot be analyzed."""


class IntelError(SekimoriError):
    """A threat-intelligence feed cannot be read or exported."""
