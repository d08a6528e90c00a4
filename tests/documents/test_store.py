"""The personal document store's use cases: results kept when issued, a kept document reused in a later
dossier without a new upload, who may see and use what, expiry, deletion, the ZIP, a business's store."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from auth.models import Account
from forms.definition import FormDefinition
from portal.businesses.models import Representative
from portal.catalog.models import Agency
from portal.documents import service as store
from portal.documents.models import DocumentSource, StoredDocument
from portal.dossiers import issued, lifecycle, service, store_links
from portal.dossiers.events import ResultIssued
from portal.dossiers.lifecycle import SupplementItem
from portal.dossiers.models import Dossier, DossierFile, DossierResult, DossierStatus
from portal.kernel.errors import Conflict, DomainError, Invalid, NotFound
from portal.kernel.events import publish
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.documents.helpers import ID_CARD, MARITAL_CERT, kept, typed_procedure
from tests.factories import marital_answers, pdf_bytes
from tests.lifecycle_factories import BACKOFFICE, pki, storage, trust  # noqa: F401  (fixtures)

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:  # noqa: F811
    return pki.issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")


def documents(session: Session, owner: store.Owner) -> list[StoredDocument]:
    return store.documents_of(session, owner)


Issue = Callable[[Dossier], DossierResult]


@pytest.fixture()
def issue(
    session: Session,
    storage: LocalStorage,  # noqa: F811
    settings: Settings,
    trust: TrustSetup,  # noqa: F811
    agency_cert: Issued,
) -> Issue:
    """Issue a received dossier's result: a PDF the agency signed."""

    def issue_result(dossier: Dossier) -> DossierResult:
        lifecycle.start_processing(session=session, dossier=dossier, by=BACKOFFICE)
        pdf = lf.sign(agency_cert, pdf_bytes("Giay xac nhan tinh trang hon nhan"))
        [result] = lifecycle.issue_result(
            session=session,
            storage=storage,
            settings=settings,
            dossier=dossier,
            files=[("giay-xac-nhan.pdf", pdf)],
            by=BACKOFFICE,
            trust=trust,
        )
        return result

    return issue_result


def stored_objects(storage: LocalStorage) -> set[Path]:  # noqa: F811
    return {p for p in storage.root.rglob("*") if p.is_file()}


def draft(session: Session, applicant: Account, code: str, **over: Any) -> Dossier:
    """A marital-status draft of `code` with its application form attached (complete but for typed parts)."""
    return factories.dossier(
        session, applicant=applicant, procedure_code=code, data=marital_answers(), files=("to_khai",), **over
    )


def reuse(
    session: Session, settings: Settings, dossier: Dossier, component_id: str, doc: StoredDocument
) -> DossierFile:
    return store_links.reuse(
        session=session,
        settings=settings,
        dossier=dossier,
        procedure=lf.procedure_of(session, dossier),
        component_id=component_id,
        document_id=doc.id,
        by=lf.applicant_of(session, dossier),
    )


# -- results kept when issued


def test_a_result_is_kept_in_the_applicant_s_store_with_issuer_date_signature_and_expiry(
    session: Session, issue: Issue
) -> None:
    procedure = typed_procedure(session)
    dossier = lf.received(session, procedure_code=procedure.code)

    result = issue(dossier)

    [doc] = documents(session, store.Owner(account_id=dossier.applicant_id))
    agency = session.get(Agency, dossier.agency_code)
    assert agency is not None
    assert (doc.source, doc.doc_type, doc.issuer) == (DocumentSource.RESULT, MARITAL_CERT, agency.name_vi)
    assert (doc.name_vi, doc.name_en) == ("Giấy xác nhận tình trạng hôn nhân", "Certificate of marital status")
    assert doc.issued_on == store.today() and doc.expires_on == store.today() + timedelta(days=180)
    assert (doc.storage_key, doc.sha256, doc.size) == (result.storage_key, result.sha256, result.size)
    assert doc.signature == store_links.AGENCY_SIGNED and doc.signature_report == result.signature_report
    assert doc.signature_report and doc.signature_report["ok"] is True
    assert (doc.source_ref, doc.source_dossier_id, doc.source_row_id) == (dossier.code, dossier.id, result.id)
    assert doc.account_id == dossier.applicant_id and doc.business_id is None

    # The event again (a retried transaction): still one document.
    publish(session, ResultIssued(dossier=dossier, results=[result]))
    assert len(documents(session, store.Owner(account_id=dossier.applicant_id))) == 1


def test_a_result_without_a_type_is_kept_under_the_procedure_code_without_expiry(
    session: Session, issue: Issue
) -> None:
    procedure = typed_procedure(session, result_doc_type=None, result_valid_days=None)
    dossier = lf.received(session, procedure_code=procedure.code)
    issue(dossier)
    [doc] = documents(session, store.Owner(account_id=dossier.applicant_id))
    assert (doc.doc_type, doc.expires_on) == (procedure.code, None)


def test_a_business_dossier_s_result_goes_to_the_business_store_shared_by_its_representatives(
    session: Session, issue: Issue
) -> None:
    first, second, stranger = (factories.account(session) for _ in range(3))
    business = factories.business(session, representatives=(first, second))
    procedure = typed_procedure(session)
    dossier = lf.received(session, applicant=first, procedure_code=procedure.code, business_id=business.id)

    issue(dossier)

    [doc] = documents(session, store.Owner(business_id=business.id))
    assert (doc.business_id, doc.account_id) == (business.id, None)
    assert documents(session, store.Owner(account_id=first.id)) == []  # not the personal store
    assert store.get_document(session, doc.id, second.id) is doc  # the other representative sees it
    with pytest.raises(NotFound):
        store.get_document(session, doc.id, stranger.id)
    # A representative removed from the business no longer sees its documents.
    rep = session.get(Representative, (business.id, second.id))
    session.delete(rep)
    session.flush()
    with pytest.raises(NotFound):
        store.get_document(session, doc.id, second.id)
    # The business's next dossier, started by the other representative, may take it.
    later = draft(session, second, procedure.code)
    later.business_id = business.id
    session.add(later)
    session.flush()
    assert store_links.offers(session, later, procedure)["giay_xac_nhan_cu"][0].document is doc


# -- reused in a second dossier without a new upload


def test_a_result_is_reused_in_a_second_dossier_without_a_new_upload(
    session: Session,
    settings: Settings,
    storage: LocalStorage,  # noqa: F811
    issue: Issue,
) -> None:
    procedure = typed_procedure(session)
    first = lf.received(session, procedure_code=procedure.code)
    applicant = lf.applicant_of(session, first)
    result = issue(first)
    [doc] = documents(session, store.Owner(account_id=applicant.id))
    second = draft(session, applicant, procedure.code)
    assert not service.readiness(session, second, procedure, lf_definition(session, second), settings=settings).ok
    offered = store_links.offers(session, second, procedure)
    assert [o.document.id for o in offered["giay_xac_nhan_cu"]] == [doc.id]
    assert "can_cuoc" not in offered and "anh" not in offered  # nothing of their types is kept
    before = stored_objects(storage)

    row = reuse(session, settings, second, "giay_xac_nhan_cu", doc)

    assert stored_objects(storage) == before  # nothing uploaded, nothing copied
    assert (row.storage_key, row.sha256, row.size, row.pages) == (result.storage_key, result.sha256, result.size, 1)
    assert row.reused_from == doc.id and row.dossier_id == second.id and row.component_id == "giay_xac_nhan_cu"
    assert row.signature == "agency" and row.signature_report == result.signature_report  # the signature kept
    assert storage.get(row.storage_key) == storage.get(result.storage_key)
    [event] = [e for e in lf.events(session, second) if e.kind == "document_reused"]
    assert event.details["document"] == doc.id and event.details["component"] == "giay_xac_nhan_cu"
    assert store_links.offers(session, second, procedure)["giay_xac_nhan_cu"][0].in_use
    # Taken again: the same file, not a second one.
    assert reuse(session, settings, second, "giay_xac_nhan_cu", doc).id == row.id
    # The reused file is a file of its component: the dossier is complete and is submitted.
    defn = lf_definition(session, second)
    assert service.readiness(session, second, procedure, defn, settings=settings).ok
    service.submit(session=session, dossier=second, procedure=procedure, defn=defn, by=applicant, settings=settings)
    assert second.status == DossierStatus.SUBMITTED and second.code
    # /verify still finds the document: as the first dossier's result and as the second's submitted file.
    kinds = {d.kind for d in issued.results(session, result.sha256, 5)} | {
        d.kind for d in issued.dossier_files(session, result.sha256, 5)
    }
    assert kinds == {"result", "dossier_file"}


def lf_definition(session: Session, dossier: Dossier) -> FormDefinition:
    return service.get_definition(session, dossier.form_id, dossier.form_version)


def test_removing_a_reused_file_keeps_the_stored_object_the_store_still_uses(
    session: Session,
    settings: Settings,
    storage: LocalStorage,  # noqa: F811
) -> None:
    procedure = typed_procedure(session)
    applicant = factories.account(session)
    doc = kept(session, store.Owner(account_id=applicant.id), storage=storage)
    dossier = draft(session, applicant, procedure.code)
    row = reuse(session, settings, dossier, "giay_xac_nhan_cu", doc)

    service.remove_file(session=session, dossier=dossier, file_id=row.id)

    assert session.get(DossierFile, row.id) is None
    assert storage.exists(doc.storage_key) and session.get(StoredDocument, doc.id) is doc
    # And a new pick replaces the file of a one-file component without touching the store either.
    again = reuse(session, settings, dossier, "giay_xac_nhan_cu", doc)
    other = kept(session, store.Owner(account_id=applicant.id), storage=storage)
    replaced = reuse(session, settings, dossier, "giay_xac_nhan_cu", other)
    assert session.get(DossierFile, again.id) is None and replaced.reused_from == other.id
    assert storage.exists(doc.storage_key)


def test_another_account_s_document_is_404_and_an_expired_one_is_refused_with_its_date(
    session: Session,
    settings: Settings,
) -> None:
    procedure = typed_procedure(session)
    applicant, other = factories.account(session), factories.account(session)
    dossier = draft(session, applicant, procedure.code)
    theirs = kept(session, store.Owner(account_id=other.id))
    with pytest.raises(NotFound) as missing:
        reuse(session, settings, dossier, "giay_xac_nhan_cu", theirs)
    assert missing.value.msgid == store.NOT_FOUND
    expired = kept(
        session,
        store.Owner(account_id=applicant.id),
        issued_on=store.today() - timedelta(days=200),
        expires_on=store.today() - timedelta(days=1),
    )
    with pytest.raises(Conflict) as refused:
        reuse(session, settings, dossier, "giay_xac_nhan_cu", expired)
    assert refused.value.status_code == 409
    assert refused.value.params["date"] == (store.today() - timedelta(days=1)).strftime("%d/%m/%Y")
    assert "expired" in refused.value.msgid
    # Valid until today: still usable; not offered once expired.
    today = kept(session, store.Owner(account_id=applicant.id), expires_on=store.today())
    offered = [o.document.id for o in store_links.offers(session, dossier, procedure)["giay_xac_nhan_cu"]]
    assert today.id in offered and expired.id not in offered and theirs.id not in offered
    assert reuse(session, settings, dossier, "giay_xac_nhan_cu", today).reused_from == today.id
    assert [f.component_id for f in service.dossier_files(session, dossier)] == ["to_khai", "giay_xac_nhan_cu"]


def test_a_document_of_another_type_or_a_component_without_a_type_is_refused(
    session: Session, settings: Settings
) -> None:
    procedure = typed_procedure(session)
    applicant = factories.account(session)
    dossier = draft(session, applicant, procedure.code)
    card = kept(session, store.Owner(account_id=applicant.id), doc_type=ID_CARD)
    with pytest.raises(Invalid) as wrong:
        reuse(session, settings, dossier, "giay_xac_nhan_cu", card)
    assert wrong.value.status_code == 400
    with pytest.raises(Invalid):
        reuse(session, settings, dossier, "anh", card)  # a photo takes no store document
    with pytest.raises(NotFound):
        reuse(session, settings, dossier, "no_such_component", card)
    assert reuse(session, settings, dossier, "can_cuoc", card).reused_from == card.id
    assert session.get(Dossier, dossier.id) is dossier and dossier.status == DossierStatus.DRAFT


def test_a_business_document_is_not_offered_to_a_personal_dossier(session: Session, settings: Settings) -> None:
    procedure = typed_procedure(session)
    person = factories.account(session)
    business = factories.business(session, representatives=(person,))
    theirs = kept(session, store.Owner(business_id=business.id))
    dossier = draft(session, person, procedure.code)
    assert store_links.offers(session, dossier, procedure) == {}
    with pytest.raises(NotFound):
        reuse(session, settings, dossier, "giay_xac_nhan_cu", theirs)


def test_a_submitted_dossier_takes_no_document_and_a_supplement_only_for_what_it_asks(
    session: Session, settings: Settings
) -> None:
    procedure = typed_procedure(session)
    applicant = factories.account(session)
    doc = kept(session, store.Owner(account_id=applicant.id))
    card = kept(session, store.Owner(account_id=applicant.id), doc_type=ID_CARD)
    dossier = lf.received(session, applicant=applicant, procedure_code=procedure.code)
    with pytest.raises(Conflict):
        reuse(session, settings, dossier, "giay_xac_nhan_cu", doc)
    lifecycle.request_supplement(
        session=session,
        dossier=dossier,
        items=[SupplementItem(kind="component", target="giay_xac_nhan_cu", reason="Bản cũ không đọc được")],
        message="Xin bổ sung",
        by=BACKOFFICE,
    )
    assert reuse(session, settings, dossier, "giay_xac_nhan_cu", doc).reused_from == doc.id
    with pytest.raises(Conflict):
        reuse(session, settings, dossier, "can_cuoc", card)


# -- an upload kept


def test_an_upload_is_kept_once_for_a_component_with_a_type(session: Session) -> None:
    procedure = typed_procedure(session)
    applicant = factories.account(session)
    dossier = draft(session, applicant, procedure.code)
    card_file = factories.dossier_file(session, dossier, component_id="can_cuoc", signature="uploaded")
    photo = factories.dossier_file(session, dossier, component_id="anh")

    doc = store_links.keep_upload(session, dossier, procedure, card_file.id)

    assert (doc.source, doc.doc_type, doc.name_vi, doc.issuer) == (DocumentSource.UPLOAD, ID_CARD, "Căn cước", "")
    assert (doc.storage_key, doc.sha256, doc.signature) == (card_file.storage_key, card_file.sha256, "uploaded")
    assert store_links.keep_upload(session, dossier, procedure, card_file.id).id == doc.id
    assert store_links.kept_files(session, dossier) == {card_file.id}
    with pytest.raises(DomainError) as untyped:
        store_links.keep_upload(session, dossier, procedure, photo.id)
    assert untyped.value.status_code == 400
    stranger = draft(session, factories.account(session), procedure.code)
    with pytest.raises(NotFound):
        store_links.keep_upload(session, stranger, procedure, card_file.id)


# -- deletion


def test_an_upload_can_be_deleted_but_a_result_cannot(session: Session, storage: LocalStorage) -> None:  # noqa: F811
    applicant = factories.account(session)
    owner = store.Owner(account_id=applicant.id)
    upload = kept(session, owner, storage=storage)
    result = kept(session, owner, storage=storage, source=DocumentSource.RESULT, issuer="UBND phường Hoa Lư")

    with pytest.raises(Conflict) as refused:
        store.delete_document(session, result, by=applicant.id)
    assert refused.value.status_code == 409 and "cannot be deleted" in refused.value.msgid
    store.delete_document(session, upload, by=applicant.id)

    assert [d.id for d in documents(session, owner)] == [result.id]
    assert storage.exists(upload.storage_key)  # the dossiers it went with keep their copy
    with pytest.raises(NotFound):
        store.get_document(session, upload.id, applicant.id)


# -- the ZIP of everything


def test_the_zip_has_every_document_under_a_readable_unique_name_and_a_manifest(
    session: Session,
    storage: LocalStorage,  # noqa: F811
) -> None:
    applicant = factories.account(session)
    owner = store.Owner(account_id=applicant.id)
    day = store.today()
    one = kept(session, owner, storage=storage, issued_on=day)
    two = kept(session, owner, storage=storage, issued_on=day)  # same name and date
    result = kept(
        session,
        owner,
        storage=storage,
        source=DocumentSource.RESULT,
        doc_type="giay_khai_sinh",
        name_vi="Giấy khai sinh: bản chính/điện tử",
        name_en="Birth certificate",
        issuer="UBND phường Hoa Lư",
        expires_on=day - timedelta(days=1),
        signature="agency",
        signature_report={"ok": True, "signer": "UBND phường Hoa Lư"},
    )
    lost = kept(session, owner, doc_type="can_cuoc", name_vi="Căn cước", name_en="Identity card")  # no bytes

    path = store.build_archive(documents(session, owner), storage, owner_label="Nguyễn Thị Hường")
    try:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
            names = zf.namelist()
            manifest = json.loads(zf.read("manifest.json"))
            contents = {n: zf.read(n) for n in names if n != "manifest.json"}
    finally:
        path.unlink()

    iso = day.isoformat()
    assert sorted(names) == sorted(
        [
            f"Giấy tờ đã tải lên/Giấy xác nhận tình trạng hôn nhân - {iso}.pdf",
            f"Giấy tờ đã tải lên/Giấy xác nhận tình trạng hôn nhân - {iso} (2).pdf",
            f"Kết quả được cấp/Giấy khai sinh bản chính điện tử - {iso}.pdf",
            "manifest.json",
        ]
    )
    assert sorted(contents.values()) == sorted(storage.get(d.storage_key) for d in (one, two, result))
    assert manifest["owner"] == "Nguyễn Thị Hường" and manifest["count"] == 4
    by_id = {e["id"]: e for e in manifest["documents"]}
    assert by_id[result.id]["expired"] is True and by_id[result.id]["issuer"] == "UBND phường Hoa Lư"
    assert by_id[result.id]["signature"] == {"kind": "agency", "ok": True, "signer": "UBND phường Hoa Lư"}
    assert by_id[lost.id]["missing"] is True and by_id[lost.id]["file"] is None
    assert {by_id[one.id]["sha256"], by_id[two.id]["sha256"]} == {one.sha256, two.sha256}


def test_documents_are_listed_by_type_and_expiry_is_counted_in_vietnam(session: Session) -> None:
    applicant = factories.account(session)
    owner = store.Owner(account_id=applicant.id)
    old = kept(session, owner, doc_type="b_type", issued_on=store.today() - timedelta(days=3))
    new = kept(session, owner, doc_type="b_type")
    first = kept(session, owner, doc_type="a_type", expires_on=store.today())
    assert [d.id for d in documents(session, owner)] == [first.id, new.id, old.id]
    assert not store.is_expired(first) and store.is_expired(first, store.today() + timedelta(days=1))
    assert [d.id for d in store.usable(session, owner, ["b_type"])] == [new.id, old.id]
    rows = session.exec(select(StoredDocument).where(col(StoredDocument.account_id) == applicant.id)).all()
    assert len(rows) == 3


# -- with the real catalogue


def test_a_marital_status_certificate_is_offered_to_a_marriage_registration(
    session: Session,
    settings: Settings,
    issue: Issue,
) -> None:
    """The catalogue's types: the certificate (1.004873, valid 180 days) is what marriage registration (1.000894)
    asks for as `xac_nhan_tinh_trang_hon_nhan`."""
    certificate = lf.received(session)  # the marital-status procedure
    result = issue(certificate)
    applicant = lf.applicant_of(session, certificate)
    [doc] = documents(session, store.Owner(account_id=applicant.id))
    assert (doc.doc_type, doc.expires_on) == ("xac_nhan_tinh_trang_hon_nhan", store.today() + timedelta(days=180))
    marriage = factories.dossier(session, applicant=applicant, procedure_code="1.000894")
    procedure = lf.procedure_of(session, marriage)

    offered = store_links.offers(session, marriage, procedure)

    assert [o.document.id for o in offered["xac_nhan_tinh_trang_hon_nhan"]] == [doc.id]
    row = reuse(session, settings, marriage, "xac_nhan_tinh_trang_hon_nhan", doc)
    assert (row.storage_key, row.reused_from) == (result.storage_key, doc.id)
