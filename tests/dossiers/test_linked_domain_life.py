"""Linked applications after submission (portal/dossiers/linked.py): a member's result attached to the members
waiting on it and their release to their agency; a member's rejection stopping those that need it, refunding
only its own fee and telling the applicant which part failed; the parent following its children to the end;
a late child making the parent late."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from payments.models import Refund
from portal.catalog.models import Agency
from portal.dossiers import billing, deadline, lifecycle, linked, service
from portal.dossiers.lifecycle import SupplementItem
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from portal.kernel.calendar import add_working_days, appointment_date
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.notifications.models import Notification
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import lifecycle_factories as lf
from tests.dossiers import linked_factories as lk
from tests.dossiers.linked_factories import A, B, C, D
from tests.factories import pdf_bytes
from tests.lifecycle_factories import BACKOFFICE, OFFICER

pytestmark = pytest.mark.db

storage, pki, trust = lf.storage, lf.pki, lf.trust


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")


def _submitted(session: Session, settings: Settings, **over: bool) -> tuple[Dossier, dict[str, Dossier]]:
    procedure = lk.linked_procedure(session, **over)
    parent = lk.draft(session, procedure)
    lk.pay(session, settings, procedure, parent)
    lk.submit(session, settings, procedure, parent)
    return parent, lk.by_member(linked.children_of(session, parent))


def _issue(
    session: Session, storage: LocalStorage, settings: Settings, trust: TrustSetup, cert: Issued, child: Dossier
) -> list[DossierResult]:
    if child.status == DossierStatus.SUBMITTED:
        lifecycle.receive(session=session, dossier=child, officer=OFFICER, by=BACKOFFICE)
    pdf = lf.sign(cert, pdf_bytes(f"Ket qua {child.procedure_code}"))
    return lifecycle.issue_result(
        session=session,
        storage=storage,
        settings=settings,
        dossier=child,
        files=[(f"ket-qua-{child.procedure_code}.pdf", pdf)],
        by=BACKOFFICE,
        trust=trust,
    )


def _refresh(session: Session, *rows: Dossier) -> None:
    for row in rows:
        session.refresh(row)


# -- a result releases the members waiting on it


def test_a_result_is_attached_to_the_waiting_member_which_is_released_to_its_agency(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    parent, kids = _submitted(session, settings)

    [result] = _issue(session, storage, settings, trust, agency_cert, kids[A])
    _refresh(session, parent, *kids.values())

    b = kids[B]
    assert b.status == DossierStatus.SUBMITTED and b.waiting_on == []
    [attached] = [f for f in service.dossier_files(session, b) if f.from_result]
    assert (attached.component_id, attached.from_result) == ("giay_to_tuy_than", result.id)
    assert (attached.storage_key, attached.sha256) == (result.sealed_key, result.sealed_sha256)
    assert attached.signature_report == result.signature_report
    assert storage.get(attached.storage_key).startswith(storage.get(result.storage_key))  # the sealed copy
    # Its date is counted from now with its own 10 working days; D's estimate and the parent's follow.
    assert b.due_date == appointment_date(utcnow(), 10)
    assert kids[D].status == DossierStatus.WAITING and kids[D].waiting_on == [B]
    assert kids[D].due_date == add_working_days(b.due_date, 10)
    assert parent.due_date == kids[D].due_date
    assert lf.kinds(session, b) == ["linked_waiting", "linked_result_attached", "linked_released"]
    # Pushed to its agency now, naming the member whose result it needed.
    [(kind, data)] = lf.pushes(session, b)
    assert (kind, data["agency_code"], data["status"]) == ("dossier.submitted", "CAT", "submitted")
    assert data["linked"] == {"parent_code": parent.code, "member": B, "depends_on": [kids[A].code]}
    assert data["due_date"] == b.due_date.isoformat()
    assert lf.pushes(session, kids[D]) == []
    # The applicant is told on the application's page.
    [note] = [n for n in lf.notifications(session, parent) if n.kind == "linked.released"]
    assert note.params["part_code"] == b.code and note.params["code"] == parent.code
    cat = session.get(Agency, "CAT")
    assert cat is not None and (note.params["agency@vi"], note.params["agency@en"]) == (cat.name_vi, cat.name_en)
    # The same result event again changes nothing.
    from portal.dossiers.events import ResultIssued
    from portal.kernel.events import publish

    publish(session, ResultIssued(dossier=kids[A], results=[result]))
    assert len([f for f in service.dossier_files(session, b) if f.from_result]) == 1
    assert len(lf.pushes(session, b)) == 1


def test_the_parent_follows_its_children_through_a_whole_life(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    parent, kids = _submitted(session, settings)
    assert parent.status == DossierStatus.SUBMITTED

    lifecycle.receive(session=session, dossier=kids[C], officer=OFFICER, by=BACKOFFICE)
    session.refresh(parent)
    assert parent.status == DossierStatus.IN_PROCESS

    item = SupplementItem(kind="component", target="to_khai", reason="Ảnh mờ")
    lifecycle.request_supplement(session=session, dossier=kids[C], items=[item], message="Bổ sung", by=BACKOFFICE)
    session.refresh(parent)
    assert parent.status == DossierStatus.SUPPLEMENT_REQUESTED
    service.reject(session=session, dossier=kids[C], reason="Không bổ sung", by=BACKOFFICE)
    session.refresh(parent)
    assert parent.status == DossierStatus.IN_PROCESS  # C ended; A is still at its agency

    for member in (A, B, D):
        child = kids[member]
        session.refresh(child)
        _issue(session, storage, settings, trust, agency_cert, child)
        session.refresh(parent)
        if member != D:
            assert parent.status == DossierStatus.IN_PROCESS
            lifecycle.complete(session=session, dossier=child, handover="centre", by=BACKOFFICE)
    session.refresh(parent)
    assert parent.status == DossierStatus.RESULT_READY and parent.result_ready_at is not None
    assert parent.completed_at is None

    # D was late: judged against an official date already past when its result came.
    d = kids[D]
    d.official_due_date = d.result_ready_at.date() - timedelta(days=3)  # type: ignore[union-attr]
    session.add(d)
    session.flush()
    lifecycle.complete(session=session, dossier=d, handover="centre", by=BACKOFFICE)
    session.refresh(parent)
    assert parent.status == DossierStatus.COMPLETED
    assert parent.timeliness == "late" and d.timeliness == "late"
    assert parent.completed_at == d.completed_at
    assert lf.pushes(session, parent) == []  # never pushed, whatever happened


def test_all_members_rejected_or_withdrawn_end_the_parent_rejected() -> None:
    s = DossierStatus
    assert linked.parent_status([s.REJECTED, s.WITHDRAWN]) == s.REJECTED
    assert linked.parent_status([s.WITHDRAWN, s.WITHDRAWN]) == s.WITHDRAWN
    assert linked.parent_status([s.REJECTED, s.COMPLETED]) == s.COMPLETED
    assert linked.parent_status([s.RESULT_READY, s.COMPLETED]) == s.RESULT_READY
    assert linked.parent_status([s.RESULT_READY, s.WAITING]) == s.IN_PROCESS
    assert linked.parent_status([s.SUBMITTED, s.WAITING]) == s.SUBMITTED
    assert linked.parent_status([s.SUPPLEMENT_REQUESTED, s.RESULT_READY]) == s.SUPPLEMENT_REQUESTED


# -- a member rejected


def _refunds(session: Session, parent: Dossier) -> list[tuple[str | None, int]]:
    from payments.models import Payment

    rows = session.exec(
        select(Refund).join(Payment, col(Payment.id) == col(Refund.payment_id)).where(Payment.order_id == parent.id)
    ).all()
    return sorted((r.agency_code, r.amount) for r in rows)


def test_one_member_s_rejection_refunds_only_its_fee_and_the_others_go_on(session: Session, settings: Settings) -> None:
    parent, kids = _submitted(session, settings)

    service.reject(session=session, dossier=kids[C], reason="Người yêu cầu đã kết hôn", by=BACKOFFICE)
    _refresh(session, parent, *kids.values())

    assert _refunds(session, parent) == [("UBXA", 15000)]  # C's fee only: B's and D's stay paid
    assert lk.statuses(list(kids.values())) == {A: "submitted", B: "waiting", C: "rejected", D: "waiting"}
    assert parent.status == DossierStatus.IN_PROCESS
    [failed] = [e for e in lf.events(session, parent) if e.kind == "linked_member_failed"]
    assert failed.details == {
        "member": C,
        "code": kids[C].code,
        "agency": "UBXA",
        "reason": "Người yêu cầu đã kết hôn",
        "stopped": [],
    }
    notes = session.exec(select(Notification).where(Notification.link == f"/dossiers/{parent.id}")).all()
    [note] = [n for n in notes if n.kind == "linked.member_failed"]
    assert note.params["stops"] == "none" and note.params["part_code"] == kids[C].code
    marital = lf.procedure_of(session, kids[C])
    assert (note.params["part@vi"], note.params["part@en"]) == (marital.name_vi, marital.name_en)
    assert note.params["reason"] == "Người yêu cầu đã kết hôn"
    # No separate "dossier rejected" notice for the part: the linked one says which part and why.
    assert lf.notification_kinds(session, kids[C]) == []
    # Calling the member refund again gives back nothing more.
    assert billing.refund_member(session, kids[C], "rejected") == []


def test_a_rejection_stops_the_members_waiting_on_it_transitively_and_refunds_their_fees(
    session: Session, settings: Settings
) -> None:
    parent, kids = _submitted(session, settings)

    service.reject(session=session, dossier=kids[A], reason="Giấy chứng sinh không hợp lệ", by=BACKOFFICE)
    _refresh(session, parent, *kids.values())

    assert lk.statuses(list(kids.values())) == {A: "rejected", B: "rejected", C: "submitted", D: "rejected"}
    reasons = {m: lf.events(session, kids[m])[-1].details["reason"] for m in (B, D)}
    assert kids[A].code in reasons[B] and "Giấy chứng sinh không hợp lệ" in reasons[B]
    assert kids[A].code in reasons[D]
    assert lf.events(session, kids[B])[-1].details["linked_failed"] == A
    # A is free: nothing to refund for it; B and D were never handled but their fees go back by their rules.
    assert _refunds(session, parent) == [("CAT", 200000), ("SNV", 600000)]
    assert lf.pushes(session, kids[B]) == [] and lf.pushes(session, kids[D]) == []  # their agencies never had them
    [failed] = [e for e in lf.events(session, parent) if e.kind == "linked_member_failed"]
    assert [s["code"] for s in failed.details["stopped"]] == [kids[B].code, kids[D].code]
    notes = [n for n in lf.notifications(session, parent) if n.kind == "linked.member_failed"]
    assert len(notes) == 1 and notes[0].params["stops"] == "others"
    assert f"({kids[B].code})" in notes[0].params["stopped"] and f"({kids[D].code})" in notes[0].params["stopped@en"]
    assert parent.status == DossierStatus.IN_PROCESS  # an agency has acted (A rejected); C goes on


def test_a_rejected_member_whose_procedure_is_not_refundable_refunds_nothing(
    session: Session, settings: Settings
) -> None:
    parent, kids = _submitted(session, settings, b_refundable=False)
    service.reject(session=session, dossier=kids[A], reason="Sai thông tin", by=BACKOFFICE)
    assert _refunds(session, parent) == [("SNV", 600000)]  # D only: B's procedure keeps its fee


# -- lateness


def test_a_late_child_makes_the_parent_late_and_the_sweep_never_marks_a_parent(
    session: Session, settings: Settings
) -> None:
    parent, kids = _submitted(session, settings)
    c = kids[C]
    lifecycle.receive(session=session, dossier=c, officer=OFFICER, by=BACKOFFICE)
    past = lf.local_day_offset(-5)
    c.official_due_date = past
    parent.official_due_date = past  # even with a date of its own, a parent is not swept
    session.add_all([c, parent])
    session.flush()
    session.refresh(parent)
    assert parent.status == DossierStatus.IN_PROCESS

    assert parent.id not in deadline.overdue_ids(session, lf.local_day_offset(0))
    marked = deadline.sweep_overdue(session)

    assert [d.id for d in marked if d.id in (c.id, parent.id)] == [c.id]
    session.refresh(parent)
    assert parent.overdue_at is not None
    assert "overdue" not in lf.kinds(session, parent) and lf.pushes(session, parent) == []
    assert lf.push_types(session, c)[-1] == "dossier.overdue"
