"""pyzipper's reader, with ZipCrypto ("traditional PKWARE") decrypted in C.

pyzipper decrypts ZipCrypto one byte at a time in Python, about 1 ms per
2 KB: a sixth of a whole mail scan on traffic full of PPAP zips.
fast-zip-decryption's decrypter is the same cipher in C. pyzipper lets a
reader choose how a member is decrypted (``zipextfile_cls``), so only that
changes: pyzipper still reads the archive, checks the password's check
byte and the CRC, and decrypts WinZip AES.
"""

from __future__ import annotations

import zipfile
from typing import Any

import _zipdecrypter
from pyzipper.zipfile import BadZipFile, CRCZipDecrypter
from pyzipper.zipfile_aes import AESZipExtFile, AESZipFile

# pyzipper raises its own BadZipFile (a bad CRC, a truncated header), not zipfile's.
BAD_ZIP = (BadZipFile, zipfile.BadZipFile)


class _CZipDecrypter(CRCZipDecrypter):  # type: ignore[misc]
    def __init__(self, zinfo: Any, pwd: bytes, encryption_header: bytes) -> None:
        self._cipher = _zipdecrypter.StandardZipDecrypter(pwd)
        # pyzipper's own set-up then decrypts the header and checks the password.
        super().__init__(zinfo, pwd, encryption_header)

    def update_keys(self, c: int) -> None:
        """The C cipher keeps the keys (pyzipper feeds the password here)."""

    def decrypt(self, data: bytes) -> bytes:
        plain: bytes = self._cipher.decrypt_bytes(data)
        return plain


class _ExtFile(AESZipExtFile):  # type: ignore[misc]
    def setup_crczipdecrypter(self) -> type[CRCZipDecrypter]:
        super().setup_crczipdecrypter()
        return _CZipDecrypter


class ZipFile(AESZipFile):  # type: ignore[misc]
    """``pyzipper.AESZipFile`` whose ZipCrypto members decrypt in C."""

    zipextfile_cls = _ExtFile
