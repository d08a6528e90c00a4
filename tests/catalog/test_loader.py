"""`portal catalog load`: idempotent, and a broken data file is named with its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from forms.models import FormVersion
from portal.catalog.loader import DATA_DIR, FORMS_DIR, CatalogError, load_catalog
from portal.catalog.models import Agency, Procedure

pytestmark = pytest.mark.db


def _counts(session: Session) -> tuple[int, int, int]:
    return tuple(session.exec(select(func.count()).select_from(m)).one() for m in (Agency, Procedure, FormVersion))  # type: ignore[return-value]


def test_catalogue_has_real_breadth(db: Session) -> None:
    procs = db.exec(select(Procedure).where(Procedure.active == True)).all()
    assert len(procs) >= 8
    assert len({p.agency_code for p in procs}) >= 4
    assert {p.level for p in procs} == {"full", "partial"}
    for p in procs:
        assert p.code.count(".") == 1 and p.deadline_days > 0
        assert all(isinstance(f["amount"], int) for f in p.fees)
        assert p.components and p.delivery


def test_load_twice_changes_nothing(db: Session) -> None:
    before = _counts(db)
    load_catalog(db)
    db.flush()
    load_catalog(db)
    db.flush()
    assert _counts(db) == before
    db.rollback()


def _copy_tree(tmp_path: Path) -> tuple[Path, Path]:
    data, forms = tmp_path / "data", tmp_path / "forms"
    shutil.copytree(DATA_DIR, data)
    shutil.copytree(FORMS_DIR, forms)
    return data, forms


def test_unknown_field_type_is_refused_with_file_and_line(db: Session, tmp_path: Path) -> None:
    data, forms = _copy_tree(tmp_path)
    target = forms / "dang-ky-khai-sinh" / "v1.yaml"
    lines = target.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("type: text"))
    lines[index] = lines[index].replace("type: text", "type: hologram")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(db, data_dir=data, forms_dir=forms)
    assert f"{target}:{index + 1}:" in str(err.value)
    assert "hologram" in str(err.value)
    db.rollback()


def test_procedure_pointing_at_a_missing_form_is_refused(db: Session, tmp_path: Path) -> None:
    data, forms = _copy_tree(tmp_path)
    target = data / "procedures" / "chung-thuc-ban-sao.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("version: 1", "version: 9"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"chung-thuc-ban-sao\.yaml"):
        load_catalog(db, data_dir=data, forms_dir=forms)
    db.rollback()


def test_min_assurance_is_read_and_checked(db: Session, tmp_path: Path) -> None:
    data, forms = _copy_tree(tmp_path)
    target = data / "procedures" / "chung-thuc-ban-sao.yaml"
    original = target.read_text(encoding="utf-8")
    target.write_text(original.replace("level: partial", "level: partial\nmin_assurance: 3"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"chung-thuc-ban-sao\.yaml: min_assurance"):
        load_catalog(db, data_dir=data, forms_dir=forms)
    db.rollback()
    target.write_text(original.replace("level: partial", "level: partial\nmin_assurance: 2"), encoding="utf-8")
    load_catalog(db, data_dir=data, forms_dir=forms)
    code = next(line.split('"')[1] for line in original.splitlines() if line.startswith("code:"))
    proc = db.get(Procedure, code)
    assert proc is not None and proc.required_assurance == 2 and proc.level == "partial"
    db.rollback()


def test_cli_refuses_a_bad_catalogue(tmp_path: Path, settings) -> None:
    import subprocess
    import sys

    data, forms = _copy_tree(tmp_path)
    (forms / "dang-ky-khai-sinh" / "v1.yaml").write_text(
        "id: dang-ky-khai-sinh\nversion: 1\nsteps: [\n", encoding="utf-8"
    )
    code = (
        "import sys; from sqlmodel import Session; from portal.kernel.db import make_engine; "
        "from portal.kernel.settings import Settings; from portal.catalog.loader import load_catalog, CatalogError; "
        f"from pathlib import Path; s=Settings(database_url={settings.database_url!r}, _env_file=None)\n"
        f"try:\n  load_catalog(Session(make_engine(s)), data_dir=Path({str(data)!r}), forms_dir=Path({str(forms)!r}))\n"
        "except CatalogError as e:\n  print(e); sys.exit(2)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2 and "dang-ky-khai-sinh/v1.yaml:" in out.stdout


def test_catalogue_snapshot_reloads_when_stale(app) -> None:
    import asyncio

    from portal.catalog.snapshot import CatalogCache
    from portal.kernel.db import writer

    cache = CatalogCache(app.state.engine, refresh_seconds=3600)
    before = asyncio.run(cache.current())
    assert before.find("1.004873") is before.find("xac-nhan-tinh-trang-hon-nhan") is not None
    assert [p.name_vi for p in before.procedures] == sorted(p.name_vi for p in before.procedures)
    with Session(writer(app.state.engine)) as s:
        proc = s.get(Procedure, "1.004873")
        assert proc is not None
        original = proc.name_vi
        proc.name_vi = "Tên tạm thời"
        s.add(proc)
        s.commit()
    try:
        assert asyncio.run(cache.current()) is before  # still fresh: no query
        cache.invalidate()
        after = asyncio.run(cache.current())
        assert after.find("1.004873").name_vi == "Tên tạm thời"  # type: ignore[union-attr]
        assert [p.code for p in after.search(["1.004873"])] == ["1.004873"]
    finally:
        with Session(writer(app.state.engine)) as s:
            proc = s.get(Procedure, "1.004873")
            assert proc is not None
            proc.name_vi = original
            s.add(proc)
            s.commit()
