"""The dossier's life after submission (portal/dossiers/lifecycle.py), each use case called directly in a
transaction rolled back at the end of the test."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from payments.events import PaymentSucceeded
from portal.dossiers import deadline, issued, lifecycle, service
from portal.dossiers.lifecycle import SupplementItem
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierFile,
    DossierPause,
    DossierRating,
    DossierResult,
    DossierStatus,
    SupplementRequest,
    Timeliness,
)
from portal.kernel.calendar import add_working_days, appointment_date, local_date, working_days_between
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.events import publish
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.kernel.uow import unit_of_work
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.factories import marital_step1, pdf_bytes
from tests.lifecycle_factories import BACKOFFICE, OFFICER, applicant_of, procedure_of
from tests.signing.helpers import append_annotation

pytestmark = pytest.mark.db


storage, pki, trust = lf.storage, lf.pki, lf.trust


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")


# -- receive


def test_receive_sets_the_official_date_from_now_and_tells_everyone(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True, files=("to_khai",))
    before = lf.counter(session)

    lifecycle.receive(session=session, dossier=dossier, officer=OFFICER, by=BACKOFFICE)

    assert dossier.status == DossierStatus.RECEIVED and dossier.received_by == OFFICER
    assert dossier.received_at is not None
    due = appointment_date(as_utc(dossier.received_at), procedure_of(session, dossier).deadline_days)
    assert dossier.official_due_date == dossier.due_date == due
    [event] = lf.events(session, dossier)
    assert (event.kind, event.actor) == ("received", BACKOFFICE)
    assert event.details == {"officer": OFFICER, "agency": "UBXA", "due": due.isoformat()}
    [(kind, data)] = lf.pushes(session, dossier)
    assert kind == "dossier.received"
    assert (data["status"], data["received_by"], data["official_due_date"]) == ("received", OFFICER, due.isoformat())
    assert data["change_seq"] == dossier.change_seq == lf.counter(session) > before
    assert lf.notification_kinds(session, dossier) == ["dossier.received"]


def test_receive_twice_changes_nothing(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    lifecycle.receive(session=session, dossier=dossier, officer=OFFICER, by=BACKOFFICE)
    seq = dossier.change_seq

    lifecycle.receive(session=session, dossier=dossier, officer="Người khác", by=BACKOFFICE)

    assert dossier.received_by == OFFICER and dossier.change_seq == seq
    assert lf.kinds(session, dossier) == ["received"] and lf.push_types(session, dossier) == ["dossier.received"]


@pytest.mark.parametrize(
    "status", [DossierStatus.DRAFT, DossierStatus.IN_PROCESS, DossierStatus.WITHDRAWN, DossierStatus.COMPLETED]
)
def test_receive_is_refused_outside_submitted(session: Session, status: DossierStatus) -> None:
    dossier = factories.dossier(session, submitted=True, status=status)
    with pytest.raises(Conflict) as refused:
        lifecycle.receive(session=session, dossier=dossier, officer=OFFICER, by=BACKOFFICE)
    assert refused.value.params["status"] == status
    assert dossier.status == status and dossier.received_at is None
    assert lf.kinds(session, dossier) == [] and lf.push_types(session, dossier) == []


def test_receive_needs_the_officer_s_name(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    with pytest.raises(Invalid):
        lifecycle.receive(session=session, dossier=dossier, officer="  ", by=BACKOFFICE)
    assert dossier.status == DossierStatus.SUBMITTED


# -- processing and sub-status


def test_start_processing_from_received_only(session: Session) -> None:
    dossier = lf.received(session)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)  # a retry

    assert dossier.status == DossierStatus.IN_PROCESS
    assert lf.kinds(session, dossier) == ["processing_started"]
    assert lf.push_types(session, dossier) == ["dossier.processing_started"]

    submitted = factories.dossier(session, submitted=True)
    with pytest.raises(Conflict):
        lifecycle.start_processing(session=session, dossier=submitted, by=BACKOFFICE)
    assert submitted.status == DossierStatus.SUBMITTED


def test_sub_status_is_shown_then_cleared_by_the_next_main_status(session: Session) -> None:
    dossier = lf.received(session)

    lifecycle.set_sub_status(
        session=session,
        dossier=dossier,
        code="cho_phe_duyet",
        text_vi="Chờ phê duyệt",
        text_en="Awaiting approval",
        by=BACKOFFICE,
    )
    lifecycle.set_sub_status(  # the same again: nothing new
        session=session,
        dossier=dossier,
        code="cho_phe_duyet",
        text_vi="Chờ phê duyệt",
        text_en="Awaiting approval",
        by=BACKOFFICE,
    )

    assert (dossier.sub_status, dossier.sub_status_vi, dossier.sub_status_en) == (
        "cho_phe_duyet",
        "Chờ phê duyệt",
        "Awaiting approval",
    )
    [(kind, data)] = lf.pushes(session, dossier)
    assert kind == "dossier.sub_status_changed" and data["sub_status"] == "cho_phe_duyet"
    assert data["sub_status_vi"] == "Chờ phê duyệt"
    assert lf.kinds(session, dossier) == ["sub_status"]

    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
    session.refresh(dossier)
    assert (dossier.sub_status, dossier.sub_status_vi, dossier.sub_status_en) == (None, None, None)


@pytest.mark.parametrize("status", [DossierStatus.DRAFT, DossierStatus.COMPLETED, DossierStatus.REJECTED])
def test_sub_status_is_refused_outside_the_agency_s_work(session: Session, status: DossierStatus) -> None:
    dossier = factories.dossier(session, submitted=True, status=status)
    with pytest.raises(Conflict):
        lifecycle.set_sub_status(session=session, dossier=dossier, code="x", text_vi="x", text_en="x", by=BACKOFFICE)
    assert dossier.sub_status is None


def test_sub_status_needs_its_texts(session: Session) -> None:
    dossier = lf.received(session)
    with pytest.raises(Invalid):
        lifecycle.set_sub_status(session=session, dossier=dossier, code="x", text_vi="", text_en="x", by=BACKOFFICE)


# -- supplements


ASK_FILE = SupplementItem(kind="component", target="giay_to_ly_hon", reason="Thiếu bản án ly hôn")
ASK_PHONE = SupplementItem(kind="field", target="phone", reason="Số điện thoại không liên lạc được")


def request(session: Session, dossier: Dossier, *items: SupplementItem) -> SupplementRequest:
    return lifecycle.request_supplement(
        session=session,
        dossier=dossier,
        items=items or (ASK_FILE, ASK_PHONE),
        message="Đề nghị bổ sung hồ sơ.",
        by=BACKOFFICE,
    )


def test_request_supplement_stops_the_clock_and_lists_the_items(session: Session) -> None:
    dossier = lf.received(session)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)

    asked = request(session, dossier)

    assert dossier.status == DossierStatus.SUPPLEMENT_REQUESTED
    assert asked.items == [
        {"kind": "component", "target": "giay_to_ly_hon", "reason": "Thiếu bản án ly hôn"},
        {"kind": "field", "target": "phone", "reason": "Số điện thoại không liên lạc được"},
    ]
    assert lifecycle.open_supplement(session, dossier) == asked
    assert lifecycle.supplement_targets(session, dossier) == ({"phone"}, {"giay_to_ly_hon"})
    [pause] = session.exec(select(DossierPause).where(DossierPause.dossier_id == dossier.id)).all()
    assert (pause.supplement_id, pause.ended_at) == (asked.id, None)
    kind, data = lf.pushes(session, dossier)[-1]
    assert kind == "dossier.supplement_requested"
    assert (
        data["items"] == asked.items
        and data["message"] == "Đề nghị bổ sung hồ sơ."
        and data["supplement_id"] == asked.id
    )
    assert lf.events(session, dossier)[-1].details["items"] == asked.items
    assert "dossier.supplement" in lf.notification_kinds(session, dossier)

    # The same request again (a retried call) is the same; another one while it is open is refused.
    assert request(session, dossier) == asked
    with pytest.raises(Conflict):
        request(session, dossier, ASK_PHONE)


def test_request_supplement_refuses_bad_items(session: Session) -> None:
    dossier = lf.received(session)
    with pytest.raises(Invalid):
        lifecycle.request_supplement(session=session, dossier=dossier, items=[], message="Bổ sung", by=BACKOFFICE)
    with pytest.raises(Invalid) as unknown:
        request(session, dossier, SupplementItem(kind="component", target="giay_phep_bay", reason="?"))
    assert unknown.value.params["target"] == "giay_phep_bay"
    with pytest.raises(Invalid):
        request(session, dossier, SupplementItem(kind="field", target="so_thich", reason="?"))
    with pytest.raises(Invalid):
        request(session, dossier, SupplementItem(kind="field", target="phone", reason="  "))
    assert dossier.status == DossierStatus.RECEIVED
    assert session.exec(select(SupplementRequest).where(SupplementRequest.dossier_id == dossier.id)).all() == []


@pytest.mark.parametrize("status", [DossierStatus.SUBMITTED, DossierStatus.RESULT_READY, DossierStatus.COMPLETED])
def test_request_supplement_is_refused_outside_reception_and_processing(
    session: Session, status: DossierStatus
) -> None:
    dossier = lf.received(session, status=status)
    with pytest.raises(Conflict):
        request(session, dossier)
    assert dossier.status == status


def _raw(values: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


def test_during_a_supplement_only_the_named_answers_and_documents_change(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = lf.received(session)
    request(session, dossier)
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    procedure = procedure_of(session, dossier)

    result = service.save_step(
        session=session,
        dossier=dossier,
        defn=defn,
        step_id="applicant",
        raw=_raw(marital_step1(phone="0987 654 321", full_name="Tên Khác Hẳn", cccd="")),
    )
    assert result.errors == {}  # the read-only fields are checked with their stored values, not what was posted
    assert dossier.data["phone"] == "0987654321"  # asked for: changed
    assert dossier.data["full_name"] == "Nguyễn Thị Hường"  # not asked for: read-only
    assert dossier.data["cccd"] == "001190012345"

    ready = service.prepare_files([service.Upload("ban-an.pdf", pdf_bytes("Ban an"))], max_file_bytes=10**6)
    [added] = service.add_files(
        session=session,
        storage=storage,
        settings=settings,
        dossier=dossier,
        procedure=procedure,
        component_id="giay_to_ly_hon",
        files=ready,
    )
    assert added.component_id == "giay_to_ly_hon"
    with pytest.raises(Conflict):
        service.add_files(
            session=session,
            storage=storage,
            settings=settings,
            dossier=dossier,
            procedure=procedure,
            component_id="to_khai",
            files=ready,
        )
    form = session.exec(
        select(DossierFile).where(DossierFile.dossier_id == dossier.id, DossierFile.component_id == "to_khai")
    ).one()
    with pytest.raises(Conflict):
        service.remove_file(session=session, dossier=dossier, file_id=form.id)
    service.remove_file(session=session, dossier=dossier, file_id=added.id)  # a named document: allowed


def test_without_a_supplement_a_received_dossier_stays_read_only(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = lf.received(session)
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    with pytest.raises(Conflict):
        service.save_step(session=session, dossier=dossier, defn=defn, step_id="applicant", raw=_raw(marital_step1()))
    ready = service.prepare_files([service.Upload("a.pdf", pdf_bytes())], max_file_bytes=10**6)
    with pytest.raises(Conflict):
        service.add_files(
            session=session,
            storage=storage,
            settings=settings,
            dossier=dossier,
            procedure=procedure_of(session, dossier),
            component_id="giay_to_ly_hon",
            files=ready,
        )


def test_answer_supplement_needs_the_documents_then_restarts_the_clock(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = lf.received(session)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
    asked = request(session, dossier)
    applicant = applicant_of(session, dossier)
    # The request was made 9 calendar days ago (whatever today is, the pause spans working days).
    [pause] = session.exec(select(DossierPause).where(DossierPause.dossier_id == dossier.id)).all()
    pause.started_at = asked.requested_at = utcnow() - timedelta(days=9)
    session.add_all([pause, asked])
    official, promised = dossier.official_due_date, dossier.due_date
    assert official is not None and promised is not None

    with pytest.raises(Invalid) as missing:
        lifecycle.answer_supplement(session=session, dossier=dossier, by=applicant)
    assert missing.value.params["components"] == "giay_to_ly_hon"
    assert dossier.status == DossierStatus.SUPPLEMENT_REQUESTED

    ready = service.prepare_files([service.Upload("ban-an.pdf", pdf_bytes("Ban an"))], max_file_bytes=10**6)
    service.add_files(
        session=session,
        storage=storage,
        settings=settings,
        dossier=dossier,
        procedure=procedure_of(session, dossier),
        component_id="giay_to_ly_hon",
        files=ready,
    )
    lifecycle.answer_supplement(session=session, dossier=dossier, by=applicant)

    days = working_days_between(local_date(as_utc(pause.started_at)), local_date(utcnow()))
    assert days >= 5
    assert dossier.status == DossierStatus.IN_PROCESS  # processing had started: it goes on
    assert dossier.official_due_date == add_working_days(official, days)
    assert dossier.due_date == add_working_days(promised, days)
    session.refresh(pause)
    session.refresh(asked)
    assert pause.ended_at is not None and asked.answered_at is not None and asked.answered_by == applicant.full_name
    assert lifecycle.open_supplement(session, dossier) is None
    assert lifecycle.supplement_targets(session, dossier) == (set(), set())
    kind, data = lf.pushes(session, dossier)[-1]
    assert kind == "dossier.supplement_answered"
    assert (data["supplement_id"], data["paused_working_days"]) == (asked.id, days)
    assert data["official_due_date"] == dossier.official_due_date.isoformat()

    with pytest.raises(Conflict):  # nothing is open any more
        lifecycle.answer_supplement(session=session, dossier=dossier, by=applicant)


def test_a_supplement_of_a_dossier_not_yet_processed_goes_back_to_received(session: Session) -> None:
    dossier = lf.received(session)
    request(session, dossier, ASK_PHONE)
    lifecycle.answer_supplement(session=session, dossier=dossier, by=applicant_of(session, dossier))
    assert dossier.status == DossierStatus.RECEIVED
    assert lf.kinds(session, dossier) == ["supplement_requested", "supplement_answered"]


def test_answer_supplement_refuses_invalid_answers(session: Session) -> None:
    dossier = lf.received(session)
    request(session, dossier, ASK_PHONE)
    dossier.data = {**dossier.data, "phone": "12"}
    session.add(dossier)
    with pytest.raises(Invalid) as refused:
        lifecycle.answer_supplement(session=session, dossier=dossier, by=applicant_of(session, dossier))
    assert "phone" in refused.value.params["fields"]


# -- results


def issue(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    trust: TrustSetup,
    dossier: Dossier,
    *files: tuple[str, bytes],
) -> list[DossierResult]:
    return lifecycle.issue_result(
        session=session, storage=storage, settings=settings, dossier=dossier, files=files, by=BACKOFFICE, trust=trust
    )


def test_issue_result_keeps_the_signed_pdf_and_a_sealed_copy(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = lf.received(session)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
    pdf = lf.sign(agency_cert, pdf_bytes("Giay xac nhan tinh trang hon nhan"))

    [result] = issue(session, storage, settings, trust, dossier, ("giay-xac-nhan.pdf", pdf))

    assert dossier.status == DossierStatus.RESULT_READY and dossier.result_ready_at is not None
    assert (result.filename, result.sha256, result.size) == (
        "giay-xac-nhan.pdf",
        hashlib.sha256(pdf).hexdigest(),
        len(pdf),
    )
    assert storage.get(result.storage_key) == pdf
    sealed = storage.get(result.sealed_key)
    assert sealed.startswith(pdf) and len(sealed) > len(pdf)  # the seal is an incremental revision
    assert result.sealed_sha256 == hashlib.sha256(sealed).hexdigest() != result.sha256
    report = result.signature_report
    assert report["ok"] is True and report["problems"] == []
    assert report["signer"] == "Ủy ban nhân dân phường Hoa Lư" and report["issuer"] and report["signing_time"]
    kind, data = lf.pushes(session, dossier)[-1]
    assert kind == "dossier.result_issued"
    assert data["results"] == [{"id": result.id, "filename": "giay-xac-nhan.pdf", "sha256": result.sha256}]
    assert "dossier.result" in lf.notification_kinds(session, dossier)
    # /verify recognises both the agency's file and the portal's sealed copy, each with its stored copy.
    [by_original] = issued.results(session, result.sha256, 10)
    [by_sealed] = issued.results(session, result.sealed_sha256, 10)
    assert (by_original.reference, by_original.kind, by_original.storage_key) == (
        dossier.code,
        "result",
        result.storage_key,
    )
    assert by_sealed.storage_key == result.sealed_key

    # The same upload again (a retried request) returns the same results; another one is refused.
    assert issue(session, storage, settings, trust, dossier, ("giay-xac-nhan.pdf", pdf)) == [result]
    with pytest.raises(Conflict):
        issue(session, storage, settings, trust, dossier, ("khac.pdf", lf.sign(agency_cert, pdf_bytes("Khac"))))


def _refused(session: Session, storage: LocalStorage, settings: Settings, trust: TrustSetup, data: bytes) -> Invalid:
    dossier = lf.received(session)
    with pytest.raises(Invalid) as refused:
        issue(session, storage, settings, trust, dossier, ("ket-qua.pdf", data))
    assert dossier.status == DossierStatus.RECEIVED
    assert session.exec(select(DossierResult).where(DossierResult.dossier_id == dossier.id)).all() == []
    assert lf.push_types(session, dossier) == []
    assert refused.value.params["file"] == "ket-qua.pdf"
    return refused.value


def test_issue_result_refuses_what_is_not_a_pdf(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup
) -> None:
    error = _refused(session, storage, settings, trust, b"GIF89a not a pdf")
    assert "not a PDF" in error.params["reason"]


def test_issue_result_refuses_an_unsigned_pdf(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup
) -> None:
    error = _refused(session, storage, settings, trust, pdf_bytes("Chua ky"))
    assert "no digital signature" in error.params["reason"]


def test_issue_result_refuses_an_untrusted_signer(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup
) -> None:
    error = _refused(session, storage, settings, trust, lf.sign(lf.self_signed(), pdf_bytes("Gia mao")))
    assert "trust" in error.params["reason"]


def test_issue_result_refuses_a_revoked_certificate(
    session: Session, settings: Settings, storage: LocalStorage, pki: DevPKI
) -> None:
    person = pki.issue_person(full_name="Cán Bộ Đã Nghỉ", cccd="001090000777")
    assert isinstance(person, Issued) and person.key is not None
    signed = lf.sign(person, pdf_bytes("Ket qua"))
    pki.revoke(person.serial)
    trust = TrustSetup((pki.root,), tuple(pki.crls_der()), False)  # the CRL that lists it
    error = _refused(session, storage, settings, trust, signed)
    assert "revoked" in error.params["reason"]


def test_issue_result_refuses_a_pdf_modified_after_signing(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    modified = append_annotation(lf.sign(agency_cert, pdf_bytes("Ket qua")))
    error = _refused(session, storage, settings, trust, modified)
    assert "changed after" in error.params["reason"]


def test_issue_result_refuses_no_file_and_a_dossier_not_in_the_agency_s_hands(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    with pytest.raises(Invalid):
        issue(session, storage, settings, trust, lf.received(session))
    submitted = factories.dossier(session, submitted=True)
    with pytest.raises(Conflict):
        issue(session, storage, settings, trust, submitted, ("a.pdf", lf.sign(agency_cert, pdf_bytes())))
    assert submitted.status == DossierStatus.SUBMITTED


# -- apology


def test_apology_needs_a_late_dossier_and_a_future_date(session: Session) -> None:
    on_time = lf.received(session, official_due_date=lf.local_day_offset(2), due_date=lf.local_day_offset(2))
    with pytest.raises(Conflict):
        lifecycle.apologise(
            session=session, dossier=on_time, reason="Cần xác minh", new_date=lf.local_day_offset(5), by=BACKOFFICE
        )
    due_today = lf.received(session, official_due_date=lf.local_day_offset(0), due_date=lf.local_day_offset(0))
    with pytest.raises(Conflict):  # not late before the end of its day
        lifecycle.apologise(
            session=session, dossier=due_today, reason="Cần xác minh", new_date=lf.local_day_offset(5), by=BACKOFFICE
        )
    late = lf.received(session, official_due_date=lf.local_day_offset(-3), due_date=lf.local_day_offset(-3))
    for past in (lf.local_day_offset(-1), lf.local_day_offset(0)):
        with pytest.raises(Invalid):
            lifecycle.apologise(session=session, dossier=late, reason="Cần xác minh", new_date=past, by=BACKOFFICE)
    assert late.due_date == lf.local_day_offset(-3)
    assert session.exec(select(DossierApology).where(DossierApology.dossier_id == late.id)).all() == []


def test_apology_promises_a_new_date_and_keeps_the_official_one(session: Session) -> None:
    official = lf.local_day_offset(-3)
    dossier = lf.received(session, official_due_date=official, due_date=official)
    new_date = lf.local_day_offset(4)

    apology = lifecycle.apologise(
        session=session, dossier=dossier, reason="Cần xác minh thêm tại địa phương", new_date=new_date, by=BACKOFFICE
    )
    again = lifecycle.apologise(
        session=session, dossier=dossier, reason="Cần xác minh thêm tại địa phương", new_date=new_date, by=BACKOFFICE
    )

    assert again.id == apology.id
    assert (apology.previous_date, apology.new_date) == (official, new_date)
    assert (dossier.official_due_date, dossier.due_date) == (official, new_date)
    assert lf.kinds(session, dossier) == ["apology"]
    event = lf.events(session, dossier)[0]
    assert event.details["new_date"] == new_date.isoformat() and event.details["reason"].startswith("Cần xác minh")
    [(kind, data)] = lf.pushes(session, dossier)
    assert kind == "dossier.apologised"
    assert (data["new_date"], data["previous_date"], data["due_date"]) == (
        new_date.isoformat(),
        official.isoformat(),
        new_date.isoformat(),
    )
    assert lf.notification_kinds(session, dossier) == ["dossier.apology"]

    # A result on the new date is still late: lateness counts against the official date.
    dossier.result_ready_at = utcnow()
    assert deadline.judge(dossier) == Timeliness.LATE


def test_apology_is_refused_for_an_ended_dossier(session: Session) -> None:
    dossier = lf.received(
        session,
        status=DossierStatus.COMPLETED,
        official_due_date=lf.local_day_offset(-3),
        due_date=lf.local_day_offset(-3),
    )
    with pytest.raises(Conflict):
        lifecycle.apologise(
            session=session, dossier=dossier, reason="Trễ", new_date=lf.local_day_offset(3), by=BACKOFFICE
        )


# -- completion and rating


def test_complete_judges_the_dossier(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = lf.received(session, official_due_date=lf.local_day_offset(2), due_date=lf.local_day_offset(2))
    issue(session, storage, settings, trust, dossier, ("kq.pdf", lf.sign(agency_cert, pdf_bytes("Ket qua"))))

    with pytest.raises(Invalid):
        lifecycle.complete(session=session, dossier=dossier, handover="drone", by=BACKOFFICE)
    lifecycle.complete(session=session, dossier=dossier, handover="centre", by=BACKOFFICE)
    lifecycle.complete(session=session, dossier=dossier, handover="online", by=BACKOFFICE)  # a retry

    assert dossier.status == DossierStatus.COMPLETED and dossier.completed_at is not None
    assert (dossier.handover, dossier.timeliness) == ("centre", Timeliness.EARLY)
    assert lf.kinds(session, dossier)[-1] == "completed"
    kind, data = lf.pushes(session, dossier)[-1]
    assert (kind, data["handover"], data["timeliness"]) == ("dossier.completed", "centre", "early")
    assert lf.push_types(session, dossier).count("dossier.completed") == 1
    assert "dossier.completed" in lf.notification_kinds(session, dossier)


@pytest.mark.parametrize("status", [DossierStatus.RECEIVED, DossierStatus.IN_PROCESS, DossierStatus.REJECTED])
def test_complete_needs_a_result(session: Session, status: DossierStatus) -> None:
    dossier = lf.received(session, status=status)
    with pytest.raises(Conflict):
        lifecycle.complete(session=session, dossier=dossier, handover="online", by=BACKOFFICE)
    assert dossier.status == status and dossier.completed_at is None


SCORES = {"reception": 5, "guidance": 4, "result_correct": 5, "on_time": 3, "fees_as_announced": 5}


def test_rate_a_completed_dossier_once(session: Session) -> None:
    dossier = lf.received(session, status=DossierStatus.COMPLETED)
    applicant = applicant_of(session, dossier)
    assert [c.value for c in lifecycle.RATING_CRITERIA] == list(SCORES)
    assert all(c.label for c in lifecycle.RATING_CRITERIA)

    rating = lifecycle.rate(session=session, dossier=dossier, account=applicant, scores=SCORES, comment=" Tốt ")

    assert (rating.scores, rating.comment, rating.account_id) == (SCORES, "Tốt", applicant.id)
    assert session.get(DossierRating, dossier.id) is rating
    [(kind, data)] = lf.pushes(session, dossier)
    assert (kind, data["scores"], data["comment"]) == ("dossier.rated", SCORES, "Tốt")
    with pytest.raises(Conflict):
        lifecycle.rate(session=session, dossier=dossier, account=applicant, scores=SCORES, comment=None)


@pytest.mark.parametrize(
    "scores",
    [
        {**SCORES, "reception": 6},
        {**SCORES, "guidance": 0},
        {k: v for k, v in SCORES.items() if k != "on_time"},
        {**SCORES, "speed": 5},
    ],
)
def test_rate_refuses_bad_scores(session: Session, scores: dict[str, int]) -> None:
    dossier = lf.received(session, status=DossierStatus.COMPLETED)
    with pytest.raises(Invalid):
        lifecycle.rate(
            session=session, dossier=dossier, account=applicant_of(session, dossier), scores=scores, comment=None
        )
    assert session.get(DossierRating, dossier.id) is None


def test_rate_only_after_completion(session: Session) -> None:
    dossier = lf.received(session, status=DossierStatus.RESULT_READY)
    with pytest.raises(Conflict):
        lifecycle.rate(
            session=session, dossier=dossier, account=applicant_of(session, dossier), scores=SCORES, comment=None
        )


# -- reject, the citizen's actions, the change feed


def test_reject_pushes_and_tells_the_applicant(session: Session) -> None:
    dossier = lf.received(session)
    service.reject(session=session, dossier=dossier, reason="Không đủ điều kiện", by=BACKOFFICE)
    [(kind, data)] = lf.pushes(session, dossier)
    assert (kind, data["status"], data["reason"]) == ("dossier.rejected", "rejected", "Không đủ điều kiện")
    [note] = lf.notifications(session, dossier)
    assert note.params["reason"] == "Không đủ điều kiện"


def test_the_citizen_s_actions_are_pushed(session: Session, settings: Settings) -> None:
    applicant = factories.account(session)
    draft = factories.dossier(session, applicant=applicant, files=("to_khai",))
    procedure = procedure_of(session, draft)
    defn = service.get_definition(session, draft.form_id, draft.form_version)
    service.submit(session=session, dossier=draft, procedure=procedure, defn=defn, by=applicant, settings=settings)
    paid = factories.payment(session, dossier=draft)
    publish(session, PaymentSucceeded(payment=paid))
    service.withdraw(session=session, dossier=draft, by=applicant)

    types = lf.push_types(session, draft)
    assert types == ["dossier.submitted", "dossier.paid", "dossier.withdrawn"]
    submitted = lf.pushes(session, draft)[0][1]
    assert (submitted["channel"], submitted["code"], submitted["status"]) == ("online", draft.code, "submitted")
    assert lf.pushes(session, draft)[1][1]["amount"] == paid.amount


def test_a_draft_is_never_pushed_nor_numbered(session: Session) -> None:
    draft = factories.dossier(session)
    service.add_event(session, draft, "created", actor="x")
    assert draft.change_seq == 0


def test_every_visible_change_takes_the_next_number_of_the_feed(session: Session) -> None:
    first, second = lf.received(session), lf.received(session)
    seen = []
    lifecycle.start_processing(session=session, dossier=first, by=BACKOFFICE)
    seen.append(first.change_seq)
    lifecycle.start_processing(session=session, dossier=second, by=BACKOFFICE)
    seen.append(second.change_seq)
    lifecycle.set_sub_status(
        session=session, dossier=first, code="a", text_vi="Bước A", text_en="Step A", by=BACKOFFICE
    )
    seen.append(first.change_seq)

    assert seen == sorted(seen) and len(set(seen)) == 3 and seen[-1] == lf.counter(session)
    assert [seq - seen[0] for seq in seen] == [0, 1, 2]
    stored = session.exec(select(Dossier.change_seq).where(col(Dossier.id) == first.id)).one()
    assert stored == first.change_seq  # written to the row, not only to the object
    ordered = session.exec(
        select(Dossier.id).where(col(Dossier.id).in_([first.id, second.id])).order_by(col(Dossier.change_seq))
    ).all()
    assert list(ordered) == [second.id, first.id]


def test_pushes_carry_the_change_number_of_their_change(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    lifecycle.receive(session=session, dossier=dossier, officer=OFFICER, by=BACKOFFICE)
    lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
    seqs = [data["change_seq"] for _, data in lf.pushes(session, dossier)]
    assert seqs == sorted(seqs) and seqs[0] < seqs[1] == dossier.change_seq


# -- concurrent calls (committed for real, on the test database's engine)


def test_parallel_calls_make_one_transition_and_distinct_change_numbers(engine: Engine, settings: Settings) -> None:
    with unit_of_work(engine, write=True, settings=settings) as s:
        ids = [lf.received(s).id for _ in range(3)]
        s.exec(select(Dossier).where(col(Dossier.id).in_(ids))).all()
    barrier = threading.Barrier(6)

    def ask(index: int) -> str:
        barrier.wait()
        with unit_of_work(engine, write=True, settings=settings) as s:
            dossier = s.get(Dossier, ids[index % 3])
            assert dossier is not None
            return request(s, dossier, ASK_PHONE).id

    with ThreadPoolExecutor(6) as pool:
        asked = list(pool.map(ask, range(6)))

    with unit_of_work(engine) as s:
        for index, dossier_id in enumerate(ids):
            dossier = s.get(Dossier, dossier_id)
            assert dossier is not None and dossier.status == DossierStatus.SUPPLEMENT_REQUESTED
            [one] = s.exec(select(SupplementRequest).where(SupplementRequest.dossier_id == dossier_id)).all()
            assert asked[index] == asked[index + 3] == one.id  # both callers got the one request
            assert lf.kinds(s, dossier) == ["supplement_requested"]
            assert lf.push_types(s, dossier) == ["dossier.supplement_requested"]
        seqs = s.exec(select(Dossier.change_seq).where(col(Dossier.id).in_(ids))).all()
        assert len(set(seqs)) == 3 and max(seqs) <= lf.counter(s)


def test_a_sub_status_of_the_longest_length_is_notified(session: Session) -> None:
    dossier = lf.received(session)
    long_vi, long_en = ("Chờ lãnh đạo phê duyệt " * 9)[:200], ("Awaiting the director's approval " * 7)[:200]
    lifecycle.set_sub_status(
        session=session, dossier=dossier, code="x" * 60, text_vi=long_vi, text_en=long_en, by=BACKOFFICE
    )
    [note] = lf.notifications(session, dossier)
    assert note.params["step"] == long_vi.strip()
    with pytest.raises(Invalid):
        lifecycle.set_sub_status(
            session=session, dossier=dossier, code="y", text_vi="x" * 201, text_en="x", by=BACKOFFICE
        )


def test_a_long_actor_label_is_kept_short_on_the_timeline(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    by = "api:" + "c" * 120
    lifecycle.receive(session=session, dossier=dossier, officer="Nguyễn Văn " + "A" * 100, by=by)
    [event] = lf.events(session, dossier)
    assert event.actor == by[:80]


def test_rejecting_while_a_supplement_is_awaited_ends_the_clock_pause(session: Session) -> None:
    from portal.dossiers.models import DossierPause

    dossier = lf.received(session)
    request(session, dossier)
    service.reject(session=session, dossier=dossier, reason="Không bổ sung đúng hạn", by=BACKOFFICE)
    pauses = session.exec(select(DossierPause).where(DossierPause.dossier_id == dossier.id)).all()
    assert len(pauses) == 1 and pauses[0].ended_at is not None


def test_reject_needs_a_reason(session: Session) -> None:
    dossier = lf.received(session)
    with pytest.raises(Invalid):
        service.reject(session=session, dossier=dossier, reason="  ", by=BACKOFFICE)
    assert dossier.status == DossierStatus.RECEIVED
