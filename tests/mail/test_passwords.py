from __future__ import annotations

import pytest

from sekimori.mail.passwords import find_passwords


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ファイル: 請求書.zip\nパスワード: Gd82kLp\n\n山田", "Gd82kLp"),
        ("PW：ａｂｃ１２３", "abc123"),
        ("Password: Hunter22", "Hunter22"),
        ("解凍パスワードは「x9Y8z7」です。", "x9Y8z7"),
        ("パスワードは以下の通りです。\n\nQw3rty!\n", "Qw3rty!"),
        ("The password for the attached file is below:\nZz81aa", "Zz81aa"),
        ("パスワード【abc12345】", "abc12345"),
    ],
)
def test_ppap_password_forms(text: str, expected: str) -> None:
    assert expected in find_passwords(text)


def test_announcement_without_password_gives_nothing() -> None:
    assert find_passwords("パスワードは別途お送りします。") == ()
    assert find_passwords("Please find attached the invoice.") == ()


def test_labels_case_insensitive_matching_finds_are_not_skipped() -> None:
    # A long s matches "s" case-insensitively: the quick look for a label must see it.
    assert "Gd82kLp" in find_passwords("PAſſWORD: Gd82kLp")
    assert find_passwords("請求書を送付します。よろしくお願いします。") == ()
