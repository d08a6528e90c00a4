"""A document kept in a citizen's (or a business's) personal store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class DocumentSource(LabelledEnum):
    """How the document came into the store: a result an agency issued, or an upload the owner kept."""

    RESULT = "result", N_("Issued to you by an agency")
    UPLOAD = "upload", N_("Uploaded by you")


class StoredDocument(SQLModel, table=True):
    """One document of a store: the owner is an account, or a business (shared by its representatives).

    The file is the storage object the dossier holds (`storage_key`): the store never copies it, and a
    document removed from the store leaves the dossier's copy in place.
    """

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str | None = Field(default=None, foreign_key="account.id", index=True, max_length=32)
    business_id: str | None = Field(default=None, foreign_key="business.id", index=True, max_length=32)
    source: str = Field(max_length=10)  # a DocumentSource
    # The type shared across procedures (a component's `doc_type`, a procedure's `result_doc_type`).
    doc_type: str = Field(index=True, max_length=40)
    name_vi: str = Field(max_length=300)
    name_en: str = Field(max_length=300)
    issuer: str = Field(default="", max_length=300)  # the issuing agency's name; "" for the owner's uploads
    # The issuing agency's code (its name is shown in the page's language); None for the owner's uploads.
    issuer_code: str | None = Field(default=None, max_length=10)
    issued_on: date
    expires_on: date | None = None
    filename: str = Field(max_length=255)
    storage_key: str = Field(max_length=200)
    sha256: str = Field(max_length=64, index=True)
    media_type: str = Field(default="application/pdf", max_length=40)
    size: int
    pages: int = 0
    # The signature validation report of the file, as the dossier had it (None: not signed).
    signature: str | None = Field(default=None, max_length=10)
    signature_report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Where it came from: the dossier's code and id, and the result or file row.
    source_ref: str = Field(default="", max_length=40)
    source_dossier_id: str | None = Field(default=None, max_length=32, index=True)
    source_row_id: str | None = Field(default=None, max_length=32, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
