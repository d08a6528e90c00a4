"""SMS texts: GSM-7 against UCS-2, segments counted as phones split them, the shortening rule, no diacritics."""

from __future__ import annotations

import random
import re

import pytest

from portal.notifications.sms_text import (
    GSM7,
    UCS2,
    encoding_of,
    fit,
    length,
    normalize,
    segments,
    strip_diacritics,
)

LINK = "https://dvc.vn/d/8Kq2"
LONG_LINK = "https://dichvucong.example.gov.vn/dossiers/0f3a9c2e7b1d4e5f8a6b"
RESULT_VI = (
    "Hồ sơ 000.00.21.H01-260101-0001 đã có kết quả. Mời ông/bà đến nhận tại Trung tâm Phục vụ hành chính công "
    "tỉnh hoặc chờ bưu điện chuyển phát đến địa chỉ đã đăng ký."
)


def test_gsm_alphabet_and_ucs2() -> None:
    assert encoding_of("Ho so da co ket qua: 000.00.21.H01") == GSM7
    assert encoding_of("Hà Nội é ù ì ò Ç Ø ß") == UCS2  # "ộ" is not GSM
    assert encoding_of("Nhà é ù ì ò à") == GSM7  # these accented letters are in the GSM 03.38 alphabet
    assert encoding_of("Hồ sơ") == UCS2
    assert encoding_of("phí [a] {b} ~ ^ | € \\") == UCS2  # "í" is not
    assert encoding_of("phi [a] {b} ~ ^ | € \\") == GSM7
    assert encoding_of("`") == UCS2  # the grave accent is not in GSM 03.38


@pytest.mark.parametrize(
    ("text", "units", "count"),
    [
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 306, 306, 2),
        ("a" * 307, 307, 3),
        ("€" * 80, 160, 1),  # the extension table counts two septets
        ("€" * 81, 162, 2),
        ("ồ" * 70, 70, 1),
        ("ồ" * 71, 71, 2),
        ("ồ" * 134, 134, 2),
        ("ồ" * 135, 135, 3),
        ("😀" * 35, 70, 1),  # outside the BMP: two UTF-16 units
        ("😀" * 36, 72, 2),
        ("", 0, 1),
    ],
)
def test_lengths_and_segments(text: str, units: int, count: int) -> None:
    assert length(text) == units
    assert segments(text) == count


def test_a_two_unit_character_is_never_split_across_segments() -> None:
    # 306 septets would fit two parts of 153, but "€" (escape + code) cannot straddle the boundary.
    text = "a" * 152 + "€" + "a" * 152
    assert length(text) == 306
    assert segments(text) == 3
    # The same for a surrogate pair in UCS-2: 134 units, yet three parts of 67.
    text = "ồ" * 66 + "😀" + "ồ" * 66
    assert length(text) == 134
    assert segments(text) == 3


def test_strip_diacritics() -> None:
    assert strip_diacritics("Đặng Thị Hường, Nguyễn Văn Ước") == "Dang Thi Huong, Nguyen Van Uoc"
    assert strip_diacritics("Hồ sơ đã được tiếp nhận") == "Ho so da duoc tiep nhan"
    assert strip_diacritics("ĐÃ XỬ LÝ") == "DA XU LY"


def test_plain_turns_vietnamese_into_gsm7_and_gains_room() -> None:
    with_marks = fit(RESULT_VI, plain=False, max_segments=3)
    plain = fit(RESULT_VI, plain=True, max_segments=3)
    assert with_marks.encoding == UCS2 and with_marks.segments == 3
    assert plain.encoding == GSM7 and plain.segments == 2  # 161 septets
    assert plain.text == strip_diacritics(RESULT_VI)
    assert not plain.shortened and not with_marks.shortened


def test_typography_takes_its_gsm_form() -> None:
    fitted = fit("Payment of 200.000\u00a0VND received \u2013 \u201cthank you\u201d\u2026", plain=False, max_segments=1)
    assert fitted.text == 'Payment of 200.000 VND received - "thank you"...'
    assert fitted.encoding == GSM7
    assert normalize("a\u200bb\ufeff", plain=False) == "ab"


def test_whitespace_collapses_before_anything_is_cut() -> None:
    text = "Ho so 000.00.21.H01-260101-0001\n\n   " + ("da co ket qua " * 7).strip() + "\n\n\n\n   " + LINK
    assert length(text) == 161 and segments(text) == 2
    assert length(re.sub(r"\s+", " ", text)) == 151
    fitted = fit(text, plain=False, max_segments=1)
    assert fitted.text == re.sub(r"\s+", " ", text)
    assert fitted.segments == 1 and not fitted.shortened


def test_too_long_is_cut_at_a_word_keeping_the_link() -> None:
    text = RESULT_VI + " Chi tiết: " + LINK
    fitted = fit(text, plain=False, max_segments=1)
    assert fitted.shortened and fitted.segments == 1 and fitted.encoding == UCS2
    assert fitted.text.endswith("… " + LINK)
    head = fitted.text.removesuffix("… " + LINK)
    assert text.startswith(head)
    assert text[len(head)] == " "  # cut at a word boundary
    assert head.startswith("Hồ sơ 000.00.21.H01-260101-0001 đã có kết quả.")
    # The longest such beginning: one more word would not fit.
    next_word_end = text.index(" ", len(head) + 1)
    assert segments(text[:next_word_end] + "… " + LINK) > 1


def test_gsm_text_is_cut_with_three_dots() -> None:
    text = strip_diacritics(RESULT_VI) * 3 + " " + LINK
    fitted = fit(text, plain=False, max_segments=2)
    assert fitted.encoding == GSM7 and fitted.segments == 2 and fitted.shortened
    assert fitted.text.endswith("... " + LINK)
    assert length(fitted.text) <= 306


def test_a_link_taking_more_than_half_the_room_is_dropped() -> None:
    fitted = fit(RESULT_VI + " " + LONG_LINK, plain=False, max_segments=1)
    assert LONG_LINK not in fitted.text and "https" not in fitted.text
    assert fitted.text.startswith("Hồ sơ 000.00.21.H01-260101-0001 đã có kết quả.")
    assert fitted.text.endswith("…") and fitted.segments == 1
    # With two segments there is room for it.
    fitted = fit(RESULT_VI + " " + RESULT_VI + " " + LONG_LINK, plain=False, max_segments=2)
    assert fitted.text.endswith("… " + LONG_LINK) and fitted.segments == 2


def test_one_long_word_is_cut_hard() -> None:
    fitted = fit("x" * 500, plain=False, max_segments=1)
    assert fitted.text == "x" * 157 + "..."
    assert fitted.segments == 1 and fitted.shortened


def test_trailing_punctuation_goes_before_the_ellipsis() -> None:
    text = "Ho so A-1 da tiep nhan, " + "b" * 150
    fitted = fit(text, plain=False, max_segments=1)
    assert fitted.text == "Ho so A-1 da tiep nhan..."


def test_max_segments_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        fit("a", plain=False, max_segments=0)


def test_random_texts_always_fit_and_keep_their_beginning() -> None:
    rng = random.Random(14)
    words = ["Hồ", "sơ", "đã", "có", "kết", "quả", "Ho", "so", "da", "co", "ket", "qua", "€", "[x]", "😀", "0001"]
    for _ in range(300):
        n = rng.randint(1, 120)
        text = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.5:
            text += " " + rng.choice([LINK, LONG_LINK])
        plain = rng.random() < 0.3
        max_segments = rng.randint(1, 4)
        fitted = fit(text, plain=plain, max_segments=max_segments)
        assert fitted.segments == segments(fitted.text) <= max_segments
        assert fitted.encoding == encoding_of(fitted.text)
        source = re.sub(r"\s+", " ", normalize(text, plain=plain)).strip()
        if not fitted.shortened:
            assert fitted.text in (source, normalize(text, plain=plain).strip())
            continue
        head = re.sub(r"(\.\.\.|…)( https?://\S+)?$", "", fitted.text)
        assert head and source.startswith(head), (text, fitted)
