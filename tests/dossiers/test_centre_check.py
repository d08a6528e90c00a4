"""The centre's check of results (portal/dossiers/centre_check.py): a result of a procedure the centre checks
waits in RESULT_CHECK, hidden from the applicant, until a supervisor confirms it or sends it back."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.api.strict import PartnerStatus
from portal.catalog.errors import CatalogError
from portal.catalog.loader import load_catalog
from portal.catalog.models import Procedure
from portal.dossiers import centre_check, deadline, issued, lifecycle, service
from portal.dossiers.events import ResultIssued
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from portal.dossiers.pushes import EVENT_TYPES
from portal.kernel.audit import AuditEvent
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.events import bus
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.kernel.uow import unit_of_work
from portal.national.codes import IN_PROCESS, national_status
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.factories import pdf_bytes
from tests.lifecycle_factories import BACKOFFICE

pytestmark = pytest.mark.db

storage, pki, trust = lf.storage, lf.pki, lf.trust
SUPERVISOR = "Phạm Thị Giám Sát (TTPVHCC)"


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")


def checked_procedure(session: Session, *, centre_check: bool = True) -> Procedure:
    """A copy of the marital-status procedure (same agency and form) whose results the centre checks."""
    code = f"9.{secrets.randbelow(10**8):08d}"
    procedure = factories.procedure_copy(session, code, slug="kiem-tra", centre_check=centre_check)
    session.add(procedure)
    session.flush()
    return procedure


@pytest.fixture()
def published() -> Iterator[list[ResultIssued]]:
    """The ResultIssued events published during the test."""
    seen: list[ResultIssued] = []
    state = bus.snapshot()
    bus.subscribe(ResultIssued)(lambda _session, event: seen.append(event))
    yield seen
    bus.restore(state)


class Issuer:
    def __init__(self, session: Session, storage: LocalStorage, settings: Settings, trust: TrustSetup, cert: Issued):
        self.session, self.storage, self.settings, self.trust, self.cert = session, storage, settings, trust, cert
        self.signed: dict[str, bytes] = {}  # the same text is the same file (a retried upload)

    def dossier(self, **over: Any) -> Dossier:
        procedure = checked_procedure(self.session)
        dossier = lf.received(self.session, procedure_code=procedure.code, **over)
        lifecycle.start_processing(session=self.session, dossier=dossier, by=BACKOFFICE)
        return dossier

    def issue(self, dossier: Dossier, text: str = "Giay xac nhan") -> list[DossierResult]:
        pdf = self.signed.setdefault(text, lf.sign(self.cert, pdf_bytes(text)))
        return lifecycle.issue_result(
            session=self.session,
            storage=self.storage,
            settings=self.settings,
            dossier=dossier,
            files=[(f"{text}.pdf", pdf)],
            by=BACKOFFICE,
            trust=self.trust,
        )


@pytest.fixture()
def agency(
    session: Session, storage: LocalStorage, settings: Settings, trust: TrustSetup, agency_cert: Issued
) -> Issuer:
    return Issuer(session, storage, settings, trust, agency_cert)


def audit_kinds(session: Session, dossier: Dossier) -> list[tuple[str, str | None, str | None]]:
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.dossier_id == dossier.id).order_by(col(AuditEvent.id))
    ).all()
    return [(e.kind, e.actor_kind, e.actor) for e in rows if e.kind.startswith("dossier.result_")]


# -- issue: the result waits


def test_a_checked_procedure_s_result_waits_for_the_centre_and_the_applicant_is_not_told(
    session: Session, agency: Issuer, published: list[ResultIssued]
) -> None:
    dossier = agency.dossier()
    [result] = agency.issue(dossier)

    assert dossier.status == DossierStatus.RESULT_CHECK and dossier.result_ready_at is None
    assert lf.kinds(session, dossier)[-1] == "result_check"
    kind, data = lf.pushes(session, dossier)[-1]
    assert (kind, data["status"]) == ("dossier.result_issued", "result_check")
    assert data["results"] == [{"id": result.id, "filename": result.filename, "sha256": result.sha256}]
    assert "dossier.result" not in lf.notification_kinds(session, dossier)
    assert published == []  # no delivery ordered, nothing released nor stored yet
    assert centre_check.applicant_results(session, dossier) == []
    assert list(issued.results(session, result.sealed_sha256, 10)) == []  # /verify does not know it yet
    # A retried upload returns the same result; another one waits for the centre's decision.
    assert agency.issue(dossier) == [result]
    with pytest.raises(Conflict):
        agency.issue(dossier, "Khac")


def test_a_procedure_without_the_check_is_unchanged(session: Session, agency: Issuer) -> None:
    procedure = checked_procedure(session, centre_check=False)
    dossier = lf.received(session, procedure_code=procedure.code)
    agency.issue(dossier)
    assert dossier.status == DossierStatus.RESULT_READY and dossier.result_ready_at is not None
    assert lf.kinds(session, dossier)[-1] == "result_issued"
    assert "dossier.result" in lf.notification_kinds(session, dossier)


# -- confirm


def test_confirm_returns_the_result_to_the_applicant(
    session: Session, agency: Issuer, published: list[ResultIssued]
) -> None:
    dossier = agency.dossier()
    [result] = agency.issue(dossier)
    before = utcnow()

    centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")

    assert dossier.status == DossierStatus.RESULT_READY
    assert dossier.result_ready_at is not None and dossier.result_ready_at >= before - timedelta(seconds=1)
    session.refresh(result)
    assert result.checked_by == SUPERVISOR and result.checked_at is not None and result.refused_reason is None
    assert lf.kinds(session, dossier)[-2:] == ["result_check", "result_issued"]
    kind, data = lf.pushes(session, dossier)[-1]
    assert (kind, data["status"], data["checked_by"]) == ("dossier.result_confirmed", "result_ready", SUPERVISOR)
    assert data["results"] == [{"id": result.id, "filename": result.filename, "sha256": result.sha256}]
    assert "dossier.result" in lf.notification_kinds(session, dossier)
    assert [(e.dossier.id, [r.id for r in e.results]) for e in published] == [(dossier.id, [result.id])]
    assert centre_check.applicant_results(session, dossier) == [result]
    [found] = issued.results(session, result.sealed_sha256, 10)
    assert found.reference == dossier.code
    assert audit_kinds(session, dossier) == [("dossier.result_confirmed", "staff", SUPERVISOR)]
    # The status change itself is audited under the supervisor, not the portal.
    moved = session.exec(
        select(AuditEvent).where(AuditEvent.dossier_id == dossier.id, AuditEvent.kind == "dossier.status")
    ).all()
    assert [(e.detail.get("to"), e.actor_kind, e.actor) for e in moved][-1] == ("result_ready", "staff", SUPERVISOR)
    # Then the dossier goes on as any other.
    lifecycle.complete(session=session, dossier=dossier, handover="online", by=BACKOFFICE)
    assert dossier.status == DossierStatus.COMPLETED


def test_confirm_twice_or_after_a_send_back_is_a_conflict(session: Session, agency: Issuer) -> None:
    dossier = agency.dossier()
    agency.issue(dossier)
    centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")
    with pytest.raises(Conflict) as twice:
        centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")
    assert twice.value.params["status"] == DossierStatus.RESULT_READY
    with pytest.raises(Conflict):
        centre_check.send_back(session, dossier, reason="Sai tên", staff_name=SUPERVISOR, staff_id="staff-1")

    other = agency.dossier()
    agency.issue(other)
    centre_check.send_back(session, other, reason="Sai tên", staff_name=SUPERVISOR, staff_id="staff-1")
    with pytest.raises(Conflict) as after:
        centre_check.confirm(session, other, staff_name=SUPERVISOR, staff_id="staff-1")
    assert after.value.params["status"] == DossierStatus.IN_PROCESS
    assert lf.push_types(session, other).count("dossier.result_confirmed") == 0


def test_nothing_to_check_outside_result_check(session: Session) -> None:
    dossier = lf.received(session)
    with pytest.raises(Conflict):
        centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")
    with pytest.raises(Conflict):
        centre_check.send_back(session, dossier, reason="x", staff_name=SUPERVISOR, staff_id="staff-1")
    assert dossier.status == DossierStatus.RECEIVED


# -- send back


def test_send_back_needs_a_reason(session: Session, agency: Issuer) -> None:
    dossier = agency.dossier()
    agency.issue(dossier)
    for reason in ("", "   \n", "x" * 2001):
        with pytest.raises(Invalid):
            centre_check.send_back(session, dossier, reason=reason, staff_name=SUPERVISOR, staff_id="staff-1")
    assert dossier.status == DossierStatus.RESULT_CHECK


def test_send_back_refuses_the_result_and_the_agency_issues_a_new_one(
    session: Session, agency: Issuer, published: list[ResultIssued]
) -> None:
    dossier = agency.dossier()
    [first] = agency.issue(dossier, "Ban dau")
    reason = "Giấy xác nhận ghi sai ngày sinh của người yêu cầu."

    centre_check.send_back(session, dossier, reason=f"  {reason} ", staff_name=SUPERVISOR, staff_id="staff-1")

    assert dossier.status == DossierStatus.IN_PROCESS and dossier.result_ready_at is None
    session.refresh(first)
    assert (first.refused_reason, first.checked_by) == (reason, SUPERVISOR)  # kept, marked refused
    kind, data = lf.pushes(session, dossier)[-1]
    assert (kind, data["status"], data["reason"], data["returned_by"]) == (
        "dossier.result_returned",
        "in_process",
        reason,
        SUPERVISOR,
    )
    assert lf.kinds(session, dossier)[-1] == "result_returned"
    assert "dossier.result" not in lf.notification_kinds(session, dossier) and published == []
    assert centre_check.applicant_results(session, dossier) == []
    assert list(issued.results(session, first.sealed_sha256, 10)) == []
    assert list(issued.results(session, first.sha256, 10)) == []
    assert audit_kinds(session, dossier) == [("dossier.result_returned", "staff", SUPERVISOR)]

    # The agency issues a corrected result: it waits again, alone; once confirmed, only it is the applicant's.
    [second] = agency.issue(dossier, "Da sua")
    assert dossier.status == DossierStatus.RESULT_CHECK
    assert centre_check.pending_results(session, dossier) == [second]
    centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")
    assert centre_check.applicant_results(session, dossier) == [second]
    assert lifecycle.results_of(session, dossier) == [second]
    assert [[r.id for r in e.results] for e in published] == [[second.id]]


def test_the_agency_cannot_reject_while_the_centre_checks(session: Session, agency: Issuer) -> None:
    dossier = agency.dossier()
    agency.issue(dossier)
    with pytest.raises(Conflict):
        service.reject(session=session, dossier=dossier, reason="Không đủ điều kiện", by=BACKOFFICE)
    centre_check.send_back(session, dossier, reason="Sai", staff_name=SUPERVISOR, staff_id="staff-1")
    service.reject(session=session, dossier=dossier, reason="Không đủ điều kiện", by=BACKOFFICE)
    assert dossier.status == DossierStatus.REJECTED
    assert centre_check.applicant_results(session, dossier) == []


# -- the console's list


def test_pending_checks_lists_the_oldest_first_with_agency_and_wait(session: Session, agency: Issuer) -> None:
    old, new, done = agency.dossier(), agency.dossier(), agency.dossier()
    for d in (old, new, done):
        agency.issue(d)
    centre_check.confirm(session, done, staff_name=SUPERVISOR, staff_id="staff-1")
    # The old one was issued two hours ago and is past its official date.
    [old_result] = centre_check.pending_results(session, old)
    old_result.created_at = utcnow() - timedelta(hours=2)
    old.official_due_date = lf.local_day_offset(-1)
    session.add_all([old_result, old])
    session.flush()

    listed = [p for p in centre_check.pending_checks(session, page=1) if p.dossier_id in {old.id, new.id, done.id}]

    assert [p.dossier_id for p in listed] == [old.id, new.id]
    first = listed[0]
    assert (first.code, first.agency_code, first.agency_vi) == (old.code, "UBXA", first.agency_vi)
    assert first.agency_vi and first.agency_en and first.procedure_vi and first.results == 1
    assert timedelta(hours=2) - timedelta(minutes=1) < first.waiting < timedelta(hours=2, minutes=5)
    assert first.overdue and not listed[1].overdue
    elsewhere = centre_check.pending_checks(session, page=1, agency_codes={"KHAC"})
    assert old.id not in {p.dossier_id for p in elsewhere}
    # A page past the end is empty.
    assert centre_check.pending_checks(session, page=10**6) == []


# -- the clock, the statuses, the catalogue


def test_the_deadline_keeps_counting_while_the_centre_checks(session: Session, agency: Issuer) -> None:
    dossier = agency.dossier()
    agency.issue(dossier)
    dossier.official_due_date = lf.local_day_offset(-2)
    session.add(dossier)
    session.flush()
    assert dossier.id in deadline.overdue_ids(session, lf.local_day_offset(0))
    assert deadline.mark_overdue_one(session, dossier, now=utcnow())
    assert dossier.status == DossierStatus.RESULT_CHECK
    centre_check.confirm(session, dossier, staff_name=SUPERVISOR, staff_id="staff-1")
    lifecycle.complete(session=session, dossier=dossier, handover="online", by=BACKOFFICE)
    assert dossier.timeliness == "late"  # judged at the confirmation, when the applicant could have it


def test_result_check_is_a_status_everywhere() -> None:
    assert national_status("result_check", received=True) == IN_PROCESS
    assert PartnerStatus("result_check") == DossierStatus.RESULT_CHECK.value
    assert DossierStatus.RESULT_CHECK in service.OPEN_STATES and DossierStatus.RESULT_CHECK in deadline.RUNNING
    assert {"dossier.result_confirmed", "dossier.result_returned"} <= set(EVENT_TYPES)


def test_the_openapi_document_lists_the_new_pushes(app: Any) -> None:
    webhooks = app.openapi().get("webhooks", {})
    assert "dossier.result_confirmed" in webhooks and "dossier.result_returned" in webhooks


def test_the_demo_catalogue_checks_two_procedures(db: Session) -> None:
    for code in ("1.013225", "2.001610"):
        procedure = db.get(Procedure, code)
        assert procedure is not None and procedure.centre_check is True, code
    marital = db.get(Procedure, factories.MARITAL)
    assert marital is not None and marital.centre_check is False


def test_the_loader_refuses_a_centre_check_that_is_not_a_boolean(tmp_path: Path, session: Session) -> None:
    data = Path("portal/catalog/data")
    target = tmp_path / "data"
    (target / "procedures").mkdir(parents=True)
    (target / "agencies.yaml").write_text((data / "agencies.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    source = data / "procedures" / "ly-lich-tu-phap.yaml"
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    doc["centre_check"] = "yes"
    (target / "procedures" / source.name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="centre_check"):
        load_catalog(session, data_dir=target)


# -- two supervisors at once (committed for real)


def test_a_confirm_and_a_send_back_at_once_make_one_decision(
    engine: Engine, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    with unit_of_work(engine, write=True, settings=settings) as s:
        procedure = checked_procedure(s)
        dossier = lf.received(s, procedure_code=procedure.code)
        Issuer(s, storage, settings, trust, agency_cert).issue(dossier)
        dossier_id = dossier.id
    barrier = threading.Barrier(2)

    def decide(index: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(engine, write=True, settings=settings) as s:
                row = s.get(Dossier, dossier_id)
                assert row is not None
                if index == 0:
                    centre_check.confirm(s, row, staff_name="A", staff_id="a")
                else:
                    centre_check.send_back(s, row, reason="Sai", staff_name="B", staff_id="b")
                return "won"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(decide, range(2)))

    assert outcomes == ["conflict", "won"]
    with unit_of_work(engine) as s:
        row = s.get(Dossier, dossier_id)
        assert row is not None and row.status in (DossierStatus.RESULT_READY, DossierStatus.IN_PROCESS)
        decided = [t for t in lf.push_types(s, row) if t in ("dossier.result_confirmed", "dossier.result_returned")]
        assert len(decided) == 1
