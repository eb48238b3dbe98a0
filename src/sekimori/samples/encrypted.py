r"""Builder of password-encrypted OOXML documents (MS-OFFCRYPTO agile encryption).

An encrypted .docx/.docm/.xlsx is a compound file (MS-CFB) holding:

- ``EncryptionInfo`` (MS-OFFCRYPTO 2.3.4.10) and ``EncryptedPackage``
  (2.3.4.4): the zip package encrypted with AES-256 in 4,096-byte segments,
  computed by ``msoffcrypto-tool``'s agile encryption;
- the ``\x06DataSpaces`` storage (2.1): ``Version`` (2.1.5),
  ``DataSpaceMap`` (2.1.6), ``DataSpaceInfo/StrongEncryptionDataSpace``
  (2.1.7) and ``TransformInfo/StrongEncryptionTransform/\x06Primary``
  (2.1.8, 2.1.9), written here from the spec.

The container is written by :mod:`sekimori.samples.cfb`, which also handles
packages smaller than the 4,096-byte mini stream cutoff.
"""

from __future__ import annotations

import struct
from io import BytesIO

from msoffcrypto.method.ecma376_agile import ECMA376Agile

from sekimori.samples import SampleError
from sekimori.samples.cfb import Storage, Stream, write_cfb

_TRANSFORM_ID = "{FF9A3F03-56EF-4613-BDD5-5A41C1D07246}"
_VERSION_1_0 = struct.pack("<HH", 1, 0)


def _lp_p4(text: str) -> bytes:
    """A UNICODE-LP-P4 string (MS-OFFCRYPTO 2.1.2): byte length, UTF-16LE, padded to 4."""
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw + bytes(-len(raw) % 4)


def _data_spaces() -> Storage:
    version = _lp_p4("Microsoft.Container.DataSpaces") + _VERSION_1_0 * 3
    entry = (
        struct.pack("<II", 1, 0) + _lp_p4("EncryptedPackage") + _lp_p4("StrongEncryptionDataSpace")
    )
    data_space_map = struct.pack("<III", 8, 1, 4 + len(entry)) + entry
    definition = struct.pack("<II", 8, 1) + _lp_p4("StrongEncryptionTransform")
    transform_id = _lp_p4(_TRANSFORM_ID)
    header = struct.pack("<II", 8 + len(transform_id), 1) + transform_id
    header += _lp_p4("Microsoft.Container.EncryptionTransform") + _VERSION_1_0 * 3
    # EncryptionTransformInfo: empty name, block size 0, cipher mode 0, reserved 4.
    primary = header + struct.pack("<IIII", 0, 0, 0, 4)
    return Storage(
        "\x06DataSpaces",
        children=[
            Stream("Version", version),
            Stream("DataSpaceMap", data_space_map),
            Storage("DataSpaceInfo", [Stream("StrongEncryptionDataSpace", definition)]),
            Storage(
                "TransformInfo",
                [Storage("StrongEncryptionTransform", [Stream("\x06Primary", primary)])],
            ),
        ],
    )


def build_encrypted_ooxml(package: bytes, password: str, spin_count: int = 100_000) -> bytes:
    """``package`` (a .docx/.docm/.xlsx zip) encrypted with ``password``, as Office does.

    ``spin_count`` is the password hash iteration count (Office uses 100,000).
    Open it with ``msoffcrypto.OfficeFile(...).load_key(password=...)``.
    """
    if not package.startswith(b"PK\x03\x04"):
        raise SampleError("not an OOXML (zip) package")
    if not password:
        raise SampleError("empty document password")
    info, secret_key = ECMA376Agile.generate_encryption_parameters(password, spin_count=spin_count)
    encrypted = ECMA376Agile.encrypt_payload(
        BytesIO(package), info.encryptedKey, secret_key, info.keyData.saltValue
    )
    encryption_info = ECMA376Agile.get_encryption_information(info, encrypted, secret_key)
    root = Storage(
        "Root Entry",
        children=[
            _data_spaces(),
            Stream("EncryptionInfo", bytes(encryption_info)),
            Stream("EncryptedPackage", bytes(encrypted)),
        ],
    )
    return write_cfb(root)
