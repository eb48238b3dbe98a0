"""Builders of inert, structurally real test documents, archives and mails.

Nothing here is downloaded or copied from third-party samples: each builder
writes the file format from its specification (MS-CFB, MS-OVBA, ECMA-376,
PKWARE APPNOTE, ISO 32000, RFC 5322/2047/2231), so tests and ``sekimori demo``
can produce malicious-looking but harmless inputs at run time. Every macro,
script and link they contain is inert: commands decode to
``Write-Output 'detector-test'``, URLs live under ``.invalid`` or
``example.com`` and addresses come from the TEST-NET ranges.
"""

from __future__ import annotations

from sekimori.errors import SekimoriError


class SampleError(SekimoriError):
    """A sample builder was given arguments the file format cannot represent."""
