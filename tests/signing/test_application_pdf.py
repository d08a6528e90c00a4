"""Tests of signing.application_pdf: answers as on the review page, exact Vietnamese text, a free signature box."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

import forms
from forms.definition import FormDefinition, load_definition, parse_definition
from forms.validation import validate_step
from signing.application_pdf import (
    SIGNATURE_BOX,
    ApplicationData,
    application_data,
    render_application_pdf,
    signature_page_index,
)
from tests.factories import MARITAL, marital_step1, marital_step2

MARITAL_FORM = Path(forms.__file__).parent / "definitions" / "xac-nhan-tinh-trang-hon-nhan" / "v1.yaml"
NOW = datetime(2027, 2, 3, 2, 30, tzinfo=UTC)  # 09:30 on 3 February in Vietnam
TODAY = date(2027, 2, 3)
HOAN_KIEM = "00070"  # Phường Hoàn Kiếm, Thành phố Hà Nội
DOSSIER_REF = "8f14e45f-ceea-467f-a8f3-2d5b1c9e0a11"

DIVORCED_FOR_MARRIAGE = {
    "marital_status": "divorced",
    "spouse_name": "Trần Văn Bình",
    "status_document": "Bản án số 12/2020/HNGĐ-ST ngày 05/03/2020 của Tòa án nhân dân quận Hoàn Kiếm",
    "purpose": "marriage",
    "partner_name": "Lê Văn Cường",
    "partner_birth_date": "29/02/1988",
    "partner_nationality": "Việt Nam",
    "partner_id_number": "001088012345",
    "marriage_place": "Ủy ban nhân dân phường Hoàn Kiếm",
}

# Every kind of answer, a group whose rows have conditions, and a chain of conditions.
KINDS_FORM = """
id: thu-nghiem
version: 1
title: {vi: "Tờ khai thử nghiệm", en: "Test form"}
steps:
  - id: people
    title: {vi: "Thành viên gia đình", en: "Family"}
    fields:
      - name: has_note
        type: radio
        label: {vi: "Có ghi chú?", en: "Note?"}
        options:
          - {value: "yes", label: {vi: "Có ghi chú", en: "Yes"}}
          - {value: "no", label: {vi: "Không ghi chú", en: "No"}}
      - name: note_kind
        type: radio
        label: {vi: "Loại ghi chú", en: "Note kind"}
        show_if: {field: has_note, equals: "yes"}
        options:
          - {value: long, label: {vi: "Ghi chú dài", en: "Long"}}
          - {value: short, label: {vi: "Ghi chú ngắn", en: "Short"}}
      - name: note
        type: textarea
        label: {vi: "Nội dung ghi chú", en: "Note"}
        show_if: {field: note_kind, equals: long}
      - name: members
        type: group
        label: {vi: "Thành viên", en: "Member"}
        max_items: 200
        fields:
          - {name: member_name, type: text, label: {vi: "Họ và tên", en: "Name"}, required: true}
          - name: relation
            type: select
            label: {vi: "Quan hệ", en: "Relation"}
            options:
              - {value: child, label: {vi: "Con đẻ", en: "Child"}}
              - {value: other, label: {vi: "Khác", en: "Other"}}
          - name: relation_other
            type: text
            label: {vi: "Quan hệ khác", en: "Other relation"}
            show_if: {field: relation, equals: other}
          - name: member_note
            type: text
            label: {vi: "Ghi chú thành viên", en: "Member note"}
            show_if: {field: has_note, equals: "yes"}
          - {name: born, type: date, label: {vi: "Ngày sinh", en: "Born"}}
  - id: other
    title: {vi: "Thông tin khác", en: "Other"}
    fields:
      - name: languages
        type: checkbox
        label: {vi: "Ngôn ngữ sử dụng", en: "Languages"}
        options:
          - {value: vi, label: {vi: "Tiếng Việt", en: "Vietnamese"}}
          - {value: en, label: {vi: "Tiếng Anh", en: "English"}}
          - {value: fr, label: {vi: "Tiếng Pháp", en: "French"}}
      - {name: consent, type: checkbox, label: {vi: "Đồng ý nhận tin nhắn", en: "SMS consent"}}
      - {name: income, type: number, label: {vi: "Thu nhập (đồng)", en: "Income"}}
      - {name: email, type: email, label: {vi: "Thư điện tử", en: "Email"}}
      - {name: home, type: address, label: {vi: "Nơi ở", en: "Home"}}
"""

# A second step whose only question depends on a checkbox of the first.
HIDDEN_STEP_FORM = """
id: an-buoc
version: 1
title: {vi: "Ẩn bước", en: "Hidden step"}
steps:
  - id: first
    title: {vi: "Bước một", en: "One"}
    fields:
      - {name: more, type: checkbox, label: {vi: "Khai thêm", en: "More"}}
  - id: second
    title: {vi: "Bước hai", en: "Two"}
    fields:
      - {name: detail, type: text, label: {vi: "Chi tiết", en: "Detail"}, show_if: {field: more, equals: "true"}}
"""


def poppler(tool: str) -> str:
    """Path of a poppler-utils tool; fail (never skip) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required for this test: install poppler-utils (apt-get install -y poppler-utils)")
    return path


@pytest.fixture(scope="module")
def marital() -> FormDefinition:
    return load_definition(MARITAL_FORM)


@pytest.fixture(scope="module")
def kinds() -> FormDefinition:
    return parse_definition(KINDS_FORM, "kinds.yaml")


def stored(defn: FormDefinition, *posts: Mapping[str, Any]) -> dict[str, Any]:
    """The dossier data after posting each step in turn, validated as the app does (later steps see earlier ones)."""
    data: dict[str, Any] = {}
    for step, post in zip(defn.steps, posts, strict=True):
        result = validate_step(defn, step.id, post, context=data, today=TODAY)
        assert result.ok, result.errors
        data.update(result.values)
    return data


def build(defn: FormDefinition, data: Mapping[str, Any], **over: Any) -> ApplicationData:
    args: dict[str, Any] = {
        "defn": defn,
        "data": data,
        "procedure_name_vi": "Cấp Giấy xác nhận tình trạng hôn nhân",
        "procedure_code": MARITAL,
        "agency_name_vi": "Ủy ban nhân dân phường Hoa Lư",
        "applicant_name": "Nguyễn Thị Hường",
        "place": "Tỉnh Ninh Bình",
        "dossier_ref": DOSSIER_REF,
        "now": NOW,
    }
    return application_data(**{**args, **over})


def marital_data(defn: FormDefinition, **step2: str) -> dict[str, Any]:
    return stored(defn, marital_step1(**{"address.ward": HOAN_KIEM}), marital_step2(**step2))


def pdftotext(pdf: bytes, tmp_path: Path, *options: str) -> str:
    path = tmp_path / "application.pdf"
    path.write_bytes(pdf)
    command = [poppler("pdftotext"), *options, "-enc", "UTF-8", str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout.decode("utf-8")


def text_of(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text as pdftotext extracts it, whitespace runs collapsed."""
    return " ".join(pdftotext(pdf, tmp_path).split())


def words_on_page(pdf: bytes, tmp_path: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """(word, x1, y1, x2, y2) of every word of a page, in points from the bottom-left like SIGNATURE_BOX."""
    html = pdftotext(pdf, tmp_path, "-bbox", "-f", str(page + 1), "-l", str(page + 1))
    height = float(re.search(r'<page width="[0-9.]+" height="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    word = re.compile(r'<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">([^<]*)</word>')
    return [
        (text, float(x1), height - float(y2), float(x2), height - float(y1))
        for x1, y1, x2, y2, text in word.findall(html)
    ]


def assert_signature_box_free(pdf: bytes, tmp_path: Path) -> None:
    """No word touches SIGNATURE_BOX on the last page, and nothing at all is painted inside it."""
    last = signature_page_index(pdf)
    assert last == len(PdfReader(io.BytesIO(pdf)).pages) - 1
    bx1, by1, bx2, by2 = SIGNATURE_BOX
    words = words_on_page(pdf, tmp_path, last)
    assert any(w == "YÊU" for w, *_ in words)  # the closing block is on that page
    for w, x1, y1, x2, y2 in words:
        assert x2 <= bx1 or x1 >= bx2 or y2 <= by1 or y1 >= by2, (w, (x1, y1, x2, y2))
    # Rasterised at 72 dpi one pixel is one point: the box area must be blank paper.
    path = tmp_path / "application.pdf"
    path.write_bytes(pdf)
    height = float(PdfReader(io.BytesIO(pdf)).pages[last].mediabox.height)
    crop = [str(round(v)) for v in (bx1, height - by2, bx2 - bx1, by2 - by1)]
    out = tmp_path / "box"
    subprocess.run(
        [poppler("pdftoppm"), "-f", str(last + 1), "-l", str(last + 1), "-r", "72", "-gray", "-png", "-singlefile",
         "-x", crop[0], "-y", crop[1], "-W", crop[2], "-H", crop[3], str(path), str(out)],
        check=True,
    )  # fmt: skip
    with Image.open(f"{out}.png") as image:
        assert image.size == (220, 70)
        assert image.convert("L").getextrema() == (255, 255)


# --- application_data -------------------------------------------------------------------------


def test_answers_read_like_the_review_page(marital: FormDefinition) -> None:
    app = build(marital, marital_data(marital))
    assert app.title_vi == "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"
    assert app.place == "Ninh Bình"
    assert app.sections == [
        (
            "Người được xác nhận",
            [
                ("Họ, chữ đệm và tên", "Nguyễn Thị Hường"),
                ("Giới tính", "Nữ"),
                ("Ngày, tháng, năm sinh", "17/05/1990"),
                ("Dân tộc", "Kinh"),
                ("Quốc tịch", "Việt Nam"),
                ("Số định danh cá nhân", "001190012345"),
                ("Nơi cư trú", "12 Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội"),
                ("Số điện thoại", "0912345678"),
                ("Thư điện tử", "huong@example.vn"),
                ("Xác nhận cho thời gian cư trú trước đây tại nơi khác?", "Không, xác nhận tình trạng hiện tại"),
            ],
        ),
        (
            "Tình trạng hôn nhân và mục đích sử dụng",
            [
                ("Tình trạng hôn nhân", "Chưa đăng ký kết hôn với ai"),
                ("Mục đích sử dụng Giấy xác nhận", "Vay vốn ngân hàng"),
                ("Ghi rõ mục đích sử dụng", "Vay vốn mua nhà"),
                ("Số lượng Giấy xác nhận đề nghị cấp", "1"),
                (
                    "Tôi xin cam đoan những thông tin khai trên là đúng sự thật và chịu trách nhiệm trước pháp luật "
                    "về lời khai của mình.",
                    "Có",
                ),
            ],
        ),
    ]


def test_conditional_questions_follow_the_answers(marital: FormDefinition) -> None:
    app = build(marital, marital_data(marital, **DIVORCED_FOR_MARRIAGE))
    rows = dict(app.sections[1][1])
    assert rows["Tình trạng hôn nhân"] == "Đã đăng ký kết hôn nhưng đã ly hôn"
    assert rows["Họ, chữ đệm và tên vợ/chồng"] == "Trần Văn Bình"
    assert rows["Ngày sinh của người dự định kết hôn"] == "29/02/1988"
    assert rows["Mục đích sử dụng Giấy xác nhận"] == "Đăng ký kết hôn"
    assert "Ghi rõ mục đích sử dụng" not in rows


def test_stale_answers_of_hidden_questions_are_left_out(marital: FormDefinition) -> None:
    data = marital_data(marital) | {"spouse_name": "Trần Văn Bình", "partner_name": "Lê Văn Cường"}
    labels = [label for _, rows in build(marital, data).sections for label, _ in rows]
    assert "Họ, chữ đệm và tên vợ/chồng" not in labels
    assert "Họ, chữ đệm và tên người dự định kết hôn" not in labels


def test_every_kind_of_answer(kinds: FormDefinition) -> None:
    data = stored(
        kinds,
        {
            "has_note": "yes", "note_kind": "long", "note": "Dòng một\r\n\r\n\r\nDòng  hai",
            "members.count": "2",
            "members.0.member_name": "Nguyễn Văn Ánh", "members.0.relation": "child", "members.0.born": "01/06/2015",
            "members.0.member_note": "Học lớp 6",
            "members.1.member_name": "Phạm Thị Ổi", "members.1.relation": "other", "members.1.relation_other": "Cháu",
        },
        {"languages": ["fr", "vi"], "income": "12500000", "home.province": "01", "home.ward": HOAN_KIEM,
         "home.street": "5 Đinh Tiên Hoàng"},
    )  # fmt: skip
    sections = build(kinds, data).sections
    assert sections == [
        (
            "Thành viên gia đình",
            [
                ("Có ghi chú?", "Có ghi chú"),
                ("Loại ghi chú", "Ghi chú dài"),
                ("Nội dung ghi chú", "Dòng một\n\nDòng hai"),
                ("Thành viên (1)", "Họ và tên: Nguyễn Văn Ánh; Quan hệ: Con đẻ; Ghi chú thành viên: Học lớp 6; "
                                   "Ngày sinh: 01/06/2015"),
                ("Thành viên (2)", "Họ và tên: Phạm Thị Ổi; Quan hệ: Khác; Quan hệ khác: Cháu; Ghi chú thành viên: —; "
                                   "Ngày sinh: —"),
            ],
        ),
        (
            "Thông tin khác",
            [
                ("Ngôn ngữ sử dụng", "Tiếng Việt; Tiếng Pháp"),  # in the order of the options
                ("Đồng ý nhận tin nhắn", "Không"),
                ("Thu nhập (đồng)", "12500000"),
                ("Thư điện tử", "—"),
                ("Nơi ở", "5 Đinh Tiên Hoàng, Phường Hoàn Kiếm, Thành phố Hà Nội"),
            ],
        ),
    ]  # fmt: skip


def test_chained_and_group_conditions_hide_like_validation(kinds: FormDefinition) -> None:
    # Stale values: note_kind/note were typed before has_note became "no"; a hidden target hides its chain.
    data = {
        "has_note": "no", "note_kind": "long", "note": "cũ",
        "members": [
            {"member_name": "Nguyễn Văn Ánh", "relation": "child", "relation_other": "cũ", "member_note": "cũ"}
        ],
        "consent": True,
    }  # fmt: skip
    rows = dict(row for _, rows in build(kinds, data).sections for row in rows)
    assert "Loại ghi chú" not in rows and "Nội dung ghi chú" not in rows
    assert rows["Thành viên (1)"] == "Họ và tên: Nguyễn Văn Ánh; Quan hệ: Con đẻ; Ngày sinh: —"
    assert rows["Đồng ý nhận tin nhắn"] == "Có"
    assert rows["Ngôn ngữ sử dụng"] == "—"


def test_an_empty_group_and_a_step_with_nothing_shown(kinds: FormDefinition) -> None:
    assert dict(build(kinds, {"has_note": "no"}).sections[0][1])["Thành viên"] == "—"
    defn = parse_definition(HIDDEN_STEP_FORM, "hidden-step.yaml")
    assert build(defn, {"more": False, "detail": "cũ"}).sections == [("Bước một", [("Khai thêm", "Không")])]
    assert build(defn, {"more": True, "detail": "Mới"}).sections == [
        ("Bước một", [("Khai thêm", "Có")]),
        ("Bước hai", [("Chi tiết", "Mới")]),
    ]


def test_naive_datetimes_are_refused(marital: FormDefinition) -> None:
    with pytest.raises(ValueError):
        build(marital, {}, now=datetime(2027, 2, 3, 9, 30))


# --- the PDF ------------------------------------------------------------------------------------


def test_vietnamese_text_comes_back_exactly(marital: FormDefinition, tmp_path: Path) -> None:
    app = build(marital, marital_data(marital, **DIVORCED_FOR_MARRIAGE))
    text = text_of(render_application_pdf(app), tmp_path)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
        "Kính gửi: Ủy ban nhân dân phường Hoa Lư",
        "I. Người được xác nhận",
        "II. Tình trạng hôn nhân và mục đích sử dụng",
        "Họ, chữ đệm và tên: Nguyễn Thị Hường",
        "Nơi cư trú: 12 Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội",
        "Tình trạng hôn nhân: Đã đăng ký kết hôn nhưng đã ly hôn",
        "Xác nhận cho thời gian cư trú trước đây tại nơi khác? Không, xác nhận tình trạng hiện tại",
        "Ninh Bình, ngày 03 tháng 02 năm 2027",
        "NGƯỜI YÊU CẦU",
        f"Mã thủ tục: {MARITAL}",
        DOSSIER_REF,
    ):
        assert expected in text, expected
    for title, rows in app.sections:
        assert title in text
        for label, answer in rows:
            assert label in text, label
            assert answer in text, answer
    assert text.count("Nguyễn Thị Hường") == 2  # the answer and the name under the signature


def test_hidden_questions_are_not_printed(marital: FormDefinition, tmp_path: Path) -> None:
    data = marital_data(marital) | {"spouse_name": "Trần Văn Bình"}  # a stale answer too
    text = text_of(render_application_pdf(build(marital, data)), tmp_path)
    for hidden in (
        "Nơi cư trú trước đây",
        "Cư trú từ ngày",
        "Họ, chữ đệm và tên vợ/chồng",
        "Trần Văn Bình",
        "Giấy tờ chứng minh",
        "người dự định kết hôn",
    ):
        assert hidden not in text, hidden
    assert "Ghi rõ mục đích sử dụng: Vay vốn mua nhà" in text


def test_decomposed_and_undrawable_characters(marital: FormDefinition, tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hường")
    app = replace(build(marital, marital_data(marital)), applicant_name=nfd, agency_name="Ủy ban 漢")
    text = text_of(render_application_pdf(app), tmp_path)
    assert "Nguyễn Thị Hường" in text and nfd not in text
    assert "Kính gửi: Ủy ban \ufffd" in text  # visibly replaced, never silently dropped


@pytest.mark.parametrize("step2", [{}, DIVORCED_FOR_MARRIAGE], ids=["never-married", "divorced-for-marriage"])
def test_a_typical_form_fits_on_one_page(marital: FormDefinition, tmp_path: Path, step2: dict[str, str]) -> None:
    pdf = render_application_pdf(build(marital, marital_data(marital, **step2)))
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert signature_page_index(pdf) == 0
    assert_signature_box_free(pdf, tmp_path)


def test_sixty_group_items_leave_the_signature_box_free(kinds: FormDefinition, tmp_path: Path) -> None:
    post: dict[str, str] = {"has_note": "yes", "note_kind": "short", "members.count": "60"}
    for i in range(60):
        post |= {
            f"members.{i}.member_name": f"Nguyễn Thị Hường {i + 1}",
            f"members.{i}.relation": "other",
            f"members.{i}.relation_other": "Đã đăng ký kết hôn nhưng đã ly hôn",
            f"members.{i}.member_note": "Phường Hoàn Kiếm",
        }
    data = stored(kinds, post, {"consent": "on"})
    assert len(data["members"]) == 60
    pdf = render_application_pdf(build(kinds, data))
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages >= 2
    assert signature_page_index(pdf) == pages - 1
    assert_signature_box_free(pdf, tmp_path)
    text = text_of(pdf, tmp_path)
    assert "Thành viên (60): Họ và tên: Nguyễn Thị Hường 60; Quan hệ: Khác; Quan hệ khác: Đã đăng ký kết hôn" in text
    assert f"Trang {pages}/{pages}" in text


def test_the_box_stays_free_wherever_the_answers_end(tmp_path: Path) -> None:
    """Answers ending just above the closing block, and just below it (which moves it to a new page)."""
    base = ApplicationData(
        title_vi="TỜ KHAI THỬ NGHIỆM",
        procedure_code="1.000000",
        agency_name="Ủy ban nhân dân phường Hoa Lư",
        sections=[],
        applicant_name="Nguyễn Thị Hường",
        place="Ninh Bình",
        created_at=NOW,
        dossier_ref=DOSSIER_REF,
    )
    page_counts = set()
    for count in (23, 24, 25, 26):
        rows = [(f"Câu hỏi số {i}", "Phường Hoàn Kiếm") for i in range(count)]
        pdf = render_application_pdf(replace(base, sections=[("Phần một", rows)]))
        page_counts.add(len(PdfReader(io.BytesIO(pdf)).pages))
        words = words_on_page(pdf, tmp_path, signature_page_index(pdf))
        bx1, by1, bx2, by2 = SIGNATURE_BOX
        assert all(x2 <= bx1 or x1 >= bx2 or y2 <= by1 or y1 >= by2 for _, x1, y1, x2, y2 in words), count
    assert page_counts == {1, 2}  # both sides of the page break were exercised


def test_a_very_long_answer_flows_over_pages(tmp_path: Path) -> None:
    long_answer = " ".join(f"Đoạn {i} của bản án Tòa án nhân dân quận Hoàn Kiếm." for i in range(400))
    app = ApplicationData(
        title_vi="TỜ KHAI THỬ NGHIỆM",
        procedure_code="1.000000",
        agency_name="Ủy ban nhân dân phường Hoa Lư",
        sections=[("Phần một", [("Giấy tờ chứng minh", long_answer)])],
        applicant_name="Nguyễn Thị Hường " * 8,  # wraps under the box
        place="",
        created_at=NOW,
        dossier_ref=DOSSIER_REF,
    )
    pdf = render_application_pdf(app)
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 3
    assert_signature_box_free(pdf, tmp_path)
    text = text_of(pdf, tmp_path)
    assert "Đoạn 0 của bản án" in text and "Đoạn 399 của bản án Tòa án nhân dân quận Hoàn Kiếm." in text
    assert "......, ngày 03 tháng 02 năm 2027" in text
    assert app.applicant_name.strip() in text  # shrunk to fit under the box, not cut


def test_same_input_same_bytes(marital: FormDefinition) -> None:
    app = build(marital, marital_data(marital))
    first = render_application_pdf(app)
    assert render_application_pdf(build(marital, marital_data(marital))) == first
    assert render_application_pdf(replace(app, created_at=datetime(2027, 2, 3, 2, 31, tzinfo=UTC))) != first


def test_same_bytes_in_another_process(marital: FormDefinition) -> None:
    """Nothing depends on hash seeds, the clock or random ids."""
    script = (
        "import hashlib, sys; from datetime import datetime, UTC; from pathlib import Path;"
        "from forms.definition import load_definition;"
        "from tests.signing.test_application_pdf import MARITAL_FORM, build, marital_data;"
        "from signing.application_pdf import render_application_pdf;"
        "d = load_definition(MARITAL_FORM);"
        "sys.stdout.write(hashlib.sha256(render_application_pdf(build(d, marital_data(d)))).hexdigest())"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)},
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert out == hashlib.sha256(render_application_pdf(build(marital, marital_data(marital)))).hexdigest()


def test_pdf_is_a_plain_a4_with_metadata_and_embedded_fonts(marital: FormDefinition, tmp_path: Path) -> None:
    pdf = render_application_pdf(build(marital, marital_data(marital)))
    reader = PdfReader(io.BytesIO(pdf))
    assert not reader.is_encrypted
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"
    assert meta.author == "Nguyễn Thị Hường"
    assert meta.creator == "Cổng Dịch vụ công"
    assert meta.creation_date == datetime(2027, 2, 3, 2, 30, tzinfo=UTC)
    contents = reader.pages[0]["/Contents"].get_object()
    assert contents is not None and contents["/Filter"] == "/FlateDecode"  # type: ignore[index]
    path = tmp_path / "application.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run([poppler("pdffonts"), str(path)], check=True, capture_output=True, text=True).stdout
    rows = fonts.strip().splitlines()[2:]
    assert rows
    for row in rows:
        assert "NotoSans" in row, row
        assert row.split()[-5:-2] == ["yes", "yes", "yes"], row  # embedded, subset, ToUnicode


def test_signature_page_index_needs_a_pdf() -> None:
    with pytest.raises(Exception):  # noqa: B017  (pypdf's own error for garbage)
        signature_page_index(b"not a pdf")
