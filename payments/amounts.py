"""Amounts of đồng read out in Vietnamese words, as printed on an e-receipt (biên lai điện tử)."""

from __future__ import annotations

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


def amount_in_words_vi(amount: int) -> str:
    """Read an amount of đồng in Vietnamese words: 21000 → "Hai mươi mốt nghìn đồng".

    Conventions are the common administrative ones used on receipts and invoices:

    - digits are read in groups of three from the right, named "nghìn", "triệu", "tỷ";
      the number of "tỷ" is itself read the same way, so beyond that come "nghìn tỷ",
      "triệu tỷ", "tỷ tỷ" (1005000000000 → "một nghìn không trăm linh năm tỷ");
    - a group that is all zeros is left out (1000001 → "một triệu không trăm linh một");
    - every group after the first is read with all three digits, so a zero hundreds digit
      is "không trăm" (2005000 → "hai triệu không trăm linh năm nghìn");
    - a zero tens digit before a non-zero unit is "linh" (105 → "một trăm linh năm");
    - tens of 1 are "mười", higher tens "<digit> mươi" (10 → "mười", 20 → "hai mươi");
    - after "mươi" (tens ≥ 20) a unit of 1 is "mốt" and a unit of 4 is "tư" (21 → "hai mươi mốt",
      24 → "hai mươi tư"); after "mười" they stay "một", "bốn" (11 → "mười một");
    - after any tens a unit of 5 is "lăm" (15 → "mười lăm", 25 → "hai mươi lăm"),
      but stays "năm" alone or after "linh" (5 → "năm", 105 → "một trăm linh năm");
    - the first letter is capitalised and the reading ends in " đồng"; 0 is "Không đồng".

    Raises ValueError for a negative amount or anything that is not an int (bools included).
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"an amount of đồng is a whole number, not {amount!r}")
    if amount < 0:
        raise ValueError(f"an amount of đồng cannot be negative: {amount}")
    if amount == 0:
        return "Không đồng"

    text = " ".join(_read(amount))
    return f"{text[0].upper()}{text[1:]} đồng"


def _read(number: int) -> list[str]:
    """Words for a positive number; the count of "tỷ" is itself read this way (1000 tỷ → "một nghìn tỷ")."""
    billions, rest = divmod(number, 1_000_000_000)
    words = [*_read(billions), "tỷ"] if billions else []
    for scale, name in ((1_000_000, "triệu"), (1_000, "nghìn"), (1, "")):
        group, rest = divmod(rest, scale)
        if group:
            words += _read_group(group, full=bool(words))
            if name:
                words.append(name)
    return words


def _read_group(group: int, *, full: bool) -> list[str]:
    """Words for 1..999; full reads a zero hundreds digit as "không trăm" (a group after the first)."""
    hundreds, tens, units = group // 100, group // 10 % 10, group % 10
    words: list[str] = []
    if hundreds or full:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append("linh")
            words.append(_DIGITS[units])
        return words
    if tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt" if tens >= 2 else "một")
    elif units == 4:
        words.append("tư" if tens >= 2 else "bốn")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(_DIGITS[units])
    return words
