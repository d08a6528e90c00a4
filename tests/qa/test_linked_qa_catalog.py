"""QA (issue 15): a clumsy catalogue editor. Linked entries of the wrong shape (a member that is a string, lists
where mappings go, numbers where codes go, a member twice, no member, dependencies that are not a list, a
three-member cycle, conflicting member forms) are refused with a CatalogError naming the file and what is wrong,
never a TypeError; and `portal catalog load` says so and exits non-zero, without a traceback."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from portal.catalog import loader
from tests.catalog.linked_helpers import BHYT, KS, TT, edit, fixture_tree, refused

pytestmark = pytest.mark.db

LINKED_FILE = ("procedures", "fx-lien-thong.yaml")
FIRST = '  - procedure: "9.000001"\n'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("members:\n" + FIRST, 'members:\n  - "9.000001"\n', "member"),
        ("members:\n" + FIRST, "members:\n  - procedure: 9000001\n", "9000001"),
        ("members:\n" + FIRST, "members:\n  - procedure: null\n", "procedure"),
        ("members:\n" + FIRST, 'members:\n  - procedure: ["9.000001"]\n', "procedure"),
        ("members:\n" + FIRST, "members:\n" + FIRST + FIRST, "9.000001"),
        (
            'depends_on: ["9.000001"]\n    from_result: {giay_khai_sinh: "9.000001"}\n    optional: {vi: "Đăng',
            'depends_on: "9.000001"\n    from_result: {giay_khai_sinh: "9.000001"}\n    optional: {vi: "Đăng',
            "depends_on",
        ),
        (
            'from_result: {giay_khai_sinh: "9.000001"}\n    optional: {vi: "Đăng',
            'from_result: ["giay_khai_sinh"]\n    optional: {vi: "Đăng',
            "from_result",
        ),
        ("fields: {ho_ten: full_name}", "fields: [ho_ten]", "fields"),
        ("fields: {ho_ten: full_name}", "fields: {ho_ten: 7}", "fields"),
        ("components: {to_khai_thay_doi: to_khai}", "components: to_khai", "components"),
        (
            'optional: {vi: "Đăng ký thường trú cho trẻ", en: "Register the child\'s permanent residence"}',
            "optional: true",
            "optional",
        ),
        ("delivery: [online, centre]", "delivery: online", "delivery"),
        ("form: {id: fx-lien-thong, version: 1}", "form: fx-lien-thong", "form"),
        ("kind: linked", "kind: [linked]", "kind"),
    ],
)
def test_malformed_linked_entries_are_a_catalog_error(
    db: Session, tmp_path: Path, old: str, new: str, expected: str
) -> None:
    root = fixture_tree(tmp_path)
    edit(root.joinpath(*LINKED_FILE), old, new)
    message = refused(db, root)
    assert "fx-lien-thong.yaml" in message and expected in message, message


def test_no_member_at_all_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    path = root.joinpath(*LINKED_FILE)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.split("members:", 1)[0] + "members: []\n", encoding="utf-8")
    assert "members" in refused(db, root)


def test_a_three_member_cycle_is_named_as_a_path(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    path = root.joinpath(*LINKED_FILE)
    edit(path, FIRST, f'  - procedure: "{KS}"\n    depends_on: ["{BHYT}"]\n')
    # BHYT already depends on KS; TT depends on KS: make BHYT depend on TT instead, and KS on BHYT.
    text = path.read_text(encoding="utf-8")
    head, bhyt = text.rsplit(f'  - procedure: "{BHYT}"\n    depends_on: ["{KS}"]\n', 1)
    path.write_text(head + f'  - procedure: "{BHYT}"\n    depends_on: ["{TT}", "{KS}"]\n' + bhyt, encoding="utf-8")
    message = refused(db, root)
    assert "cycle" in message and "→" in message, message


def _cli(monkeypatch: pytest.MonkeyPatch, settings: Any, root: Path) -> Any:
    """`portal catalog load` on the catalogue at `root` and the tests' database."""
    from portal import cli

    monkeypatch.setattr(
        loader, "load_catalog", functools.partial(loader.load_catalog, data_dir=root, forms_dir=root / "forms")
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return CliRunner().invoke(cli.main, ["catalog", "load"])


def test_the_command_refuses_a_conflict_and_a_cycle_with_the_message_and_a_non_zero_exit(
    monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    conflict = fixture_tree(tmp_path / "conflict")
    forms = conflict / "forms"
    # The residence member's form asks `child_name` (shared with the birth form's) as a date.
    edit(forms / "fx-tt" / "v1.yaml", "{name: child_name, type: text,", "{name: child_name, type: date,")
    cycle = fixture_tree(tmp_path / "cycle")
    edit(cycle.joinpath(*LINKED_FILE), FIRST, f'  - procedure: "{KS}"\n    depends_on: ["{TT}"]\n')
    for root, words in ((conflict, ("conflict",)), (cycle, ("cycle", "→"))):
        result = _cli(monkeypatch, settings, root)
        assert result.exit_code == 2, (result.output, repr(result.exception))  # the command's own refusal
        assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
        assert "Traceback" not in result.output
        assert "catalogue error" in result.output and all(w in result.output for w in words), result.output
        assert "fx-lien-thong.yaml" in result.output


def test_the_command_refuses_a_file_that_is_not_yaml_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    root = fixture_tree(tmp_path)
    edit(root.joinpath(*LINKED_FILE), "members:\n", "members: [\n")  # an unclosed flow sequence
    result = _cli(monkeypatch, settings, root)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.output, repr(result.exception))
    assert "catalogue error" in result.output and "fx-lien-thong.yaml" in result.output, result.output
