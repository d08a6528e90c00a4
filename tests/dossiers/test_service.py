"""The dossier use cases called directly, each test in a transaction rolled back at its end."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, col, select

from auth.assurance import StepUpRequired
from auth.deps import Viewer
from auth.models import Account
from forms.definition import FormDefinition
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.catalog.models import Procedure
from portal.dossiers import service
from portal.dossiers.models import Dossier, DossierEvent, DossierStatus
from portal.kernel.calendar import appointment_date, is_working_day, local_date, working_days_between
from portal.kernel.clock import as_utc, local
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from tests import factories
from tests.factories import MARITAL, marital_step1

pytestmark = pytest.mark.db

JUDICIAL = "3.000333"  # Lý lịch tư pháp (CAT): the fee is paid before submitting
MARRIAGE = "1.000894"  # Đăng ký kết hôn: one delivery method only
CERTIFIED_COPY = "2.000815"  # Chứng thực bản sao: a fee that is not given back


def procedure_of(session: Session, code: str) -> Procedure:
    procedure = session.get(Procedure, code)
    assert procedure is not None, code
    return procedure


def definition_of(session: Session, dossier: Dossier) -> FormDefinition:
    return service.get_definition(session, dossier.form_id, dossier.form_version)


def kinds(session: Session, dossier: Dossier) -> list[str]:
    """The dossier's timeline, oldest first."""
    stmt = select(DossierEvent.kind).where(DossierEvent.dossier_id == dossier.id).order_by(col(DossierEvent.id))
    return list(session.exec(stmt))


def refunds_of(session: Session, dossier: Dossier) -> list[Refund]:
    stmt = select(Refund).join(Payment, col(Payment.id) == col(Refund.payment_id)).where(Payment.order_id == dossier.id)
    return list(session.exec(stmt))


def outbox(session: Session, topic: str, dossier: Dossier) -> list[OutboxMessage]:
    messages = session.exec(select(OutboxMessage).where(OutboxMessage.topic == topic)).all()
    return [m for m in messages if m.payload.get("dossier_id") == dossier.id]


def submit(session: Session, dossier: Dossier, by: Account, settings: Settings) -> Dossier:
    procedure = procedure_of(session, dossier.procedure_code)
    defn = definition_of(session, dossier)
    return service.submit(session=session, dossier=dossier, procedure=procedure, defn=defn, by=by, settings=settings)


def complete_draft(session: Session) -> tuple[Dossier, Account]:
    """A marital-status draft that may be submitted: answers, the mandatory form, a delivery method."""
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, files=("to_khai",))
    return dossier, applicant


# -- create_draft


def test_create_draft_starts_on_the_current_form_with_the_profile_prefilled(session: Session) -> None:
    person = factories.account(session, full_name="Lê Văn Tám", phone="0912345678")
    procedure = procedure_of(session, MARITAL)

    dossier = service.create_draft(session=session, procedure=procedure, by=person)

    assert (dossier.status, dossier.code, dossier.applicant_id) == (DossierStatus.DRAFT, None, person.id)
    assert (dossier.form_id, dossier.form_version) == (procedure.form_id, procedure.form_version)
    assert dossier.agency_code == procedure.agency_code and dossier.business_id is None
    assert dossier.data["full_name"] == "Lê Văn Tám" and dossier.data["phone"] == "0912345678"
    assert dossier.delivery_method is None  # three methods offered: the applicant chooses
    assert kinds(session, dossier) == ["created"]


def test_create_draft_picks_the_only_delivery_method(session: Session) -> None:
    dossier = service.create_draft(
        session=session, procedure=procedure_of(session, MARRIAGE), by=factories.account(session)
    )
    assert dossier.delivery_method == "centre"


def test_create_draft_refuses_an_inactive_procedure(session: Session) -> None:
    procedure = procedure_of(session, MARITAL)
    procedure.active = False  # rolled back with the rest of the test
    with pytest.raises(NotFound):
        service.create_draft(session=session, procedure=procedure, by=factories.account(session))


def test_create_draft_for_a_business_only_by_its_representative(session: Session) -> None:
    person, stranger = factories.account(session), factories.account(session)
    firm = factories.business(session, representatives=(person,))
    procedure = procedure_of(session, MARITAL)

    dossier = service.create_draft(session=session, procedure=procedure, by=person, business_id=firm.id)
    assert dossier.business_id == firm.id

    with pytest.raises(NotFound):
        service.create_draft(session=session, procedure=procedure, by=stranger, business_id=firm.id)


# -- save_step


def _raw(values: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


def test_save_step_keeps_the_answers_and_the_place(session: Session) -> None:
    dossier = factories.dossier(session, data={}, answers_checked=True)
    defn = definition_of(session, dossier)

    result = service.save_step(
        session=session, dossier=dossier, defn=defn, step_id="applicant", raw=_raw(marital_step1())
    )

    assert result.errors == {}
    assert dossier.data["full_name"] == "Nguyễn Thị Hường" and dossier.data["address"] == factories.address()
    assert dossier.last_step == "applicant" and dossier.answers_checked is False


def test_save_step_keeps_what_was_typed_even_with_errors(session: Session) -> None:
    dossier = factories.dossier(session, data={})
    defn = definition_of(session, dossier)

    result = service.save_step(
        session=session, dossier=dossier, defn=defn, step_id="applicant", raw=_raw(marital_step1(cccd="12ab"))
    )

    assert "cccd" in result.errors
    assert dossier.data["full_name"] == "Nguyễn Thị Hường"  # the valid answers of the step are not lost


def test_save_step_refuses_an_unknown_step_and_a_submitted_dossier(session: Session) -> None:
    draft = factories.dossier(session)
    with pytest.raises(NotFound):
        service.save_step(session=session, dossier=draft, defn=definition_of(session, draft), step_id="x", raw={})
    sent = factories.dossier(session, submitted=True)
    with pytest.raises(Conflict):
        service.save_step(session=session, dossier=sent, defn=definition_of(session, sent), step_id="applicant", raw={})


# -- readiness


def test_readiness_lists_what_stops_a_submission(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, data={}, delivery_method=None)
    procedure, defn = procedure_of(session, MARITAL), definition_of(session, dossier)

    ready = service.readiness(session, dossier, procedure, defn, settings=settings)

    assert ready.form_errors and "full_name" in ready.form_errors
    assert [c.id for c in ready.missing_components] == ["to_khai"]
    assert ready.delivery_missing and not ready.ok and not ready.ok_to_submit
    assert ready.payment_due == 0  # this procedure's fee is paid after submission


def test_readiness_of_a_complete_draft(session: Session, settings: Settings) -> None:
    dossier, _ = complete_draft(session)
    procedure, defn = procedure_of(session, MARITAL), definition_of(session, dossier)

    ready = service.readiness(session, dossier, procedure, defn, settings=settings)

    assert (ready.form_errors, ready.missing_components, ready.delivery_missing) == ({}, [], False)
    assert ready.ok and ready.ok_to_submit


def test_readiness_asks_the_fee_first_where_it_is_paid_before(session: Session, settings: Settings) -> None:
    procedure = procedure_of(session, JUDICIAL)
    dossier = factories.dossier(session, procedure_code=JUDICIAL, delivery_method="online")
    defn = definition_of(session, dossier)

    assert procedure.fee_total > 0
    assert service.readiness(session, dossier, procedure, defn, settings=settings).payment_due == procedure.fee_total

    factories.payment(session, dossier=dossier, status=PaymentStatus.FAILED)
    assert service.readiness(session, dossier, procedure, defn, settings=settings).payment_due == procedure.fee_total
    factories.payment(session, dossier=dossier)
    assert service.readiness(session, dossier, procedure, defn, settings=settings).payment_due == 0


def test_readiness_counts_an_unsigned_file_as_missing_where_a_signature_is_required(
    session: Session, settings: Settings
) -> None:
    procedure = procedure_of(session, "1.014199")  # Giấy phép lao động: the request must be signed
    signed = next(c.id for c in procedure.component_list if c.signature_required)
    dossier = factories.dossier(session, procedure_code=procedure.code)
    file = factories.dossier_file(session, dossier, component_id=signed)
    defn = definition_of(session, dossier)

    def missing() -> list[str]:
        return [
            c.id for c in service.readiness(session, dossier, procedure, defn, settings=settings).missing_components
        ]

    assert signed in missing()
    file.signature = "uploaded"
    session.add(file)
    assert signed not in missing()


# -- set_delivery


def test_set_delivery_records_one_of_the_offered_methods(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, delivery_method=None)
    procedure = procedure_of(session, MARITAL)

    service.set_delivery(session=session, dossier=dossier, procedure=procedure, method="post", settings=settings)
    assert dossier.delivery_method == "post"

    with pytest.raises(Invalid):
        service.set_delivery(session=session, dossier=dossier, procedure=procedure, method="drone", settings=settings)
    assert dossier.delivery_method == "post"


def test_set_delivery_refuses_a_change_of_a_bill_already_paid(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, delivery_method="online")
    factories.payment(session, dossier=dossier)  # the fee without postage
    procedure = procedure_of(session, MARITAL)

    with pytest.raises(Conflict):  # by post, the bill would add the postal fee
        service.set_delivery(session=session, dossier=dossier, procedure=procedure, method="post", settings=settings)
    # Refused means unchanged: the request that was refused still commits (its error page), so nothing may stick.
    assert dossier.delivery_method == "online"
    # At the centre, the bill stays what was paid.
    service.set_delivery(session=session, dossier=dossier, procedure=procedure, method="centre", settings=settings)
    assert dossier.delivery_method == "centre"


def test_a_reduction_that_would_change_a_paid_bill_is_refused_and_not_kept(
    session: Session, settings: Settings
) -> None:
    from portal.dossiers import billing

    procedure = procedure_of(session, JUDICIAL)
    category = procedure.reductions[0]["category"]
    dossier = factories.dossier(session, procedure_code=JUDICIAL, delivery_method="online")
    factories.payment(session, dossier=dossier, amount=billing.bill_for(procedure, dossier, settings).total)

    with pytest.raises(Conflict):
        billing.declare_reduction(
            session=session, procedure=procedure, dossier=dossier, settings=settings, category=category
        )
    assert dossier.fee_reduction is None


def test_set_delivery_refuses_a_submitted_dossier(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True)
    with pytest.raises(Conflict):
        service.set_delivery(
            session=session, dossier=dossier, procedure=procedure_of(session, MARITAL), method="post", settings=settings
        )


# -- submit


def viewer_of(account: Account, level: int) -> Viewer:
    return Viewer(id=account.id, full_name=account.full_name, level=level, method="test", session_id="s")


def test_submit_reviewed_keeps_the_delivery_then_asks_for_a_higher_sign_in(
    session: Session, settings: Settings
) -> None:
    dossier, applicant = complete_draft(session)
    procedure = procedure_of(session, MARITAL)
    assert procedure.required_assurance == 2 and dossier.delivery_method != "centre"

    with pytest.raises(StepUpRequired):
        service.submit_reviewed(
            session=session,
            dossier=dossier,
            procedure=procedure,
            defn=definition_of(session, dossier),
            by=applicant,
            viewer=viewer_of(applicant, 1),
            settings=settings,
            delivery_method="centre",
        )
    assert (dossier.status, dossier.delivery_method) == (DossierStatus.DRAFT, "centre")

    submitted = service.submit_reviewed(
        session=session,
        dossier=dossier,
        procedure=procedure,
        defn=definition_of(session, dossier),
        by=applicant,
        viewer=viewer_of(applicant, 2),
        settings=settings,
    )
    assert submitted and dossier.status == DossierStatus.SUBMITTED and dossier.code


def test_submit_gives_a_code_a_due_date_and_queues_the_follow_up(session: Session, settings: Settings) -> None:
    dossier, applicant = complete_draft(session)
    procedure = procedure_of(session, MARITAL)

    result = submit(session, dossier, applicant, settings)

    assert result is dossier and dossier.status == DossierStatus.SUBMITTED and dossier.submitted_at is not None
    submitted_at = as_utc(dossier.submitted_at)
    day = local(submitted_at).strftime("%y%m%d")
    assert dossier.code is not None and re.fullmatch(rf"{procedure.agency_code}-{day}-\d{{4}}", dossier.code)
    assert dossier.due_date == appointment_date(submitted_at, procedure.deadline_days)
    assert is_working_day(dossier.due_date)
    assert working_days_between(local_date(submitted_at), dossier.due_date) in (
        procedure.deadline_days,  # received on a working day
        procedure.deadline_days + 1,  # received on a day off: counted from the next working day
    )
    assert kinds(session, dossier) == ["submitted"]
    assert len(outbox(session, "dossier.submitted", dossier)) == 1


def test_submit_happens_once(session: Session, settings: Settings) -> None:
    dossier, applicant = complete_draft(session)
    first = submit(session, dossier, applicant, settings)
    code, due = first.code, first.due_date

    again = submit(session, dossier, applicant, settings)

    assert again is dossier and (again.code, again.due_date) == (code, due)
    assert kinds(session, dossier) == ["submitted"]
    assert len(outbox(session, "dossier.submitted", dossier)) == 1


def test_submit_numbers_an_agency_s_dossiers_of_the_day_in_order(session: Session, settings: Settings) -> None:
    first, a = complete_draft(session)
    second, b = complete_draft(session)
    codes = [submit(session, first, a, settings).code, submit(session, second, b, settings).code]
    assert all(codes)
    prefixes, numbers = zip(*(str(c).rsplit("-", 1) for c in codes), strict=True)
    assert prefixes[0] == prefixes[1] and int(numbers[1]) == int(numbers[0]) + 1


def test_submit_refuses_an_incomplete_draft(session: Session, settings: Settings) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant)  # no file for the mandatory form
    with pytest.raises(Invalid):
        submit(session, dossier, applicant, settings)
    session.refresh(dossier)
    assert (dossier.status, dossier.code) == (DossierStatus.DRAFT, None)
    assert outbox(session, "dossier.submitted", dossier) == []


def test_submit_refuses_a_dossier_that_left_the_draft_state_without_a_code(
    session: Session, settings: Settings
) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, status=DossierStatus.WITHDRAWN)
    with pytest.raises(Conflict):
        submit(session, dossier, applicant, settings)


# -- withdraw


def test_withdraw_a_submitted_dossier_once(session: Session) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, submitted=True)

    service.withdraw(session=session, dossier=dossier, by=applicant)
    service.withdraw(session=session, dossier=dossier, by=applicant)  # a retry changes nothing

    assert dossier.status == DossierStatus.WITHDRAWN
    assert kinds(session, dossier) == ["withdrawn"]
    assert refunds_of(session, dossier) == []  # nothing was paid


@pytest.mark.parametrize("status", [DossierStatus.DRAFT, DossierStatus.RECEIVED, DossierStatus.REJECTED])
def test_withdraw_only_from_submitted(session: Session, status: DossierStatus) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, submitted=True, status=status)
    with pytest.raises(Conflict):
        service.withdraw(session=session, dossier=dossier, by=applicant)
    assert dossier.status == status and kinds(session, dossier) == []


def test_withdraw_gives_back_a_refundable_fee_once(session: Session) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, submitted=True)
    paid = factories.payment(session, dossier=dossier)

    service.withdraw(session=session, dossier=dossier, by=applicant)
    service.withdraw(session=session, dossier=dossier, by=applicant)

    [refund] = refunds_of(session, dossier)
    assert (refund.payment_id, refund.amount, refund.reason) == (paid.id, paid.amount, "withdrawn")
    assert refund.status == RefundStatus.PENDING  # the gateway is asked by the worker


def test_withdraw_keeps_a_fee_that_is_not_given_back(session: Session) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, procedure_code=CERTIFIED_COPY, submitted=True)
    factories.payment(session, dossier=dossier)

    service.withdraw(session=session, dossier=dossier, by=applicant)

    assert dossier.status == DossierStatus.WITHDRAWN and refunds_of(session, dossier) == []


# -- reject


@pytest.mark.parametrize(
    "status",
    [DossierStatus.SUBMITTED, DossierStatus.RECEIVED, DossierStatus.IN_PROCESS, DossierStatus.SUPPLEMENT_REQUESTED],
)
def test_reject_an_open_dossier_once_with_its_refund(session: Session, status: DossierStatus) -> None:
    dossier = factories.dossier(session, submitted=True, status=status)
    paid = factories.payment(session, dossier=dossier)

    service.reject(session=session, dossier=dossier, reason="Thiếu giấy tờ", by="Cán bộ một cửa")
    service.reject(session=session, dossier=dossier, reason="Thiếu giấy tờ", by="Cán bộ một cửa")

    assert dossier.status == DossierStatus.REJECTED
    [event] = session.exec(select(DossierEvent).where(DossierEvent.dossier_id == dossier.id)).all()
    assert (event.kind, event.actor, event.details) == ("rejected", "Cán bộ một cửa", {"reason": "Thiếu giấy tờ"})
    [refund] = refunds_of(session, dossier)
    assert (refund.amount, refund.reason) == (paid.amount, "rejected")


@pytest.mark.parametrize("status", [DossierStatus.DRAFT, DossierStatus.WITHDRAWN, DossierStatus.COMPLETED])
def test_reject_refuses_a_dossier_that_is_not_open(session: Session, status: DossierStatus) -> None:
    dossier = factories.dossier(session, submitted=True, status=status)
    with pytest.raises(Conflict):
        service.reject(session=session, dossier=dossier, reason="Thiếu giấy tờ", by="Cán bộ một cửa")
    assert dossier.status == status


def test_reject_keeps_a_fee_that_is_not_given_back(session: Session) -> None:
    dossier = factories.dossier(session, procedure_code=CERTIFIED_COPY, submitted=True)
    factories.payment(session, dossier=dossier)

    service.reject(session=session, dossier=dossier, reason="Bản chính không hợp lệ", by="Cán bộ một cửa")

    assert dossier.status == DossierStatus.REJECTED and refunds_of(session, dossier) == []


# -- who sees what


def test_own_dossier_is_the_applicant_s_only(session: Session) -> None:
    applicant, other = factories.account(session), factories.account(session)
    dossier = factories.dossier(session, applicant=applicant)

    assert service.own_dossier(session, dossier.id, applicant) is dossier
    assert service.own_dossier(session, dossier.id, applicant, lock=True) is dossier
    with pytest.raises(NotFound):
        service.own_dossier(session, dossier.id, other)
    with pytest.raises(NotFound):
        service.own_dossier(session, "no-such-dossier", applicant)


def test_a_business_dossier_is_every_representative_s(session: Session) -> None:
    starter, colleague, outsider = (factories.account(session) for _ in range(3))
    firm = factories.business(session, representatives=(starter, colleague))
    for_firm = factories.dossier(session, applicant=starter, business_id=firm.id)
    personal = factories.dossier(session, applicant=starter)

    assert service.own_dossier(session, for_firm.id, colleague) is for_firm
    with pytest.raises(NotFound):
        service.own_dossier(session, for_firm.id, outsider)
    with pytest.raises(NotFound):
        service.own_dossier(session, personal.id, colleague)  # a representative's own dossiers stay private


def test_acting_identity_and_counts_separate_personal_and_business_dossiers(session: Session) -> None:
    person = factories.account(session)
    firm = factories.business(session, representatives=(person,))
    drafts = [factories.dossier(session, applicant=person) for _ in range(2)]
    sent = factories.dossier(session, applicant=person, submitted=True)
    for_firm = factories.dossier(session, applicant=person, business_id=firm.id)
    factories.dossier(session)  # someone else's

    def ids(business_id: str | None) -> set[str]:
        stmt = select(Dossier.id).where(service.acting_identity(person.id, business_id))
        return set(session.exec(stmt))

    assert ids(None) == {d.id for d in [*drafts, sent]}
    assert ids(firm.id) == {for_firm.id}
    assert service.count_by_status(session, person) == {DossierStatus.DRAFT: 2, DossierStatus.SUBMITTED: 1}
    assert service.count_by_status(session, person, business_id=firm.id) == {DossierStatus.DRAFT: 1}
