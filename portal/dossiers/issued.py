"""What the dossier workflow issued, found by fingerprint for `/verify`: receipts, submitted files, e-receipts,
the agencies' results."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_

from payments.models import Payment
from portal.catalog.models import Procedure, parse_components
from portal.dossiers.models import Dossier, DossierFile, DossierResult, DossierStatus, submitted_only
from portal.kernel.documents import IssuedDocument, register_document_lookup


def _names(name_vi: str, name_en: str) -> dict[str, str]:
    return {"vi": name_vi, "en": name_en}


@register_document_lookup
def receipts(session: Session, sha256: str, limit: int) -> Iterator[IssuedDocument]:
    """Submitted dossiers' receipts (the stored, sealed copy can be checked too)."""
    rows = session.execute(
        sa_select(
            col(Dossier.code),
            col(Dossier.submitted_at),
            col(Dossier.receipt_key),
            col(Procedure.name_vi),
            col(Procedure.name_en),
        )
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(
            col(Dossier.receipt_sha256) == sha256,
            *submitted_only(),
        )
        .limit(limit)
    ).all()
    for code, submitted_at, key, name_vi, name_en in rows:
        yield IssuedDocument(str(code), "receipt", submitted_at, _names(name_vi, name_en), storage_key=key)


@register_document_lookup
def e_receipts(session: Session, sha256: str, limit: int) -> Iterator[IssuedDocument]:
    """E-receipts of dossiers' fees."""
    rows = session.execute(
        sa_select(col(Dossier.code), col(Payment.settled_at), col(Procedure.name_vi), col(Procedure.name_en))
        .join(Dossier, col(Dossier.id) == col(Payment.order_id))
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(
            col(Payment.receipt_sha256) == sha256,
            col(Payment.order_kind) == "dossier",
            col(Dossier.code).is_not(None),
        )
        .limit(limit)
    ).all()
    for code, settled_at, name_vi, name_en in rows:
        yield IssuedDocument(str(code), "e_receipt", settled_at, _names(name_vi, name_en))


@register_document_lookup
def dossier_files(session: Session, sha256: str, limit: int) -> Iterator[IssuedDocument]:
    """Files submitted with dossiers, named by their component."""
    rows = session.execute(
        sa_select(
            col(Dossier.code),
            col(DossierFile.created_at),
            col(DossierFile.component_id),
            col(Procedure.name_vi),
            col(Procedure.name_en),
            col(Procedure.components),
        )
        .join(Dossier, col(Dossier.id) == col(DossierFile.dossier_id))
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(
            col(DossierFile.sha256) == sha256,
            *submitted_only(),
        )
        .limit(limit)
    ).all()
    for code, created_at, component_id, name_vi, name_en, components in rows:
        component = next((c for c in parse_components(components) if c.id == component_id), None)
        part = component.name.model_dump() if component else None
        yield IssuedDocument(str(code), "dossier_file", created_at, _names(name_vi, name_en), part)


@register_document_lookup
def results(session: Session, sha256: str, limit: int) -> Iterator[IssuedDocument]:
    """The agencies' result documents: the signed PDF as uploaded, or the portal's sealed copy of it (the
    stored copy with that fingerprint is the one whose signatures the page shows)."""
    rows = session.execute(
        sa_select(
            col(Dossier.code),
            col(DossierResult.created_at),
            col(DossierResult.filename),
            col(DossierResult.sha256),
            col(DossierResult.storage_key),
            col(DossierResult.sealed_key),
            col(Procedure.name_vi),
            col(Procedure.name_en),
        )
        .join(Dossier, col(Dossier.id) == col(DossierResult.dossier_id))
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(
            or_(col(DossierResult.sha256) == sha256, col(DossierResult.sealed_sha256) == sha256),
            # Not a result the centre is checking, nor one it sent back (centre_check.py): never returned.
            col(DossierResult.refused_reason).is_(None),
            col(Dossier.status) != DossierStatus.RESULT_CHECK,
            *submitted_only(),
        )
        .limit(limit)
    ).all()
    for code, created_at, filename, original, key, sealed_key, name_vi, name_en in rows:
        stored = key if original == sha256 else sealed_key
        part = {"vi": filename, "en": filename}
        yield IssuedDocument(str(code), "result", created_at, _names(name_vi, name_en), part, storage_key=stored)
