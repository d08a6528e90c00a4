"""A linked application is reported to the national portal member by member (issue 15): never its parent (the
citizen's one application), and a member waiting for another member's result only once it is released."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from portal.dossiers import pushes
from portal.dossiers.models import DossierStatus
from portal.national import reporting
from tests import linked_factories as lf
from tests.national.test_reporting import reports

pytestmark = pytest.mark.db


def test_no_report_for_a_parent_nor_a_waiting_member(session: Session) -> None:
    cat = lf.catalogue(session)
    parent = lf.parent(session, cat)
    filed = lf.child(session, cat, parent, cat.member_a)
    waiting = lf.child(session, cat, parent, cat.member_b, status=DossierStatus.WAITING)
    assert pushes.national_facts(parent).linked_role == "parent"
    assert not reporting.reportable(pushes.national_facts(parent))
    assert not reporting.reportable(pushes.national_facts(waiting))
    assert reporting.reportable(pushes.national_facts(filed))

    for event in ("dossier.submitted", "dossier.result_issued", "dossier.completed"):
        assert reporting.report(session, pushes.national_facts(parent), event) is None
    assert reporting.report(session, pushes.national_facts(parent), "dossier.rated", scores={"reception": 5}) is None
    assert reporting.report(session, pushes.national_facts(waiting), "dossier.submitted") is None
    pushes.push(session, parent, "dossier.submitted")  # whatever the push itself does, no national report
    session.flush()
    assert reports(session, parent) == [] and reports(session, waiting) == []

    assert reporting.report(session, pushes.national_facts(filed), "dossier.submitted") is not None
    [report] = reports(session, filed)
    assert (report["HoSo"]["MaHoSo"], report["HoSo"]["MaCoQuan"]) == (filed.code, cat.agency_a)


def test_a_member_is_reported_once_released(session: Session) -> None:
    cat = lf.catalogue(session)
    parent = lf.parent(session, cat)
    waiting = lf.child(session, cat, parent, cat.member_b, status=DossierStatus.WAITING)
    assert reporting.report(session, pushes.national_facts(waiting), "dossier.submitted") is None
    lf.release(session, cat, waiting)
    assert reporting.report(session, pushes.national_facts(waiting), "dossier.submitted") is not None
    [report] = reports(session, waiting)
    assert (report["HoSo"]["MaTTHC"], report["HoSo"]["TrangThaiHoSo"]) == (cat.member_b, "1")  # Mới đăng ký
