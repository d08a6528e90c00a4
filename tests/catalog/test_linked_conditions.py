"""`also` on a show_if condition (an AND), as the composed form of a linked entry gates a member's own
conditions: definition checks, validation order, and the attributes and hint the form template renders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from forms.definition import Condition, FormDefinition, FormDefinitionError, parse_definition
from forms.validation import validate_data, validate_step, visible_fields

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

FORM = """\
id: also-test
version: 1
title: {vi: "Thử", en: "Test"}
steps:
  - id: one
    title: {vi: "Một", en: "One"}
    fields:
      # `note` comes before the fields its conditions read: validation must decide them first.
      - name: note
        type: text
        label: {vi: "Ghi chú", en: "Note"}
        required: true
        show_if: {field: members, equals: "A", also: {field: consent, equals: true}}
      - name: members
        type: checkbox
        label: {vi: "Thủ tục", en: "Procedures"}
        options:
          - {value: "A", label: {vi: "Thủ tục A", en: "Procedure A"}}
          - {value: "B", label: {vi: "Thủ tục B", en: "Procedure B"}}
      - name: consent
        type: checkbox
        label: {vi: "Đồng ý", en: "I agree"}
        show_if: {field: members, in: ["A", "B"]}
"""


@pytest.fixture()
def defn() -> FormDefinition:
    return parse_definition(FORM, "also-test.yaml")


def _error(text: str) -> str:
    with pytest.raises(FormDefinitionError) as err:
        parse_definition(text, "bad.yaml")
    return str(err.value)


def test_also_is_parsed_and_holds_only_with_both(defn: FormDefinition) -> None:
    cond = defn.find_field("note").show_if
    assert cond is not None and cond.fields == ["members", "consent"]
    assert cond.holds({"members": ["A"], "consent": True})
    assert not cond.holds({"members": ["A"], "consent": False})
    assert not cond.holds({"members": ["B"], "consent": True})
    assert Condition.model_validate(cond.model_dump(by_alias=True)) == cond


def test_a_condition_without_also_is_stored_as_before() -> None:
    assert Condition(field="x", equals="y").model_dump(by_alias=True) == {"field": "x", "equals": "y", "in": None}


def test_also_targets_are_checked_with_line() -> None:
    bad = FORM.replace("also: {field: consent, equals: true}", "also: {field: nope, equals: true}")
    message = _error(bad)
    assert "bad.yaml:13:" in message and "show_if refers to unknown field 'nope'" in message
    bad = FORM.replace("also: {field: consent, equals: true}", "also: {field: consent, equals: maybe}")
    assert "'maybe' is not a value of field 'consent'" in _error(bad)
    bad = FORM.replace("also: {field: consent, equals: true}", "also: {field: note, equals: x}")
    assert "show_if cannot refer to the field itself" in _error(bad)


def test_a_cycle_through_also_is_refused() -> None:
    bad = FORM.replace(
        'show_if: {field: members, in: ["A", "B"]}',
        'show_if: {field: members, in: ["A"], also: {field: note, equals: x}}',
    )
    assert "show_if conditions form a cycle" in _error(bad)


def test_validation_decides_the_also_target_first(defn: FormDefinition) -> None:
    assert validate_data(defn, {"members": ["A"]}) == {}
    assert "note" in validate_data(defn, {"members": ["A"], "consent": True})
    assert validate_data(defn, {"members": ["B"], "consent": True}) == {}
    # `consent` is hidden without A or B: a stale True does not show `note`.
    assert validate_data(defn, {"members": [], "consent": True}) == {}
    result = validate_step(defn, "one", {"members": ["A"], "consent": ["true"], "note": ["ok"]})
    assert result.ok and result.values["note"] == "ok"
    result = validate_step(defn, "one", {"members": ["B"], "consent": ["true"], "note": ["stale"]})
    assert result.ok and result.values["note"] is None
    shown, _ = visible_fields(defn.all_fields(), {"members": ["A"], "consent": True})
    assert shown == {"note", "members", "consent"}


def _render(defn: FormDefinition, name: str, values: dict[str, Any]) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.globals.update(
        _=lambda text, *args, **kw: Markup(text).format(**kw),
        t=SimpleNamespace(text=lambda x: getattr(x, "en", x)),
        field_index={f.name: f for f in defn.all_fields()},
        msg=lambda m: "",
        url_for=lambda *a, **kw: "/validate",
    )
    module = env.get_template("forms/fields.html").make_module()
    field = defn.find_field(name)
    return str(module.render_field(field, name, values.get(name), {}, SimpleNamespace(id="d1"), values))  # type: ignore[attr-defined]


def test_template_renders_both_conditions_for_the_script(defn: FormDefinition) -> None:
    html = _render(defn, "note", {"members": ["A"], "consent": False})
    wrap = re.search(r'<div class="field[^>]*id="f-note-wrap"[^>]*>', html)
    assert wrap is not None
    tag = wrap.group(0)
    assert 'data-show-if="members"' in tag and 'data-show-values="A"' in tag
    also = re.search(r"data-show-also='([^']*)'", tag)
    assert also is not None and json.loads(also.group(1)) == [["consent", ["true"]]]
    assert 'data-initially="hidden"' in tag  # the server decides without JavaScript
    # Without JavaScript the hint names both answers.
    assert "Answer only if you chose “Procedure A” for “Procedures”." in html
    assert "And only if you chose “Yes” for “I agree”." in html
    shown = _render(defn, "note", {"members": ["A"], "consent": True})
    assert 'data-initially="shown"' in shown


def test_template_without_also_is_unchanged(defn: FormDefinition) -> None:
    html = _render(defn, "consent", {"members": ["B"]})
    assert 'data-show-if="members" data-show-values="A|B"' in html and "data-show-also" not in html
    assert "And only if" not in html


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.e2e
def test_the_script_shows_the_field_only_when_both_conditions_hold(defn: FormDefinition) -> None:
    from playwright.sync_api import sync_playwright

    fields = "".join(_render(defn, name, {}) for name in ("note", "members", "consent"))
    script = (TEMPLATES.parent / "static" / "js" / "portal.js").read_text(encoding="utf-8")
    page_html = f'<form class="dossier-form">{fields}</form>'
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            page.set_content(page_html)
            page.add_script_tag(content=script)
            page.evaluate("document.dispatchEvent(new Event('DOMContentLoaded'))")
            note = page.locator("#f-note-wrap")
            page.locator("#f-members-1").check()
            assert note.is_hidden()  # A without the consent
            page.locator("#f-consent-box").check()
            assert note.is_visible()  # A and the consent
            page.locator("#f-members-1").uncheck()
            page.locator("#f-members-2").check()
            assert note.is_hidden()  # B and the consent: not A
        finally:
            browser.close()
