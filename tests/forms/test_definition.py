"""Tests for forms.definition: models, YAML loading and located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from forms.definition import (
    Condition,
    FieldType,
    FormDefinition,
    FormDefinitionError,
    LocalText,
    load_all_definitions,
    load_definition,
    parse_definition,
)

GOOD = """\
id: ly-lich-tu-phap
version: 1
title: {vi: "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", en: "Application for a judicial record certificate"}
steps:
  - id: applicant
    title: {vi: "Người yêu cầu", en: "Applicant"}
    fields:
      - name: full_name
        type: text
        label: {vi: "Họ và tên", en: "Full name"}
        required: true
        max_length: 100
        help: {vi: "Ghi chữ in hoa", en: "In capitals"}
        prefill: full_name
      - name: birth_date
        type: date
        label: {vi: "Ngày sinh", en: "Date of birth"}
        min: 1900-01-01
        max: today
      - name: purpose
        type: select
        options:
          - {value: work, label: {vi: "Xin việc", en: "Employment"}}
          - {value: other, label: {vi: "Khác", en: "Other"}}
        label: {vi: "Mục đích", en: "Purpose"}
  - id: details
    title: {vi: "Chi tiết", en: "Details"}
    fields:
      - name: purpose_other
        type: textarea
        label: {vi: "Mục đích khác", en: "Other purpose"}
        required: true
        show_if: {field: purpose, equals: other}
      - name: agree
        type: checkbox
        label: {vi: "Cam đoan", en: "I declare"}
      - name: children
        type: group
        label: {vi: "Con", en: "Children"}
        max_items: 10
        fields:
          - name: full_name
            type: text
            label: {vi: "Họ và tên", en: "Full name"}
          - name: note
            type: text
            label: {vi: "Ghi chú", en: "Note"}
            show_if: {field: agree, equals: true}
"""


AB = "{vi: a, en: b}"
X_FIELD = "{name: x, type: text, label: {vi: a, en: b}}"
OPT_A = "{value: a, label: {vi: a, en: b}}"
TEXT_FOO = "- name: foo\n  type: text\n  label: {vi: a, en: b}\n"


def parse(text: str) -> FormDefinition:
    """Parse a dedented inline definition."""
    return parse_definition(textwrap.dedent(text), "test.yaml")


def error_of(text: str) -> FormDefinitionError:
    """Parse and return the expected FormDefinitionError."""
    with pytest.raises(FormDefinitionError) as info:
        parse(text)
    return info.value


def with_field(field_yaml: str, extra: str = "") -> str:
    """A one-step definition with the given field(s) appended after a `purpose` select."""
    return (
        "id: f\nversion: 1\ntitle: {vi: a, en: b}\nsteps:\n  - id: s\n    title: {vi: a, en: b}\n    fields:\n"
        "      - name: purpose\n        type: select\n        label: {vi: a, en: b}\n"
        "        options: [{value: x, label: {vi: a, en: b}}]\n"
        + textwrap.indent(textwrap.dedent(field_yaml), "      ")
        + extra
    )


def test_good_definition_parses() -> None:
    defn = parse(GOOD)
    assert defn.id == "ly-lich-tu-phap" and defn.version == 1
    assert defn.step_ids == ["applicant", "details"]
    assert defn.next_step("applicant") == "details" and defn.next_step("details") is None
    assert defn.prev_step("details") == "applicant" and defn.prev_step("applicant") is None
    field = defn.find_field("full_name")
    assert field.type is FieldType.TEXT and field.required and field.max_length == 100
    assert field.label.get("en") == "Full name" and field.label.get("vi") == "Họ và tên"
    assert field.prefill == "full_name"
    assert defn.find_field("birth_date").min == "1900-01-01"  # YAML dates stay ISO strings
    assert defn.find_field("birth_date").max == "today"
    assert defn.find_field("children.3.full_name").name == "full_name"
    assert defn.step_of("children.0.note").id == "details"
    cond = defn.find_field("purpose_other").show_if
    assert cond is not None and cond.equals == "other"
    note_cond = defn.find_field("children.note").show_if
    assert note_cond is not None and note_cond.equals == "true"  # YAML boolean coerced to text


def test_lookup_errors() -> None:
    defn = parse(GOOD)
    with pytest.raises(KeyError):
        defn.step("nope")
    with pytest.raises(KeyError):
        defn.next_step("nope")
    for path in ("nope", "children.nope", "full_name.x", ""):
        with pytest.raises(KeyError):
            defn.find_field(path)


def test_localtext_fallback() -> None:
    text = LocalText(vi="Xin chào", en="Hello")
    assert text.get("en_US") == "Hello"
    assert text.get("vi") == "Xin chào"
    assert text.get("fr") == "Xin chào"


def test_condition_holds() -> None:
    cond = Condition.model_validate({"field": "a", "in": ["x", "y"]})
    assert cond.holds({"a": "x"}) and not cond.holds({"a": "z"}) and not cond.holds({})
    assert cond.holds({"a": ["z", "y"]}) and not cond.holds({"a": []})
    boolean = Condition.model_validate({"field": "a", "equals": True})
    assert boolean.holds({"a": True}) and not boolean.holds({"a": False}) and not boolean.holds({"a": None})
    number = Condition.model_validate({"field": "a", "equals": 2})
    assert number.holds({"a": 2}) and number.holds({"a": 2.0})


def test_models_are_frozen() -> None:
    defn = parse(GOOD)
    with pytest.raises(ValueError):
        defn.steps[0].fields[0].required = False


def test_unknown_field_type_reports_file_and_line() -> None:
    err = error_of(with_field("- name: foo\n  type: texta\n  label: {vi: a, en: b}\n"))
    assert err.source == "test.yaml"
    assert err.line == 13
    assert "unknown field type 'texta'" in err.message
    assert str(err).startswith("test.yaml:13: ")


def test_yaml_syntax_error() -> None:
    err = error_of("id: x\nversion: 1\ntitle: {vi: a, en: b\nsteps: []\n")
    assert err.line is not None and err.line >= 3
    assert "YAML syntax error" in err.message


def test_missing_label_points_at_field() -> None:
    err = error_of(with_field("- name: foo\n  type: text\n"))
    assert err.line == 12 and "label" in err.message


def test_blank_label_rejected() -> None:
    err = error_of(with_field("- name: foo\n  type: text\n  label: {vi: '', en: b}\n"))
    assert err.line == 14


def test_duplicate_names() -> None:
    err = error_of(with_field("- name: purpose\n  type: text\n  label: {vi: a, en: b}\n"))
    assert err.line == 12 and "duplicate field name 'purpose'" in err.message
    second = textwrap.dedent(GOOD).replace("name: purpose_other", "name: full_name")
    err = error_of(second)
    assert "duplicate field name 'full_name'" in err.message and err.line == 29


def test_group_subfield_may_reuse_top_level_name_but_not_sibling() -> None:
    parse(GOOD)  # children.full_name coexists with the top-level full_name
    err = error_of(GOOD.replace("name: note", "name: full_name"))
    assert "in group 'children'" in err.message and err.line == 45


def test_duplicate_yaml_key() -> None:
    err = error_of(with_field("- name: foo\n  type: text\n  type: number\n  label: {vi: a, en: b}\n"))
    assert err.line == 14 and "duplicate key" in err.message


def test_unknown_key() -> None:
    err = error_of(with_field("- name: foo\n  type: text\n  label: {vi: a, en: b}\n  colour: red\n"))
    assert err.line == 15 and "unknown key 'colour'" in err.message


def test_select_without_options() -> None:
    err = error_of(with_field("- name: foo\n  type: radio\n  label: {vi: a, en: b}\n"))
    assert err.line == 12 and "needs 'options'" in err.message


def test_unknown_show_if_target() -> None:
    err = error_of(with_field(TEXT_FOO + "  show_if: {field: nope, equals: x}\n"))
    assert err.line == 15 and "unknown field 'nope'" in err.message


def test_show_if_value_must_be_an_option() -> None:
    err = error_of(with_field(TEXT_FOO + "  show_if: {field: purpose, in: [y]}\n"))
    assert "'y' is not a value" in err.message


def test_show_if_needs_exactly_one_operator() -> None:
    err = error_of(with_field("- name: foo\n  type: text\n  label: {vi: a, en: b}\n  show_if: {field: purpose}\n"))
    assert err.line == 15 and "exactly one" in err.message


def test_show_if_cycle() -> None:
    fields = """\
    - name: a
      type: checkbox
      label: {vi: a, en: b}
      show_if: {field: b, equals: true}
    - name: b
      type: checkbox
      label: {vi: a, en: b}
      show_if: {field: a, equals: true}
    """
    assert "cycle" in error_of(with_field(fields)).message


def test_nested_group() -> None:
    fields = """\
    - name: g
      type: group
      label: {vi: a, en: b}
      fields:
        - name: inner
          type: group
          label: {vi: a, en: b}
          fields:
            - {name: x, type: text, label: {vi: a, en: b}}
    """
    err = error_of(with_field(fields))
    assert err.line == 17 and "nested groups" in err.message


@pytest.mark.parametrize(
    ("snippet", "fragment"),
    [
        ("- {name: n, type: number, label: {vi: a, en: b}, min: 10, max: 1}", "greater than"),
        ("- {name: n, type: number, label: {vi: a, en: b}, min: ten}", "must be a number"),
        ("- {name: d, type: date, label: {vi: a, en: b}, max: tomorrow}", "ISO date"),
        ("- {name: d, type: date, label: {vi: a, en: b}, min: 2020-02-30}", "ISO date"),
        ("- {name: d, type: date, label: {vi: a, en: b}, min: 2021-01-01, max: 2020-01-01}", "after"),
        ("- {name: t, type: text, label: {vi: a, en: b}, min: 1}", "not allowed on text"),
        ("- {name: t, type: email, label: {vi: a, en: b}, max_length: 10}", "not allowed on email"),
        ("- {name: t, type: text, label: {vi: a, en: b}, max_length: 0}", "between"),
        ("- {name: t, type: text, label: {vi: a, en: b}, prefill: salary}", "unknown prefill"),
        ("- {name: t, type: text, label: {vi: a, en: b}, options: [{value: a, label: {vi: a, en: b}}]}", "not allowed"),
        ("- {name: g, type: group, label: {vi: a, en: b}, fields: []}", "at least one field"),
        (f"- {{name: g, type: group, label: {AB}, min_items: 5, max_items: 2, fields: [{X_FIELD}]}}", "min_items"),
        ("- {name: Bad, type: text, label: {vi: a, en: b}}", "pattern"),
        ("- {name: c, type: checkbox, label: {vi: a, en: b}, required: maybe}", "boolean"),
        (f"- {{name: r, type: radio, label: {AB}, options: [{OPT_A}, {OPT_A}]}}", "duplicate option"),
    ],
)
def test_bad_field_attributes(snippet: str, fragment: str) -> None:
    err = error_of(with_field(snippet + "\n"))
    assert fragment in err.message
    assert err.line == 12


def test_empty_and_non_mapping_documents() -> None:
    assert error_of("").line == 1
    assert "mapping" in error_of("- a\n- b\n").message
    with pytest.raises(FormDefinitionError):
        parse("id: x\n---\nid: y\n")


def test_load_definition_and_all(tmp_path: Path) -> None:
    (tmp_path / "ly-lich-tu-phap").mkdir()
    (tmp_path / "ly-lich-tu-phap" / "v1.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "ly-lich-tu-phap" / "v2.yaml").write_text(GOOD.replace("version: 1", "version: 2"), encoding="utf-8")
    (tmp_path / "ly-lich-tu-phap" / "README.md").write_text("notes", encoding="utf-8")
    loaded = load_all_definitions(tmp_path)
    assert sorted(loaded) == [("ly-lich-tu-phap", 1), ("ly-lich-tu-phap", 2)]
    assert load_definition(tmp_path / "ly-lich-tu-phap" / "v1.yaml") == loaded[("ly-lich-tu-phap", 1)]


def test_load_all_checks_id_and_version(tmp_path: Path) -> None:
    (tmp_path / "other-form").mkdir()
    path = tmp_path / "other-form" / "v1.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(FormDefinitionError) as info:
        load_all_definitions(tmp_path)
    assert info.value.source == str(path) and info.value.line == 1 and "directory" in info.value.message
    path.unlink()
    (tmp_path / "other-form" / "v3.yaml").write_text(GOOD.replace("ly-lich-tu-phap", "other-form"), encoding="utf-8")
    with pytest.raises(FormDefinitionError) as info:
        load_all_definitions(tmp_path)
    assert info.value.line == 2 and "version" in info.value.message


def test_load_all_rejects_badly_named_files(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "version1.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(FormDefinitionError, match=r"v<N>\.yaml"):
        load_all_definitions(tmp_path)


def test_load_definition_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FormDefinitionError) as info:
        load_definition(tmp_path / "nope.yaml")
    assert info.value.line is None


def test_dump_round_trip() -> None:
    defn = parse(GOOD)
    data = defn.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert FormDefinition.model_validate(data) == defn
