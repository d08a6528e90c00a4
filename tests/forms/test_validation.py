"""Tests for forms.fields and forms.validation: every field type, show_if, groups and hostile input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pytest

from forms import fields
from forms.definition import FormDefinition, parse_definition
from forms.messages import Msg
from forms.validation import (
    StepResult,
    group_add_row,
    group_remove_row,
    validate_data,
    validate_field,
    validate_step,
    values_to_raw,
)

TODAY = date(2025, 8, 15)
L = "{vi: Nhãn, en: Label}"
DEFINITION = f"""\
id: test-form
version: 1
title: {L}
steps:
  - id: one
    title: {L}
    fields:
      - {{name: full_name, type: text, label: {L}, required: true, max_length: 20}}
      - {{name: bio, type: textarea, label: {L}}}
      - {{name: age, type: number, label: {L}, min: 0, max: 120, integer: true}}
      - {{name: height, type: number, label: {L}, min: 0.5, max: 2.5}}
      - {{name: birth_date, type: date, label: {L}, min: 1900-01-01, max: today}}
      - {{name: appointment, type: date, label: {L}, min: today, max: 2030-12-31}}
      - name: purpose
        type: select
        label: {L}
        required: true
        options:
          - {{value: work, label: {L}}}
          - {{value: other, label: {L}}}
      - name: purpose_other
        type: textarea
        label: {L}
        required: true
        show_if: {{field: purpose, equals: other}}
      - name: gender
        type: radio
        label: {L}
        options: [{{value: male, label: {L}}}, {{value: female, label: {L}}}]
      - name: languages
        type: checkbox
        label: {L}
        options: [{{value: vi, label: {L}}}, {{value: en, label: {L}}}, {{value: fr, label: {L}}}]
      - {{name: agree, type: checkbox, label: {L}, required: true}}
      - {{name: cccd, type: cccd, label: {L}, required: true}}
      - {{name: phone, type: phone, label: {L}}}
      - {{name: email, type: email, label: {L}}}
      - {{name: home, type: address, label: {L}, required: true}}
      - {{name: office, type: address, label: {L}}}
  - id: two
    title: {L}
    fields:
      - {{name: employer, type: text, label: {L}, required: true, show_if: {{field: purpose, equals: work}}}}
      - {{name: has_children, type: checkbox, label: {L}}}
      - name: children
        type: group
        label: {L}
        min_items: 1
        max_items: 3
        show_if: {{field: has_children, equals: true}}
        fields:
          - {{name: full_name, type: text, label: {L}, required: true}}
          - {{name: cccd, type: cccd, label: {L}}}
          - {{name: student, type: checkbox, label: {L}}}
          - {{name: school, type: text, label: {L}, required: true, show_if: {{field: student, equals: true}}}}
          - {{name: home, type: address, label: {L}}}
"""

GOOD_ONE: dict[str, list[str]] = {
    "full_name": ["  Nguyễn Văn An  "],
    "bio": ["Dòng 1\r\nDòng 2"],
    "age": ["35"],
    "height": ["1,72"],
    "birth_date": ["02/09/1990"],
    "appointment": ["2025-09-01"],
    "purpose": ["work"],
    "gender": ["male"],
    "languages": ["vi", "en", "vi"],
    "agree": ["on"],
    "cccd": ["001 090 012 345"],
    "phone": ["+84 912 345 678"],
    "email": ["An.Nguyen@Example.VN"],
    "home.province": ["01"],
    "home.ward": ["00070"],
    "home.street": ["12 Lý Thái Tổ"],
}


@pytest.fixture(scope="module")
def defn() -> FormDefinition:
    """The test form definition."""
    return parse_definition(DEFINITION, "test-form/v1.yaml")


def step(defn: FormDefinition, step_id: str, raw: Mapping[str, Any], **context: Any) -> StepResult:
    """Validate a step with a fixed 'today'."""
    return validate_step(defn, step_id, raw, context=context, today=TODAY)


def one(defn: FormDefinition, **changes: Any) -> StepResult:
    """Validate step one with the good input modified by ``changes`` (None removes a key)."""
    raw: dict[str, Any] = {**GOOD_ONE}
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value if isinstance(value, list) else [value]
    return step(defn, "one", raw)


def err(result: StepResult, path: str) -> str | None:
    """The msgid of the error at ``path``."""
    msg = result.errors.get(path)
    return msg.msgid if msg else None


def test_good_step_one(defn: FormDefinition) -> None:
    result = one(defn)
    assert result.errors == {} and result.ok
    assert result.values == {
        "full_name": "Nguyễn Văn An",
        "bio": "Dòng 1\nDòng 2",
        "age": 35,
        "height": 1.72,
        "birth_date": "1990-09-02",
        "appointment": "2025-09-01",
        "purpose": "work",
        "purpose_other": None,
        "gender": "male",
        "languages": ["vi", "en"],
        "agree": True,
        "cccd": "001090012345",
        "phone": "0912345678",
        "email": "An.Nguyen@example.vn",
        "home": {"province": "01", "ward": "00070", "street": "12 Lý Thái Tổ"},
        "office": None,
    }


def test_required_fields(defn: FormDefinition) -> None:
    result = step(defn, "one", {})
    assert err(result, "full_name") == "This field is required."
    assert err(result, "purpose") == "This field is required."
    assert err(result, "cccd") == "This field is required."
    assert err(result, "agree") == "You must tick this box to continue."
    assert err(result, "home.province") == "Select a province or city."
    assert err(result, "home.ward") == "Select a ward or commune."
    assert err(result, "home.street") == "Enter the house number and street name."
    for optional in ("bio", "age", "birth_date", "gender", "languages", "phone", "email", "office.province"):
        assert optional not in result.errors
    assert result.values["age"] is None and result.values["languages"] is None and result.values["agree"] is False
    assert result.values["office"] is None


def test_text(defn: FormDefinition) -> None:
    result = one(defn, full_name="A" * 21)
    assert result.errors["full_name"] == Msg("Enter no more than {max} characters.", {"max": 20})
    assert result.values["full_name"] == "A" * 21  # kept for redisplay
    assert one(defn, full_name=" \x00\x07 \u202e ").errors["full_name"].msgid == "This field is required."
    cleaned = one(defn, full_name="Le\x00\tVan\nB\u202e", bio="a\x01b\tc\n\x1bd")
    assert cleaned.values["full_name"] == "Le Van B" and cleaned.values["bio"] == "ab\tc\nd"
    decomposed = "Nguye\u0302\u0303n"  # NFD "Nguyễn"
    assert one(defn, full_name=decomposed).values["full_name"] == "Nguyễn"
    assert err(one(defn, bio="x" * 5001), "bio") == "Enter no more than {max} characters."


@pytest.mark.parametrize(
    ("age", "msgid"),
    [
        ("abc", "Enter a valid number."),
        ("NaN", "Enter a valid number."),
        ("inf", "Enter a valid number."),
        ("1e999", "Enter a valid number."),
        ("12abc", "Enter a valid number."),
        ("1.5", "Enter a whole number."),
        ("-1", "Enter a number no less than {min}."),
        ("121", "Enter a number no greater than {max}."),
        ("9" * 5000, "Enter a valid number."),
    ],
)
def test_number_errors(defn: FormDefinition, age: str, msgid: str) -> None:
    assert err(one(defn, age=age), "age") == msgid


def test_number_values(defn: FormDefinition) -> None:
    assert one(defn, age=" 42 ").values["age"] == 42
    assert one(defn, age="42.0").values["age"] == 42
    assert one(defn, height="2").values["height"] == 2.0
    assert one(defn, age="121").errors["age"].params == {"max": 120}
    assert one(defn, height="0.1").errors["height"].params == {"min": 0.5}
    assert one(defn, age="").values["age"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2000-02-29", "2000-02-29"),
        ("29/02/2000", "2000-02-29"),
        ("1/2/2003", "2003-02-01"),
        ("15/08/2025", "2025-08-15"),
    ],
)
def test_date_values(defn: FormDefinition, value: str, expected: str) -> None:
    result = one(defn, birth_date=value)
    assert result.errors == {} and result.values["birth_date"] == expected


@pytest.mark.parametrize(
    ("field", "value", "msgid"),
    [
        ("birth_date", "31/02/2020", "This date does not exist."),
        ("birth_date", "2021-02-29", "This date does not exist."),
        ("birth_date", "2020-13-01", "This date does not exist."),
        ("birth_date", "hôm qua", "Enter a valid date (DD/MM/YYYY)."),
        ("birth_date", "2020/01/01", "Enter a valid date (DD/MM/YYYY)."),
        ("birth_date", "1" * 10_000, "Enter a valid date (DD/MM/YYYY)."),
        ("birth_date", "16/08/2025", "The date cannot be in the future."),
        ("birth_date", "31/12/1899", "Enter a date on or after {min}."),
        ("appointment", "14/08/2025", "The date cannot be in the past."),
        ("appointment", "01/01/2031", "Enter a date on or before {max}."),
    ],
)
def test_date_errors(defn: FormDefinition, field: str, value: str, msgid: str) -> None:
    assert err(one(defn, **{field: value}), field) == msgid


def test_date_bound_params_and_today_default(defn: FormDefinition, monkeypatch: pytest.MonkeyPatch) -> None:
    assert one(defn, birth_date="31/12/1899").errors["birth_date"].params == {"min": "01/01/1900"}
    monkeypatch.setattr(fields, "today_vn", lambda: date(2000, 1, 1))
    result = validate_step(defn, "one", {**GOOD_ONE, "birth_date": ["02/01/2000"]})
    assert err(result, "birth_date") == "The date cannot be in the future."


def test_choices(defn: FormDefinition) -> None:
    assert err(one(defn, purpose="hack"), "purpose") == "Select a valid choice."
    assert err(one(defn, gender="<script>"), "gender") == "Select a valid choice."
    assert one(defn, gender="<script>").values["gender"] == "<script>"
    assert err(one(defn, languages=["vi", "xx"]), "languages") == "Select a valid choice."
    assert one(defn, languages=None).values["languages"] is None
    assert err(one(defn, agree="maybe"), "agree") == "Select a valid choice."
    assert one(defn, agree=["false", "true"]).values["agree"] is True  # hidden "false" + ticked box
    assert err(one(defn, agree=["false"]), "agree") == "You must tick this box to continue."


@pytest.mark.parametrize(
    ("value", "msgid"),
    [
        ("00109001234", "Enter a 12-digit citizen ID number (CCCD)."),  # 11 digits
        ("0010900123456", "Enter a 12-digit citizen ID number (CCCD)."),
        ("00109001234a", "Enter a 12-digit citizen ID number (CCCD)."),
        ("٠٠١٠٩٠٠١٢٣٤٥", "Enter a 12-digit citizen ID number (CCCD)."),  # non-ASCII digits
        ("099090012345", "The first three digits {prefix} are not a valid province code."),
        ("003090012345", "The first three digits {prefix} are not a valid province code."),
        ("1" * 100_000, "Enter a 12-digit citizen ID number (CCCD)."),
    ],
)
def test_cccd_errors(defn: FormDefinition, value: str, msgid: str) -> None:
    assert err(one(defn, cccd=value), "cccd") == msgid


def test_cccd_values(defn: FormDefinition) -> None:
    assert one(defn, cccd="099090012345").errors["cccd"].params == {"prefix": "099"}
    for value in ("079 2 03 012345", "096190012345", "\t001090012345 "):
        assert "cccd" not in one(defn, cccd=value).errors
    assert one(defn, cccd="079 2 03 012345").values["cccd"] == "079203012345"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0912345678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("+84 (0) 912-345-678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("0387-654-321", "0387654321"),
        ("070 123 4567", "0701234567"),
        ("024 3825 1234", "02438251234"),
        ("+84 24 3825 1234", "02438251234"),
    ],
)
def test_phone_normalisation(defn: FormDefinition, value: str, expected: str) -> None:
    result = one(defn, phone=value)
    assert result.errors == {} and result.values["phone"] == expected


@pytest.mark.parametrize("value", ["0123456789", "091234567", "09123456789", "1912345678", "phone", "+1 202 555 0100"])
def test_phone_errors(defn: FormDefinition, value: str) -> None:
    assert err(one(defn, phone=value), "phone") == "Enter a valid Vietnamese phone number, e.g. 0912345678."


@pytest.mark.parametrize(
    "value", ["no-at.vn", "a@b", "a@@b.vn", "a b@c.vn", "a@b..vn", "@b.vn", "a@.vn", "x" * 250 + "@b.vn", "a@b\n.vn"]
)
def test_email_errors(defn: FormDefinition, value: str) -> None:
    assert err(one(defn, email=value), "email") == "Enter a valid email address."


def test_email_trimmed(defn: FormDefinition) -> None:
    result = one(defn, email=" an@mail.gov.vn\n")
    assert result.errors == {} and result.values["email"] == "an@mail.gov.vn"


def test_hostile_shapes_never_raise(defn: FormDefinition) -> None:
    raw: dict[Any, Any] = {
        "full_name": "not a list",  # bare string instead of a list
        "age": [5, "x"],  # non-string first value
        "bio": [b"bytes \xff"],
        "height": [None],
        "birth_date": [{"a": 1}],
        "gender": [["nested"]],
        "cccd": [],
        "languages": ["vi"] * 10_000,
        "home.province": ["../../etc"],
        "home.ward": ["🙂" * 1000],
        "home.street": ["x" * 1_000_000],
        "purpose": ["work", "other"],  # first one wins
        42: ["int key"],
    }
    result = step(defn, "one", raw)  # how long it takes is for bench/, not a timed assertion here
    assert result.values["full_name"] == "not a list"
    assert result.values["age"] == 5
    assert result.values["bio"] == "bytes \ufffd"
    assert result.values["languages"] == ["vi"]
    assert result.values["purpose"] == "work"
    assert err(result, "cccd") == "This field is required."
    assert err(result, "home.province") == "The selected province or city does not exist."
    assert err(result, "home.ward") == "The selected ward or commune does not exist."
    assert err(result, "home.street") == "Enter no more than {max} characters."
    assert all(isinstance(m, Msg) for m in result.errors.values())


def test_show_if_same_step(defn: FormDefinition) -> None:
    hidden = one(defn, purpose="work", purpose_other="ignored")
    assert hidden.values["purpose_other"] is None and "purpose_other" not in hidden.errors
    shown = one(defn, purpose="other")
    assert err(shown, "purpose_other") == "This field is required."
    assert one(defn, purpose="other", purpose_other="Du học").values["purpose_other"] == "Du học"


def test_show_if_across_steps_via_context(defn: FormDefinition) -> None:
    result = step(defn, "two", {}, purpose="work")
    assert err(result, "employer") == "This field is required."
    result = step(defn, "two", {"employer": ["Công ty A"]}, purpose="other")
    assert result.errors == {} and result.values["employer"] is None
    assert step(defn, "two", {}).values["employer"] is None  # no context: target unknown, hidden


def children_raw(**extra: Any) -> dict[str, list[str]]:
    """Step two input with two children rows."""
    raw = {
        "has_children": ["true"],
        "children.count": ["2"],
        "children.0.full_name": ["Nguyễn Văn Bình"],
        "children.0.cccd": ["001209012345"],
        "children.0.home.province": ["79"],
        "children.0.home.ward": ["00070"],  # a Hà Nội ward
        "children.0.home.street": ["1 Lê Lợi"],
        "children.1.full_name": [""],
        "children.1.student": ["on"],
        "children.1.cccd": ["12"],
    }
    raw.update({k.replace("__", "."): v for k, v in extra.items()})
    return raw


def test_group_rows_and_error_keys(defn: FormDefinition) -> None:
    result = step(defn, "two", children_raw())
    assert err(result, "children.0.home.ward") == (
        "The selected ward or commune does not belong to the selected province or city."
    )
    assert err(result, "children.1.full_name") == "This field is required."
    assert err(result, "children.1.school") == "This field is required."  # sibling show_if
    assert err(result, "children.1.cccd") == "Enter a 12-digit citizen ID number (CCCD)."
    assert "children.0.school" not in result.errors
    rows = result.values["children"]
    assert len(rows) == 2
    assert rows[0]["full_name"] == "Nguyễn Văn Bình" and rows[0]["cccd"] == "001209012345"
    assert rows[0]["student"] is False and rows[0]["school"] is None
    assert rows[1]["student"] is True and rows[1]["home"] is None


def test_group_min_max_and_counts(defn: FormDefinition) -> None:
    too_few = step(defn, "two", {"has_children": ["on"], "children.count": ["0"]})
    assert too_few.errors == {"children": Msg("The minimum number of entries is {min}.", {"min": 1})}
    assert too_few.values["children"] == []
    raw = {"has_children": ["on"], "children.count": ["5"]}
    raw.update({f"children.{i}.full_name": [f"Con {i}"] for i in range(5)})
    too_many = step(defn, "two", raw)
    assert too_many.errors == {"children": Msg("The maximum number of entries is {max}.", {"max": 3})}
    assert [r["full_name"] for r in too_many.values["children"]] == ["Con 0", "Con 1", "Con 2"]
    huge = step(defn, "two", {"has_children": ["on"], "children.count": ["999999"]})
    assert len(huge.values["children"]) == 3 and "children" in huge.errors


def test_group_count_inferred(defn: FormDefinition) -> None:
    raw = {"has_children": ["on"], "children.2.full_name": ["C"], "children.count": ["lots"]}
    result = step(defn, "two", raw)
    assert len(result.values["children"]) == 3
    assert err(result, "children.0.full_name") == "This field is required."
    assert "children.2.full_name" not in result.errors
    far = step(defn, "two", {"has_children": ["on"], "children.99999999.full_name": ["x"]})
    assert far.values["children"] == [] and "children" in far.errors  # index too large to be a row


def test_hidden_group_is_dropped(defn: FormDefinition) -> None:
    result = step(defn, "two", {k: v for k, v in children_raw().items() if k != "has_children"})
    assert result.values["children"] is None and result.errors == {}


def test_address(defn: FormDefinition) -> None:
    other = one(defn, home__province="79")
    assert err(other, "home.ward") == "The selected ward or commune does not belong to the selected province or city."
    assert other.values["home"]["province"] == "79"  # raw kept for redisplay
    assert one(defn, home__province="1").values["home"]["province"] == "01"
    optional = one(defn, office__street="5 Hàng Bài")
    assert err(optional, "office.province") == "Select a province or city."
    assert err(optional, "office.ward") == "Select a ward or commune."
    fine = one(defn, office__province="01", office__ward="00070")
    assert fine.errors == {} and fine.values["office"] == {"province": "01", "ward": "00070", "street": ""}


def test_validate_field(defn: FormDefinition) -> None:
    ctx = {"purpose": "work"}
    assert validate_field(defn, "cccd", {"cccd": ["123"]}, context=ctx) == Msg(
        "Enter a 12-digit citizen ID number (CCCD)."
    )
    assert validate_field(defn, "cccd", {"cccd": ["001090012345"]}) is None
    raw = {"home.province": ["79"], "home.ward": ["00070"]}
    assert validate_field(defn, "home.ward", raw) is not None
    assert validate_field(defn, "children.1.full_name", children_raw()) == Msg("This field is required.")
    assert validate_field(defn, "purpose_other", {"purpose": ["work"]}) is None
    assert validate_field(defn, "employer", {}, context=ctx) == Msg("This field is required.")
    assert validate_field(defn, "nope", {}) == Msg("Unknown field.")
    assert validate_field(defn, "children.0.nope", {}) == Msg("Unknown field.")


def stored(defn: FormDefinition) -> dict[str, Any]:
    """Merged canonical data of both steps."""
    data = dict(one(defn).values)
    data.update(step(defn, "two", {"employer": ["Công ty A"]}, **data).values)
    return data


def test_validate_data(defn: FormDefinition) -> None:
    data = stored(defn)
    assert validate_data(defn, data, today=TODAY) == {}
    assert validate_data(defn, {**data, "employer": None}, today=TODAY) == {"employer": Msg("This field is required.")}
    assert validate_data(defn, {**data, "purpose": "other", "employer": None}, today=TODAY) == {
        "purpose_other": Msg("This field is required.")
    }
    tampered = {**data, "cccd": "099090012345", "age": 500, "home": {"province": "79", "ward": "00070"}}
    errors = validate_data(defn, tampered, today=TODAY)
    assert set(errors) == {"cccd", "age", "home.ward", "home.street"}
    with_children = {**data, "has_children": True, "children": [{"full_name": None, "student": True}]}
    errors = validate_data(defn, with_children, today=TODAY)
    assert set(errors) == {"children.0.full_name", "children.0.school"}
    assert validate_data(defn, {**data, "has_children": True, "children": []}, today=TODAY) == {
        "children": Msg("The minimum number of entries is {min}.", {"min": 1})
    }
    assert "full_name" in validate_data(defn, {}, today=TODAY)


def test_values_to_raw_round_trip(defn: FormDefinition) -> None:
    values = one(defn).values
    raw = values_to_raw(defn.step("one").fields, values)
    assert raw["home.ward"] == ["00070"] and raw["agree"] == ["true"] and raw["languages"] == ["vi", "en"]
    assert step(defn, "one", raw).values == values


def test_group_row_helpers(defn: FormDefinition) -> None:
    group = defn.find_field("children")
    values: dict[str, Any] = {"children": None, "employer": "A"}
    values = group_add_row(values, group)
    assert values["children"] == [{"full_name": None, "cccd": None, "student": None, "school": None, "home": None}]
    for _ in range(5):
        values = group_add_row(values, group)
    assert len(values["children"]) == 3  # max_items
    values = group_remove_row(values, group, 1)
    assert len(values["children"]) == 2 and values["employer"] == "A"
    assert group_remove_row(values, group, 7) == values


def test_unknown_step_raises_key_error(defn: FormDefinition) -> None:
    with pytest.raises(KeyError):
        validate_step(defn, "three", {})


def test_msg_format() -> None:
    msg = Msg("Enter a number no greater than {max}.", {"max": 10})
    assert str(msg) == "Enter a number no greater than 10."
    assert msg.format(lambda s: "Nhập số không lớn hơn {max}.") == "Nhập số không lớn hơn 10."
    assert Msg("Broken {x}").format() == "Broken {x}"


def test_clean_value_helpers_directly() -> None:
    assert fields.normalize_phone("0084 912 345 678") == "0912345678"
    assert fields.normalize_phone("x" * 1000) is None
    assert fields.clean_email("  a@b.vn ") == ("a@b.vn", None)
    assert fields.clean_number("", min=1) == (None, None)
    raw_values: Sequence[str] = ["1", "2"]
    assert fields.clean_multi(raw_values, ["1", "2"]) == (["1", "2"], None)
