"""Factories for the dossier's life after submission: dossiers at a given stage, signed result PDFs, and
readers of what a transition wrote (timeline, pushes, notifications)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlmodel import Session, col, select

from auth.models import Account
from portal.catalog.models import Procedure
from portal.dossiers.models import Dossier, DossierChangeCounter, DossierEvent, DossierStatus
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.notifications.models import Notification
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories

OFFICER = "Trần Văn Một Cửa"
BACKOFFICE = "api:ubxa-backoffice"


# Fixtures of the modules that issue results (each takes them with `storage, pki, trust = lf.storage, …`).


@pytest.fixture()
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.storage_dir))


@pytest.fixture(scope="module")
def pki(settings: Settings) -> DevPKI:
    # The one the portal's development seal uses too (signing.seal.get_sealer).
    return DevPKI.load_or_create(Path(settings.storage_dir) / "pki", base_url=settings.base_url)


@pytest.fixture()
def trust(pki: DevPKI) -> TrustSetup:
    return TrustSetup((pki.root,), tuple(pki.crls_der()), False)


def procedure_of(session: Session, dossier: Dossier) -> Procedure:
    procedure = session.get(Procedure, dossier.procedure_code)
    assert procedure is not None
    return procedure


def applicant_of(session: Session, dossier: Dossier) -> Account:
    account = session.get(Account, dossier.applicant_id)
    assert account is not None
    return account


def received(session: Session, *, applicant: Account | None = None, **over: Any) -> Dossier:
    """A submitted dossier the agency received now (official and promised dates set), unless `over` says."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": DossierStatus.RECEIVED,
        "received_at": now,
        "received_by": OFFICER,
    }
    values.update(over)
    dossier = factories.dossier(session, applicant=applicant, submitted=True, files=("to_khai",), **values)
    if "official_due_date" not in over:
        due = appointment_date(now, 3)
        dossier.official_due_date = due
        dossier.due_date = over.get("due_date", due)
        session.add(dossier)
        session.flush()
    return dossier


def local_day_offset(days: int) -> date:
    """Today in Vietnam, moved by `days` calendar days."""
    from portal.kernel.calendar import local_date

    return local_date(utcnow()) + timedelta(days=days)


# -- what a transition wrote


def events(session: Session, dossier: Dossier) -> list[DossierEvent]:
    stmt = select(DossierEvent).where(DossierEvent.dossier_id == dossier.id).order_by(col(DossierEvent.id))
    return list(session.exec(stmt))


def kinds(session: Session, dossier: Dossier) -> list[str]:
    return [e.kind for e in events(session, dossier)]


def pushes(session: Session, dossier: Dossier) -> list[tuple[str, dict[str, Any]]]:
    """The webhook pushes queued for the dossier, oldest first: (type, data)."""
    rows = session.exec(
        select(OutboxMessage).where(OutboxMessage.topic == "webhook.deliver").order_by(col(OutboxMessage.id))
    ).all()
    return [
        (str(m.payload["type"]), dict(m.payload["data"]))
        for m in rows
        if m.payload.get("data", {}).get("code") == dossier.code and m.payload.get("agency_code") == dossier.agency_code
    ]


def push_types(session: Session, dossier: Dossier) -> list[str]:
    return [t for t, _ in pushes(session, dossier)]


def notifications(session: Session, dossier: Dossier) -> list[Notification]:
    rows = session.exec(
        select(Notification)
        .where(Notification.link == f"/dossiers/{dossier.id}")
        .order_by(col(Notification.created_at))
    ).all()
    return list(rows)


def notification_kinds(session: Session, dossier: Dossier) -> list[str]:
    return [n.kind for n in notifications(session, dossier)]


def counter(session: Session) -> int:
    row = session.get(DossierChangeCounter, 1)
    assert row is not None
    session.refresh(row)
    return row.last


# -- signed PDFs


def sign(issued: Issued, pdf: bytes, *, field: str = "ChuKyCoQuan") -> bytes:
    """A PAdES signature over `pdf` by `issued` (its chain embedded), as an agency's software makes one."""
    signer = signers.SimpleSigner(
        signing_cert=issued.asn1_cert(),
        signing_key=issued.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs(issued.asn1_chain()),
    )
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())


def self_signed(name: str = "Cơ quan Giả Mạo") -> Issued:
    """A certificate no authority vouches for."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key, ())
