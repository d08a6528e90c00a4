"""The small linked-procedure fixture catalogue (tests/catalog/linked_fixtures), copied for editing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session

from portal.catalog.loader import CatalogError, load_catalog

FIXTURES = Path(__file__).resolve().parent / "linked_fixtures"
KS, TT, BHYT, LINKED = "9.000001", "9.000002", "9.000003", "LT.9001"


def fixture_tree(tmp_path: Path) -> Path:
    """A copy of the fixture catalogue (agencies.yaml, procedures/, forms/) to edit in a test."""
    root = tmp_path / "linked"
    shutil.copytree(FIXTURES, root)
    return root


def load(session: Session, root: Path = FIXTURES) -> None:
    load_catalog(session, data_dir=root, forms_dir=root / "forms")
    session.flush()


def refused(session: Session, root: Path) -> str:
    """The CatalogError the loader raises on the tree at `root`, as text; nothing of the load is kept (a load
    that fails otherwise fails the test, the session rolled back all the same)."""
    try:
        with pytest.raises(CatalogError) as error, session.begin_nested():
            load(session, root)
    finally:
        session.rollback()
    return str(error.value)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
