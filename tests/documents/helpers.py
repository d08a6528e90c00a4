"""Procedures whose components and results carry a document type, and documents in a store, for the store's
tests (written directly, so they do not depend on the catalogue's data)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any

from sqlmodel import Session

from portal.catalog.models import Procedure
from portal.documents import service as store
from portal.documents.models import DocumentSource, StoredDocument
from portal.kernel.storage import Storage
from tests.factories import MARITAL, pdf_bytes, procedure_copy

# The type of the marital-status certificate as a store document.
MARITAL_CERT = "xac_nhan_hon_nhan"
ID_CARD = "can_cuoc"


def component(cid: str, vi: str, en: str, **over: Any) -> dict[str, Any]:
    return {"id": cid, "name": {"vi": vi, "en": en}, "accepts": ["pdf", "jpeg", "png"], **over}


def typed_procedure(session: Session, *, components: list[dict[str, Any]] | None = None, **over: Any) -> Procedure:
    """A copy of the marital-status procedure (same form, fee after submission) under a new code, with
    components that name a document type (`doc_type`), its result typed unless `over` says otherwise."""
    base = session.get(Procedure, MARITAL)
    assert base is not None
    values: dict[str, Any] = dict(
        components=components
        if components is not None
        else [
            base.components[0],  # the application form (to_khai)
            component(
                "giay_xac_nhan_cu",
                "Giấy xác nhận tình trạng hôn nhân đã cấp",
                "Certificate of marital status issued before",
                doc_type=MARITAL_CERT,
            ),
            component("can_cuoc", "Căn cước", "Identity card", mandatory=False, doc_type=ID_CARD),
            component("anh", "Ảnh chân dung", "Photo", mandatory=False),
        ],
        result_vi="Giấy xác nhận tình trạng hôn nhân",
        result_en="Certificate of marital status",
        result_doc_type=MARITAL_CERT,
        result_valid_days=180,
    )
    row = procedure_copy(session, f"T.{secrets.token_hex(4)}", slug="thu-tuc", **{**values, **over})
    session.add(row)
    session.flush()
    return row


def kept(
    session: Session,
    owner: store.Owner,
    *,
    storage: Storage | None = None,
    doc_type: str = MARITAL_CERT,
    source: DocumentSource = DocumentSource.UPLOAD,
    issued_on: date | None = None,
    expires_on: date | None = None,
    name_vi: str = "Giấy xác nhận tình trạng hôn nhân",
    name_en: str = "Certificate of marital status",
    **over: Any,
) -> StoredDocument:
    """A document in the owner's store; its bytes in `storage` when one is given (else a key that holds none)."""
    data = pdf_bytes(f"Tai lieu {secrets.token_hex(4)}")
    sha = hashlib.sha256(data).hexdigest()
    key = storage.put(data, prefix="dossiers/test-store", suffix=".pdf") if storage else f"missing/{sha}.pdf"
    values: dict[str, Any] = {
        "owner": owner,
        "source": source,
        "doc_type": doc_type,
        "name_vi": name_vi,
        "name_en": name_en,
        "filename": "giay-xac-nhan.pdf",
        "storage_key": key,
        "sha256": sha,
        "size": len(data),
        "pages": 1,
        "issued_on": issued_on or store.today(),
        "expires_on": expires_on,
    }
    values.update(over)
    return store.keep(session, **values)
