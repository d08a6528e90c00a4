import unicodedata

import pytest

from payments.amounts import amount_in_words_vi


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (0, "Không đồng"),
        (10, "Mười đồng"),
        (11, "Mười một đồng"),
        (14, "Mười bốn đồng"),
        (24, "Hai mươi tư đồng"),
        (25, "Hai mươi lăm đồng"),
        (1500, "Một nghìn năm trăm đồng"),
        (15000, "Mười lăm nghìn đồng"),
        (21000, "Hai mươi mốt nghìn đồng"),
        (100000, "Một trăm nghìn đồng"),
        (105000, "Một trăm linh năm nghìn đồng"),
        (1000001, "Một triệu không trăm linh một đồng"),
        (1234567, "Một triệu hai trăm ba mươi tư nghìn năm trăm sáu mươi bảy đồng"),
        (2005000, "Hai triệu không trăm linh năm nghìn đồng"),
        (1000000000, "Một tỷ đồng"),
    ],
)
def test_examples(amount, words):
    assert amount_in_words_vi(amount) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (5, "Năm đồng"),
        (105, "Một trăm linh năm đồng"),
        (104, "Một trăm linh bốn đồng"),
        (111, "Một trăm mười một đồng"),
        (1001, "Một nghìn không trăm linh một đồng"),
        (31_004_014, "Ba mươi mốt triệu không trăm linh bốn nghìn không trăm mười bốn đồng"),
        (1_000_000_000_000, "Một nghìn tỷ đồng"),
        (1_005_000_000_000, "Một nghìn không trăm linh năm tỷ đồng"),
        (2_000_000_015, "Hai tỷ không trăm mười lăm đồng"),
    ],
)
def test_conventions(amount, words):
    assert amount_in_words_vi(amount) == words


@pytest.mark.parametrize("amount", [-1, True, 1.0, "1000"])
def test_refuses_what_is_not_an_amount(amount):
    with pytest.raises(ValueError):
        amount_in_words_vi(amount)


def test_readings_are_well_formed():
    readings = {}
    for amount in range(0, 2_000_001, 997):
        words = amount_in_words_vi(amount)
        assert "  " not in words
        assert words == words.strip()
        assert words[0].isupper()
        assert words.endswith(" đồng")
        assert unicodedata.is_normalized("NFC", words)
        readings[words] = amount
    assert len(readings) == len(range(0, 2_000_001, 997))


def test_thousands_group_changes_the_reading():
    for millions, units in [(0, 0), (0, 5), (1, 0), (2, 105), (7, 999)]:
        base = millions * 1_000_000 + units
        readings = {amount_in_words_vi(base + thousands * 1000) for thousands in range(1000)}
        assert len(readings) == 1000
