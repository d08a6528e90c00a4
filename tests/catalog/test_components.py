"""Procedure components: a frozen pydantic model read from the JSON column, and checked keys at load time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from forms.definition import LocalText
from portal.catalog.loader import DATA_DIR, FORMS_DIR, REDUCTION_PROOF, CatalogError, load_catalog
from portal.catalog.models import Component, Procedure, parse_components

pytestmark = pytest.mark.db

SAMPLE = "chung-thuc-ban-sao.yaml"
FIRST_COMPONENT = "    signature_required: false\n"  # the last key of its first component


def _copy_tree(tmp_path: Path) -> tuple[Path, Path]:
    data, forms = tmp_path / "data", tmp_path / "forms"
    shutil.copytree(DATA_DIR, data)
    shutil.copytree(FORMS_DIR, forms)
    return data, forms


def _with_first_component(tmp_path: Path, extra: str) -> tuple[Path, Path, Path]:
    """A copy of the data files whose sample procedure's first component carries ``extra`` lines."""
    data, forms = _copy_tree(tmp_path)
    target = data / "procedures" / SAMPLE
    text = target.read_text(encoding="utf-8")
    assert FIRST_COMPONENT in text
    target.write_text(text.replace(FIRST_COMPONENT, FIRST_COMPONENT + extra, 1), encoding="utf-8")
    return data, forms, target


def test_every_stored_component_reads_as_a_typed_model(db: Session) -> None:
    procs = db.exec(select(Procedure).where(Procedure.active == True)).all()
    kinds: set[str] = set()
    for proc in procs:
        components = proc.component_list
        assert components and all(isinstance(c, Component) for c in components)
        assert [c.id for c in components] == [c["id"] for c in proc.components]  # the JSON column is kept
        assert proc.component_list is components  # parsed once
        for c in components:
            assert isinstance(c.name, LocalText) and c.name.vi and c.name.en
            assert c.accepts and set(c.accepts) <= {"pdf", "jpeg", "png"}
            assert proc.component(c.id) == c
            kinds.update(k for k in ("mandatory", "multiple", "signature_required", "application") if getattr(c, k))
        assert proc.component("no-such-component") is None
    assert kinds == {"mandatory", "multiple", "signature_required", "application"}


def test_components_are_frozen_and_refuse_unknown_keys() -> None:
    component = Component(id="to_khai", name=LocalText(vi="Tờ khai", en="Form"), accepts=("pdf",))
    assert (component.mandatory, component.multiple, component.signature_required) == (True, False, False)
    assert (component.application, component.reduction_proof) == (False, False)
    with pytest.raises(ValidationError):
        component.mandatory = False
    with pytest.raises(ValidationError, match="signature"):
        Component.model_validate({**component.model_dump(), "signature": True})
    with pytest.raises(ValidationError, match="accepts"):
        Component.model_validate({**component.model_dump(), "accepts": ["docx"]})
    raw = [component.model_dump(mode="json")]
    assert parse_components(raw) == (component,)
    assert parse_components(raw) is parse_components([dict(raw[0])])  # cached by content
    assert parse_components(None) == ()


def test_the_reduction_proof_component_is_added_by_the_loader(db: Session) -> None:
    with_reductions = [p for p in db.exec(select(Procedure).where(Procedure.active == True)).all() if p.reductions]
    assert with_reductions
    for proc in with_reductions:
        proof = proc.component(REDUCTION_PROOF)
        assert proof is not None and proof.reduction_proof and not proof.mandatory and proof.multiple
        assert [c.id for c in proc.component_list if c.reduction_proof] == [REDUCTION_PROOF]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    signature: true\n", r"component ban_chup has unknown key\(s\) signature; known: accepts, application"),
        ("    reduction_proof: true\n", r"component ban_chup has unknown key\(s\) reduction_proof"),
        ("    mandatory_if: married\n    note: x\n", r"unknown key\(s\) mandatory_if, note"),
        ("    multiple: perhaps\n", r"component ban_chup: multiple: Input should be a valid boolean"),
    ],
)
def test_a_bad_component_key_is_refused_at_load(db: Session, tmp_path: Path, extra: str, message: str) -> None:
    if extra.startswith("    multiple:"):  # replace the existing key rather than repeat it
        data, forms = _copy_tree(tmp_path)
        target = data / "procedures" / SAMPLE
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace("    multiple: true\n", extra, 1), encoding="utf-8")
    else:
        data, forms, target = _with_first_component(tmp_path, extra)
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(db, data_dir=data, forms_dir=forms)
    assert str(err.value).startswith(f"{target}: ")
    db.rollback()
