"""What is audited: status changes (with who made them), payment callbacks (ok / replayed / refused), the
catalogue load; and `portal.audit.access`: which events a citizen is shown."""

from __future__ import annotations

import secrets

import pytest
from sqlmodel import Session, col, select

from payments import service as payments
from payments.gateways.base import Acknowledgement, GatewayResult, Outcome
from payments.models import PaymentStatus
from portal.audit.access import (
    PURPOSES,
    Actor,
    accesses_of,
    act_as,
    record_access,
    record_reads,
)
from portal.catalog.loader import load_catalog
from portal.dossiers import service
from portal.dossiers.access_page import access_rows
from portal.dossiers.models import DossierStatus
from portal.kernel.audit import AuditEvent
from portal.kernel.i18n import Translator
from tests import factories

pytestmark = pytest.mark.db

AGENCY = Actor(kind="agency", name="Một cửa UBXA", purpose="processing", agency_code="UBXA", client_id="c-ubxa")


def _events(session: Session, dossier_id: str, kind: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(col(AuditEvent.dossier_id) == dossier_id)
    if kind:
        stmt = stmt.where(col(AuditEvent.kind) == kind)
    return list(session.exec(stmt.order_by(col(AuditEvent.id))))


def test_citizen_withdrawal_is_a_status_change_the_citizen_is_not_shown(session: Session) -> None:
    owner = factories.account(session)
    dossier = factories.dossier(session, applicant=owner, submitted=True)
    service.withdraw(session=session, dossier=dossier, by=owner)
    session.flush()
    moved = _events(session, dossier.id, "dossier.status")
    assert [(e.actor_kind, e.detail["was"], e.detail["to"]) for e in moved] == [
        ("citizen", DossierStatus.SUBMITTED, DossierStatus.WITHDRAWN)
    ]
    assert moved[0].agency_code == dossier.agency_code and moved[0].purpose is None
    assert accesses_of(session, [dossier.id]) == []  # their own action is not "someone accessed my dossier"


def test_status_change_under_a_named_actor(session: Session) -> None:
    owner = factories.account(session)
    dossier = factories.dossier(session, applicant=owner, submitted=True)
    act_as(session, Actor(kind="staff", name="Phạm Giám Sát", purpose="supervision"))
    try:
        service.move_status(
            session, dossier, to=DossierStatus.RECEIVED, allowed=[DossierStatus.SUBMITTED], refused="refused"
        )
    finally:
        session.info.clear()
    moved = _events(session, dossier.id, "dossier.status")
    assert [(e.actor_kind, e.actor, e.purpose) for e in moved] == [("staff", "Phạm Giám Sát", "supervision")]
    shown = accesses_of(session, [dossier.id])
    assert [(a.actor_kind, a.what, a.params["status"]) for a in shown] == [
        ("staff", "Changed the status to {status}", "received")
    ]
    # A retry that changes nothing records nothing.
    service.move_status(session, dossier, to=DossierStatus.RECEIVED, allowed=[DossierStatus.SUBMITTED], refused="x")
    assert len(_events(session, dossier.id, "dossier.status")) == 1


def test_submission_is_recorded_once(session: Session, settings) -> None:
    from portal.catalog.models import Procedure
    from portal.dossiers.service import get_definition

    owner = factories.account(session)
    draft = factories.dossier(session, applicant=owner, files=("to_khai",))
    procedure = session.get(Procedure, draft.procedure_code)
    assert procedure is not None
    defn = get_definition(session, draft.form_id, draft.form_version)
    service.submit(session=session, dossier=draft, procedure=procedure, defn=defn, by=owner, settings=settings)
    service.submit(session=session, dossier=draft, procedure=procedure, defn=defn, by=owner, settings=settings)
    moved = _events(session, draft.id, "dossier.status")
    assert [(e.actor_kind, e.detail["was"], e.detail["to"]) for e in moved] == [("citizen", "draft", "submitted")]


def test_accesses_leave_out_the_citizen_the_system_and_refusals(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    record_access(session, "dossier.read", dossier_id=dossier.id, actor=AGENCY)
    record_access(session, "dossier.read", dossier_id=dossier.id, actor=Actor(kind="citizen", name=None))
    record_access(session, "dossier.status", dossier_id=dossier.id, actor=Actor(kind="system", name=None), to="x")
    refused = record_access(session, "dossier.read", dossier_id=dossier.id, actor=AGENCY)
    refused.outcome = "refused"
    postal = Actor(kind="postal", name="VNPost", client_id="c-post")
    record_access(session, "postal.order_read", dossier_id=dossier.id, actor=postal, purpose="pickup", order="BC1")
    session.flush()
    shown = accesses_of(session, [dossier.id])
    assert sorted((a.actor_kind, a.kind, a.purpose) for a in shown) == [
        ("agency", "dossier.read", "processing"),
        ("postal", "postal.order_read", "pickup"),
    ]
    t = Translator("en")
    assert {t.gettext(a.purpose_label or "") for a in shown} == {
        "Processing the dossier",
        "Picking up the original documents",
    }


def test_purposes_are_registered_and_reads_are_one_per_dossier(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown audit purpose"):
        act_as(session, Actor(kind="agency", name="x", purpose="curiosity"))
    with pytest.raises(ValueError, match="unknown audit purpose"):
        record_access(session, "dossier.read", dossier_id="d", actor=AGENCY, purpose="curiosity")
    assert {"processing", "pickup", "delivery", "supervision"} <= set(PURPOSES)
    a = factories.dossier(session, submitted=True)
    b = factories.dossier(session, submitted=True)
    events = record_reads(session, "dossier.listed", [a.id, b.id, a.id], actor=AGENCY)
    session.flush()
    assert [e.dossier_id for e in events] == [a.id, b.id]
    assert len(_events(session, a.id)) == 1


def test_linked_parent_page_shows_its_members_accesses(session: Session) -> None:
    owner = factories.account(session)
    parent = factories.dossier(session, applicant=owner, submitted=True, linked_role="parent")
    child = factories.dossier(session, applicant=owner, submitted=True, linked_role="child", parent_id=parent.id)
    record_access(session, "dossier.file_downloaded", dossier_id=child.id, actor=AGENCY, name="to-khai.pdf")
    session.flush()
    rows = access_rows(session, parent)
    assert [(r.member_code, r.person, r.params["name"]) for r in rows] == [(child.code, "Một cửa UBXA", "to-khai.pdf")]
    assert rows[0].organisation is not None and rows[0].organisation["vi"]  # the agency's name, resolved
    assert access_rows(session, factories.dossier(session, applicant=owner, submitted=True)) == []


def _payment(session: Session):
    dossier = factories.dossier(session, submitted=True)
    return factories.payment(session, dossier=dossier, status=PaymentStatus.PENDING, amount=50_000)


def _callbacks(session: Session, reference: str) -> list[AuditEvent]:
    rows = session.exec(select(AuditEvent).where(col(AuditEvent.kind).startswith("payment.callback")))
    return [e for e in rows if e.detail.get("reference") == reference]


def test_payment_callbacks_ok_replayed_and_refused(session: Session) -> None:
    payment = _payment(session)
    result = GatewayResult(
        reference=payment.reference,
        outcome=Outcome.SUCCEEDED,
        amount=payment.amount,
        currency=payment.currency,
        event_id=f"ev-{secrets.token_hex(4)}",
    )
    first = payments.apply_result(session=session, gateway_id="sandbox", result=result, source="notification")
    again = payments.apply_result(session=session, gateway_id="sandbox", result=result, source="notification")
    assert first.ack == Acknowledgement.ACCEPTED and again.replayed
    wrong = GatewayResult(
        reference=payment.reference, outcome=Outcome.SUCCEEDED, amount=1, currency=payment.currency, event_id="ev-x"
    )
    payments.apply_result(session=session, gateway_id="sandbox", result=wrong, source="return")
    session.flush()
    seen = [(e.kind, e.outcome, e.detail.get("source")) for e in _callbacks(session, payment.reference)]
    assert seen == [
        ("payment.callback", "ok", "notification"),
        ("payment.callback", "replayed", "notification"),
        ("payment.callback_refused", "refused", "return"),
    ]
    ok = _callbacks(session, payment.reference)[0]
    assert ok.detail["order_id"] == payment.order_id and ok.detail["status"] == "succeeded"


def test_a_query_of_the_gateway_is_not_a_callback(session: Session) -> None:
    payment = _payment(session)
    result = GatewayResult(
        reference=payment.reference, outcome=Outcome.SUCCEEDED, amount=payment.amount, currency=payment.currency
    )
    payments.apply_result(session=session, gateway_id="sandbox", result=result, source="query")
    session.flush()
    assert _callbacks(session, payment.reference) == []


def test_catalogue_load_is_recorded(session: Session) -> None:
    before = session.exec(select(AuditEvent.id).order_by(col(AuditEvent.id).desc()).limit(1)).first() or 0
    report = load_catalog(session)
    loaded = list(
        session.exec(select(AuditEvent).where(col(AuditEvent.id) > before, col(AuditEvent.kind) == "catalog.loaded"))
    )
    assert len(loaded) == 1
    assert loaded[0].detail["procedures"] == report.procedures and loaded[0].actor_kind == "system"


def test_staff_of_the_centre_and_agency_officers_are_named_apart(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    supervisor = Actor(kind="staff", name="Phạm Giám Sát", purpose="supervision", agency_code=dossier.agency_code)
    officer = Actor(kind="staff", name="Lê Cán Bộ", purpose="supervision", agency_code=dossier.agency_code)
    record_access(session, "dossier.result_confirmed", dossier_id=dossier.id, actor=supervisor)
    record_access(session, "dossier.read", dossier_id=dossier.id, actor=officer, role="officer")
    session.flush()
    rows = {r.person: r for r in access_rows(session, dossier)}
    assert rows["Phạm Giám Sát"].organisation is None
    assert rows["Phạm Giám Sát"].organisation_msgid == "The public administration service centre"
    assert rows["Phạm Giám Sát"].what == "Confirmed the result before it was returned"
    assert rows["Lê Cán Bộ"].organisation is not None  # the officer's agency, by name
