"""Counter intake (portal/dossiers/intake.py): a paper dossier registered by the officer lives like an online one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from auth.models import Account
from portal.catalog.models import Procedure
from portal.dossiers import intake, service
from portal.dossiers.intake import CounterApplicant
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import as_utc, local
from portal.kernel.errors import Invalid
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from tests import factories
from tests import lifecycle_factories as lf
from tests.factories import MARITAL, jpeg_bytes, marital_answers, pdf_bytes
from tests.lifecycle_factories import OFFICER

pytestmark = pytest.mark.db


@pytest.fixture()
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.storage_dir))


def marital(session: Session) -> Procedure:
    procedure = session.get(Procedure, MARITAL)
    assert procedure is not None
    return procedure


def person(cccd: str = "001190099999", **over: Any) -> CounterApplicant:
    values: dict[str, Any] = {"cccd": cccd, "full_name": "Phạm Thị Quầy", "phone": "0912 000 111"}
    values.update(over)
    return CounterApplicant(**values)


def register(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    *,
    applicant: CounterApplicant | None = None,
    answers: dict[str, Any] | None = None,
    files: list[tuple[str, str, bytes]] | None = None,
) -> Dossier:
    return intake.register_at_counter(
        session=session,
        storage=storage,
        settings=settings,
        procedure=marital(session),
        applicant=applicant or person(),
        answers=marital_answers() if answers is None else answers,
        files=[("to_khai", "to-khai.jpg", jpeg_bytes())] if files is None else files,
        officer=OFFICER,
        by="api:ubxa-backoffice",
    )


def dossiers_of_cccd(session: Session, cccd: str) -> int:
    stmt = select(func.count()).select_from(Dossier).join(Account, col(Account.id) == col(Dossier.applicant_id))
    return int(session.exec(stmt.where(Account.cccd == cccd)).one())


def test_a_counter_dossier_is_received_at_once_with_a_code_a_receipt_and_a_date(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = register(session, storage, settings)

    procedure = marital(session)
    assert dossier.status == DossierStatus.RECEIVED and dossier.channel == "counter"
    assert (dossier.intake_officer, dossier.received_by) == (OFFICER, OFFICER)
    assert dossier.submitted_at is not None and dossier.received_at is not None
    received_at = as_utc(dossier.received_at)
    day = local(received_at).strftime("%y%m%d")
    assert dossier.code and re.fullmatch(rf"UBXA-{day}-\d{{4}}", dossier.code)
    due = appointment_date(received_at, procedure.deadline_days)
    assert dossier.due_date == dossier.official_due_date == due
    assert dossier.delivery_method == "centre"  # handed in at the centre: collected there unless asked otherwise
    assert dossier.data["full_name"] == "Nguyễn Thị Hường" and dossier.data["phone"] == "0912345678"

    applicant = session.get(Account, dossier.applicant_id)
    assert applicant is not None
    assert (applicant.cccd, applicant.full_name, applicant.phone, applicant.password_hash) == (
        "001190099999",
        "Phạm Thị Quầy",
        "0912000111",
        None,
    )
    [file] = session.exec(select(DossierFile).where(DossierFile.dossier_id == dossier.id)).all()
    assert (file.component_id, file.filename, file.original_media_type) == ("to_khai", "to-khai.pdf", "image/jpeg")
    assert storage.get(file.storage_key).startswith(b"%PDF-")

    [event] = lf.events(session, dossier)
    assert (event.kind, event.details["officer"], event.details["due"]) == (
        "registered_at_counter",
        OFFICER,
        due.isoformat(),
    )
    receipts = session.exec(select(OutboxMessage).where(OutboxMessage.topic == "dossier.submitted")).all()
    assert [m for m in receipts if m.payload["dossier_id"] == dossier.id]
    [(kind, data)] = lf.pushes(session, dossier)
    assert (kind, data["status"], data["channel"], data["intake_officer"]) == (
        "dossier.registered",
        "received",
        "counter",
        OFFICER,
    )
    assert data["change_seq"] == dossier.change_seq > 0
    assert lf.notification_kinds(session, dossier) == ["dossier.registered"]
    # It counts like any other dossier of the applicant.
    assert service.count_by_status(session, applicant) == {DossierStatus.RECEIVED: 1}


def test_the_same_cccd_finds_the_same_account(session: Session, settings: Settings, storage: LocalStorage) -> None:
    existing = factories.account(session, cccd="001190088888", full_name="Lê Văn Có Sẵn")
    dossier = register(session, storage, settings, applicant=person("001190088888", full_name="Tên Gõ Ở Quầy"))
    again = register(session, storage, settings, applicant=person("001190088888"))
    assert dossier.applicant_id == again.applicant_id == existing.id
    assert existing.full_name == "Lê Văn Có Sẵn"  # an existing account is not rewritten from the counter
    assert dossier.code != again.code


def test_a_phone_already_used_stays_with_its_account(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    factories.account(session, phone="0912000222")
    dossier = register(session, storage, settings, applicant=person("001190077777", phone="0912000222"))
    applicant = session.get(Account, dossier.applicant_id)
    assert applicant is not None and applicant.phone is None and applicant.cccd == "001190077777"


def test_missing_mandatory_documents_are_listed(session: Session, settings: Settings, storage: LocalStorage) -> None:
    with pytest.raises(Invalid) as refused:
        register(
            session,
            storage,
            settings,
            applicant=person("001190066666"),
            files=[("giay_to_ly_hon", "ban-an.pdf", pdf_bytes())],
        )
    assert refused.value.params["components"] == "to_khai"
    assert dossiers_of_cccd(session, "001190066666") == 0


def test_an_unknown_document_is_refused(session: Session, settings: Settings, storage: LocalStorage) -> None:
    with pytest.raises(Invalid) as refused:
        register(
            session,
            storage,
            settings,
            applicant=person("001190055555"),
            files=[("to_khai", "a.pdf", pdf_bytes()), ("so_do", "b.pdf", pdf_bytes())],
        )
    assert refused.value.params["components"] == "so_do"
    assert dossiers_of_cccd(session, "001190055555") == 0


def test_invalid_answers_are_refused_with_their_fields(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    with pytest.raises(Invalid) as refused:
        register(
            session, storage, settings, applicant=person("001190044444"), answers=marital_answers(cccd="12ab", copies=0)
        )
    assert {"cccd", "copies"} <= set(refused.value.params["errors"])
    with pytest.raises(Invalid) as unknown:
        register(session, storage, settings, applicant=person("001190044444"), answers={**marital_answers(), "x": 1})
    assert unknown.value.params["fields"] == "x"
    with pytest.raises(Invalid):
        register(session, storage, settings, applicant=person("001190044444"), answers={})
    assert dossiers_of_cccd(session, "001190044444") == 0


def test_a_bad_file_is_refused_with_its_name(session: Session, settings: Settings, storage: LocalStorage) -> None:
    with pytest.raises(Exception) as refused:
        register(
            session, storage, settings, applicant=person("001190033333"), files=[("to_khai", "hong.pdf", b"not a pdf")]
        )
    assert getattr(refused.value, "params", {}).get("file") == "hong.pdf"
    assert getattr(refused.value, "status_code", 500) < 500


def test_the_applicant_must_carry_a_cccd() -> None:
    with pytest.raises(ValueError):
        CounterApplicant(cccd="123", full_name="Không Số")
    with pytest.raises(ValueError):
        CounterApplicant(cccd="001190033333", full_name="  ")
