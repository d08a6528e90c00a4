"""Small factories for test files, form answers and database rows.

The row factories take the test's `session` and keyword overrides, add and flush the row (so it has its
ids and defaults) and return it; they never commit, so the rolled-back `session` fixture undoes them.
"""

from __future__ import annotations

import io
import secrets
import zipfile
from datetime import timedelta
from typing import Any

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlmodel import Session

from auth.models import Account
from payments.models import Payment, PaymentStatus
from payments.service import new_reference
from portal.businesses.models import Business, Representative
from portal.catalog.models import Procedure
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import local, utcnow
from portal.kernel.text import fold

MARITAL = "1.004873"  # Cấp Giấy xác nhận tình trạng hôn nhân (two steps; fee after submission, refundable)


def pdf_bytes(text: str = "Ban sao giay to", pages: int = 1) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(0, 10, f"{text} {i + 1}")
    return bytes(pdf.output())


def jpeg_bytes(size: tuple[int, int] = (640, 480)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 180, 150)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (300, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, (20, 120, 200, 128)).save(buf, "PNG")
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes())))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_as_png() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "not an image")
    return buf.getvalue()


def address(province: str = "01", ward: str = "00004", street: str = "12 Lý Thái Tổ") -> dict[str, str]:
    return {"province": province, "ward": ward, "street": street}


def marital_step1(**over: str) -> dict[str, str]:
    data = {
        "full_name": "Nguyễn Thị Hường",
        "gender": "female",
        "birth_date": "1990-05-17",
        "ethnicity": "Kinh",
        "nationality": "Việt Nam",
        "cccd": "001190012345",
        "address.province": "01",
        "address.ward": "00004",
        "address.street": "12 Lý Thái Tổ",
        "phone": "0912 345 678",
        "email": "huong@example.vn",
        "past_period": "no",
    }
    data.update(over)
    return data


def marital_step2(**over: str) -> dict[str, str]:
    data = {
        "marital_status": "never_married",
        "purpose": "loan",
        "purpose_other": "Vay vốn mua nhà",
        "copies": "1",
        "declaration": "true",
    }
    data.update(over)
    return data


def valid_tax_code() -> str:
    """A random 10-digit tax code whose check digit is right (portal/businesses/service.py)."""
    import random

    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        check = 10 - sum(d * w for d, w in zip(digits, (31, 29, 23, 19, 17, 13, 7, 5, 3), strict=True)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def marital_answers(**over: Any) -> dict[str, Any]:
    """The marital-status form's stored answers, as validation leaves them (marital_step1 and 2 above)."""
    data: dict[str, Any] = {
        "full_name": "Nguyễn Thị Hường",
        "gender": "female",
        "birth_date": "1990-05-17",
        "ethnicity": "Kinh",
        "nationality": "Việt Nam",
        "cccd": "001190012345",
        "address": address(),
        "phone": "0912345678",
        "email": "huong@example.vn",
        "past_period": "no",
        "marital_status": "never_married",
        "purpose": "loan",
        "purpose_other": "Vay vốn mua nhà",
        "copies": 1,
        "declaration": True,
    }
    data.update(over)
    return data


# -- database rows


def procedure_copy(session: Session, code: str, *, slug: str, base: str = MARITAL, **values: Any) -> Procedure:
    """The catalogue's `base` procedure (its form, components, fees, deadline) as a new row under `code`, slug
    `<slug>-<code>`, `values` changed; not added to the session.

    Tests commit such rows into the shared test database: the copy has a field of its own and is found by its code
    only, so the catalogue's pages, filters and searches that other tests check never list it."""
    model = session.get(Procedure, base)
    assert model is not None
    own = {
        "code": code,
        "slug": f"{slug}-{code.lower().replace('.', '-')}",
        "field_vi": "Thủ tục kiểm thử",
        "field_en": "Test procedure",
        "search_text": fold(f"{code} thu tuc kiem thu"),
    }
    return Procedure(**{**model.model_dump(), **own, **values})


def account(session: Session, **over: Any) -> Account:
    """A citizen account with a unique e-mail address."""
    values: dict[str, Any] = {"full_name": "Nguyễn Thị Hường", "email": f"citizen-{secrets.token_hex(6)}@example.vn"}
    row = Account(**{**values, **over})
    session.add(row)
    session.flush()
    return row


def business(session: Session, *, representatives: tuple[Account, ...] = (), **over: Any) -> Business:
    """A business created by its first representative (at least one is needed), who all represent it."""
    assert representatives, "a business is created by one of its representatives"
    values: dict[str, Any] = {
        "tax_code": valid_tax_code(),
        "name": "Công ty TNHH Hoa Sen",
        "address": "12 Lý Thái Tổ, Hoàn Kiếm, Hà Nội",
        "created_by": representatives[0].id,
    }
    row = Business(**{**values, **over})
    session.add(row)
    session.flush()
    for person in representatives:
        session.add(Representative(business_id=row.id, account_id=person.id))
    session.flush()
    return row


def dossier(
    session: Session,
    *,
    applicant: Account | None = None,
    procedure_code: str = MARITAL,
    submitted: bool = False,
    files: tuple[str, ...] = (),
    **over: Any,
) -> Dossier:
    """A dossier on the procedure's current form: a draft, or (`submitted=True`) one with its code and due date.

    `files`: components to attach one (unsigned) file to. Without `data`, a marital-status dossier carries
    complete answers and any other procedure empty ones; `delivery_method` defaults to the first offered.
    """
    procedure = session.get(Procedure, procedure_code)
    assert procedure is not None, procedure_code
    values: dict[str, Any] = {
        "procedure_code": procedure.code,
        "agency_code": procedure.agency_code,
        "applicant_id": (applicant or account(session)).id,
        "form_id": procedure.form_id,
        "form_version": procedure.form_version,
        "data": marital_answers() if procedure.code == MARITAL else {},
        "delivery_method": procedure.delivery[0],
    }
    if submitted:
        now = utcnow()
        values.update(
            status=DossierStatus.SUBMITTED,
            code=f"{procedure.agency_code}-{local(now):%y%m%d}-{secrets.randbelow(10**8):08d}",
            submitted_at=now,
            due_date=appointment_date(now, procedure.deadline_days),
        )
    row = Dossier(**{**values, **over})
    session.add(row)
    session.flush()
    for component_id in files:
        dossier_file(session, row, component_id=component_id)
    return row


def dossier_file(session: Session, dossier: Dossier, *, component_id: str, **over: Any) -> DossierFile:
    """A one-page PDF attached to a component (the row only: no bytes are stored)."""
    digest = secrets.token_hex(32)
    values: dict[str, Any] = {
        "dossier_id": dossier.id,
        "component_id": component_id,
        "filename": "ban-sao.pdf",
        "storage_key": f"dossiers/{dossier.id}/{digest}.pdf",
        "sha256": digest,
        "original_media_type": "application/pdf",
        "size": 1024,
        "pages": 1,
    }
    row = DossierFile(**{**values, **over})
    session.add(row)
    session.flush()
    return row


def payment(session: Session, *, dossier: Dossier, **over: Any) -> Payment:
    """A payment of a dossier through the sandbox gateway, succeeded unless `status` says otherwise."""
    procedure = session.get(Procedure, dossier.procedure_code)
    assert procedure is not None, dossier.procedure_code
    now = utcnow()
    status = over.pop("status", PaymentStatus.SUCCEEDED)
    values: dict[str, Any] = {
        "reference": new_reference(),
        "order_id": dossier.id,
        "account_id": dossier.applicant_id,
        "agency_code": dossier.agency_code,
        "gateway": "sandbox",
        "amount": procedure.fee_total,
        "description": f"Lệ phí hồ sơ {dossier.code or dossier.id}",
        "idempotency_key": secrets.token_hex(16),
        "status": status,
        "created_at": now,
        "updated_at": now,
        "expires_at": now + timedelta(minutes=15),
        "settled_at": now if status != PaymentStatus.PENDING else None,
    }
    row = Payment(**{**values, **over})
    session.add(row)
    session.flush()
    return row
