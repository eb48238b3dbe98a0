from __future__ import annotations

import io

import msoffcrypto
import olefile
import pytest
from msoffcrypto.exceptions import InvalidKeyError
from oletools import oleid

from sekimori.samples import SampleError
from sekimori.samples.encrypted import build_encrypted_ooxml
from sekimori.samples.office import build_docm, build_xlsx


@pytest.mark.parametrize(
    "package",
    [build_docm(), build_xlsx([["x", 1]] * 400)],
    ids=["small-docm", "xlsx"],
)
def test_decrypts_with_msoffcrypto(package: bytes) -> None:
    data = build_encrypted_ooxml(package, "infected")
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    assert office.is_encrypted()
    office.load_key(password="infected")
    out = io.BytesIO()
    office.decrypt(out)
    assert out.getvalue() == package


def test_wrong_password_fails() -> None:
    data = build_encrypted_ooxml(build_docm(), "infected", spin_count=1000)
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password="nope")
    with pytest.raises(InvalidKeyError):
        office.decrypt(io.BytesIO())


def test_container_layout_and_oleid() -> None:
    data = build_encrypted_ooxml(build_docm(), "infected", spin_count=1000)
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    streams = {"/".join(path) for path in ole.listdir()}
    assert streams == {
        "EncryptionInfo",
        "EncryptedPackage",
        "\x06DataSpaces/Version",
        "\x06DataSpaces/DataSpaceMap",
        "\x06DataSpaces/DataSpaceInfo/StrongEncryptionDataSpace",
        "\x06DataSpaces/TransformInfo/StrongEncryptionTransform/\x06Primary",
    }
    assert ole.openstream("EncryptionInfo").read()[:4] == b"\x04\x00\x04\x00"  # agile 4.4
    indicators = {ind.id: ind.value for ind in oleid.OleID(data=data).check()}
    assert indicators["encrypted"] is True


def test_bad_input() -> None:
    with pytest.raises(SampleError):
        build_encrypted_ooxml(b"not a zip", "x")
    with pytest.raises(SampleError):
        build_encrypted_ooxml(build_docm(), "")
