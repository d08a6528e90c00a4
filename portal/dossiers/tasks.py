"""Background work on dossiers: the receipt PDF is built once, after submission."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from auth.models import Account
from forms.address import format_address
from portal.businesses.models import Business
from portal.catalog.models import Agency, Procedure
from portal.dossiers import (
    billing,
    deadline,  # noqa: F401  (registers the periodic job "dossiers.overdue")
)
from portal.dossiers.linked_pages import PARENT, member_facts
from portal.dossiers.models import Dossier
from portal.dossiers.outbox import DossierSubmitted
from portal.dossiers.receipt import ReceiptComponent, ReceiptData, ReceiptMember, render_receipt_pdf
from portal.dossiers.service import add_event, dossier_files
from portal.kernel.outbox import WorkerContext, handler
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from signing.seal import seal_or_pass

DELIVERY_TEXT = {
    "online": "Nhận kết quả trực tuyến trên Cổng Dịch vụ công",
    "centre": "Nhận kết quả tại Trung tâm Phục vụ hành chính công",
    "post": "Nhận kết quả qua dịch vụ bưu chính công ích",
}


def lookup_url(settings: Settings, code: str) -> str:
    return f"{settings.base_url.rstrip('/')}/lookup?code={code}"


def receipt_data(session: Session, dossier: Dossier, settings: Settings) -> ReceiptData:
    """Everything printed on the receipt, read from the dossier record."""
    proc = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    applicant = session.get(Account, dossier.applicant_id)
    assert proc and agency and applicant and dossier.code and dossier.submitted_at and dossier.due_date
    data = dossier.data
    files = dossier_files(session, dossier)
    components = []
    for comp in proc.component_list:
        mine = [f for f in files if f.component_id == comp.id]
        if mine:
            components.append(ReceiptComponent(name=comp.name.vi, files=len(mine), pages=sum(f.pages for f in mine)))
    address = None
    for value in data.values():
        if isinstance(value, dict) and {"province", "ward"} <= value.keys():
            address = format_address(value)
            break
    return ReceiptData(
        dossier_code=dossier.code,
        agency_name=agency.name_vi,
        procedure_code=proc.code,
        procedure_name=proc.name_vi,
        applicant_name=str(data.get("full_name") or applicant.full_name),
        applicant_id_number=data.get("cccd") or applicant.cccd,
        applicant_phone=data.get("phone") or applicant.phone,
        applicant_email=data.get("email") or applicant.email,
        applicant_address=address,
        received_at=dossier.submitted_at,
        appointment_date=dossier.due_date,
        components=components,
        delivery_method=DELIVERY_TEXT.get(dossier.delivery_method or "", ""),
        lookup_url=lookup_url(settings, dossier.code),
        # The fees this dossier owes (copies requested, reductions, the members applied for), not postage.
        fee_total=billing.fees_for(proc, dossier).total,
        province_name=settings.province_name,
        business=_business_line(session, dossier),
        members=_members(session, dossier),
    )


def _members(session: Session, dossier: Dossier) -> tuple[ReceiptMember, ...]:
    """A linked application's members, each with its own code, agency and appointment date."""
    if dossier.linked_role != PARENT:
        return ()
    return tuple(
        ReceiptMember(
            code=m.code,
            procedure_code=m.procedure_code,
            procedure_name=m.procedure["vi"],
            agency_name=m.agency["vi"],
            appointment_date=m.due_date,
            estimated=m.estimated,
        )
        for m in member_facts(session, dossier)
    )


def _business_line(session: Session, dossier: Dossier) -> str | None:
    business = session.get(Business, dossier.business_id) if dossier.business_id else None
    return f"{business.name} (MST {business.tax_code})" if business else None


def current_receipt(session: Session, dossier: Dossier, *, storage: Storage, settings: Settings) -> bytes:
    """The stored receipt, or one rendered now while the worker has not stored it yet."""
    if dossier.receipt_key and storage.exists(dossier.receipt_key):
        return storage.get(dossier.receipt_key)
    # The worker has not stored it yet: the same sealed document, made now (its copy will differ in the
    # timestamp only; the stored one is the one the record's fingerprint names).
    return seal_or_pass(render_receipt_pdf(receipt_data(session, dossier, settings)), settings)


def ensure_receipt(session: Session, dossier: Dossier, *, storage: Storage, settings: Settings) -> bytes:
    """Return the dossier's receipt, building and storing it the first time."""
    if dossier.receipt_key and storage.exists(dossier.receipt_key):
        return storage.get(dossier.receipt_key)
    pdf = seal_or_pass(render_receipt_pdf(receipt_data(session, dossier, settings)), settings)
    dossier.receipt_key = storage.put(pdf, prefix=f"dossiers/{dossier.id}", suffix="-receipt.pdf")
    dossier.receipt_sha256 = hashlib.sha256(pdf).hexdigest()
    session.add(dossier)
    add_event(session, dossier, "receipt_issued", actor="system")
    session.flush()
    return pdf


@handler(DossierSubmitted)
def on_submitted(session: Session, payload: DossierSubmitted, ctx: WorkerContext) -> None:
    dossier = session.get(Dossier, payload.dossier_id)
    if dossier is not None:
        ensure_receipt(session, dossier, storage=ctx.storage, settings=ctx.settings)
