"""The citizen's personal document store (kho dữ liệu điện tử cá nhân, Decree 45/2020; docs/DOCUMENTS.md).

Results issued to a citizen and the uploads they chose to keep, reused in later dossiers instead of being
uploaded again. Below the dossier domain: the domain puts documents in and takes them out; this package never
reads a dossier. A document belongs to an account, or to a business (then every current representative of
the business sees it). Services flush, never commit.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from auth.deps import represented_by
from portal.documents.models import DocumentSource, StoredDocument
from portal.kernel.audit import record
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, NotFound
from portal.kernel.hooks import Provided
from portal.kernel.i18n import N_
from portal.kernel.storage import Storage, StorageError

NOT_FOUND = N_("There is no such document in your personal store.")


def _no_agency_names(session: Session, codes: Sequence[str]) -> dict[str, dict[str, str]]:
    return {}


# The names ({vi, en}) of the issuing agencies by code: the catalogue's agencies, provided by the dossier domain
# (portal/dossiers/store_links.py), which may read the catalogue; this package may not.
agency_names: Provided[[Session, Sequence[str]], dict[str, dict[str, str]]] = Provided(
    "documents.agency_names", _no_agency_names
)


def issuers_of(session: Session, docs: Iterable[StoredDocument]) -> dict[str, dict[str, str]]:
    """The names ({vi, en}) of the agencies that issued these documents, by code (those the catalogue knows)."""
    codes = sorted({d.issuer_code for d in docs if d.issuer_code})
    return agency_names(session, codes) if codes else {}


def issuer_text(doc: StoredDocument, issuers: Mapping[str, Mapping[str, str]], locale: str) -> str:
    """Who issued the document, in the page's language: the agency's name by its code, else the name kept
    (`issuer`, Vietnamese) when the code is unknown or there is none; "" for the owner's uploads."""
    names = issuers.get(doc.issuer_code or "")
    if names:
        return str(names.get(locale) or names.get("vi") or doc.issuer)
    return doc.issuer


@dataclass(frozen=True)
class Owner:
    """Whose store: an account's own, or a business's (shared by its representatives)."""

    account_id: str | None = None
    business_id: str | None = None

    @classmethod
    def of(cls, account_id: str, business_id: str | None) -> Owner:
        """The store of whom the browser acts for (or of a dossier's applicant): the business's, or the account's."""
        return cls(business_id=business_id) if business_id else cls(account_id=account_id)

    def condition(self) -> ColumnElement[bool]:
        if self.business_id is not None:
            return col(StoredDocument.business_id) == self.business_id
        return and_(col(StoredDocument.business_id).is_(None), col(StoredDocument.account_id) == self.account_id)

    def owns(self, doc: StoredDocument) -> bool:
        if self.business_id is not None:
            return doc.business_id == self.business_id
        return doc.business_id is None and doc.account_id == self.account_id


def today() -> date:
    """Today in Vietnam: a document is expired from the day after its `expires_on`."""
    return local_date(utcnow())


def is_expired(doc: StoredDocument, on: date | None = None) -> bool:
    return doc.expires_on is not None and doc.expires_on < (on or today())


def keep(
    session: Session,
    *,
    owner: Owner,
    source: DocumentSource,
    doc_type: str,
    name_vi: str,
    name_en: str,
    filename: str,
    storage_key: str,
    sha256: str,
    size: int,
    issued_on: date,
    pages: int = 0,
    issuer: str = "",
    issuer_code: str | None = None,
    expires_on: date | None = None,
    media_type: str = "application/pdf",
    signature: str | None = None,
    signature_report: dict[str, Any] | None = None,
    source_ref: str = "",
    source_dossier_id: str | None = None,
    source_row_id: str | None = None,
) -> StoredDocument:
    """Put a document in the owner's store, once: the same source row, or the same file of the same type,
    returns the document already kept."""
    same = col(StoredDocument.sha256) == sha256
    if source_row_id is not None:
        same = or_(same, col(StoredDocument.source_row_id) == source_row_id)
    existing = session.exec(
        select(StoredDocument).where(owner.condition(), col(StoredDocument.doc_type) == doc_type[:40], same)
    ).first()
    if existing is not None:
        return existing
    doc = StoredDocument(
        account_id=owner.account_id,
        business_id=owner.business_id,
        source=source.value,
        doc_type=doc_type[:40],
        name_vi=name_vi[:300],
        name_en=name_en[:300],
        issuer=issuer[:300],
        issuer_code=issuer_code[:10] if issuer_code else None,
        issued_on=issued_on,
        expires_on=expires_on,
        filename=safe_filename(filename),
        storage_key=storage_key,
        sha256=sha256,
        media_type=media_type,
        size=size,
        pages=pages,
        signature=signature,
        signature_report=dict(signature_report) if signature_report else None,
        source_ref=source_ref[:40],
        source_dossier_id=source_dossier_id,
        source_row_id=source_row_id,
    )
    session.add(doc)
    session.flush()
    return doc


def documents_of(session: Session, owner: Owner) -> list[StoredDocument]:
    """The owner's documents: by type, the newest first within a type."""
    return list(
        session.exec(
            select(StoredDocument)
            .where(owner.condition())
            .order_by(
                col(StoredDocument.doc_type), col(StoredDocument.issued_on).desc(), col(StoredDocument.created_at)
            )
        )
    )


def usable(session: Session, owner: Owner, doc_types: Iterable[str]) -> list[StoredDocument]:
    """The owner's documents of these types that have not expired (the ones a dossier may take)."""
    types = sorted(set(doc_types))
    if not types:
        return []
    on = today()
    rows = session.exec(
        select(StoredDocument)
        .where(owner.condition(), col(StoredDocument.doc_type).in_(types))
        .order_by(col(StoredDocument.issued_on).desc(), col(StoredDocument.created_at).desc())
    )
    return [d for d in rows if not is_expired(d, on)]


def may_see(session: Session, doc: StoredDocument, account_id: str) -> bool:
    """The account's own document, or one of a business it represents now."""
    if doc.business_id is None:
        return doc.account_id == account_id
    return any(b.id == doc.business_id for b in represented_by(session, account_id))


def is_row_id(value: str) -> bool:
    """Whether `value` may be a row's id at all: at most 32 characters (a longer one, even starting with a real
    id, is none) and no NUL, which PostgreSQL refuses in any text (a 500 otherwise)."""
    return len(value) <= 32 and "\x00" not in value


def by_id(session: Session, document_id: str) -> StoredDocument | None:
    """The document of exactly this id."""
    return session.get(StoredDocument, document_id) if is_row_id(document_id) else None


def get_document(session: Session, document_id: str, account_id: str) -> StoredDocument:
    """The document if the account may see it; anyone else gets the same 404 as for a missing one."""
    doc = by_id(session, document_id)
    if doc is None or not may_see(session, doc, account_id):
        raise NotFound(NOT_FOUND)
    return doc


def delete_document(session: Session, doc: StoredDocument, *, by: str) -> None:
    """Take an upload out of the store; a result an agency issued stays (409).

    The file itself stays where it is: the dossier it came from still holds it (`storage_key`).
    """
    if doc.source == DocumentSource.RESULT:
        raise Conflict(
            N_(
                "This document was issued to you by an agency: it stays in your store as the record of the result "
                "and cannot be deleted."
            )
        )
    record(session, "document.deleted", account_id=by, document_id=doc.id, doc_type=doc.doc_type, sha256=doc.sha256)
    session.delete(doc)
    session.flush()


# -- the ZIP of everything

_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*\x7f]+')


def safe_filename(name: str, *, default: str = "tai-lieu.pdf") -> str:
    """A file name without directories or characters that some systems refuse; Vietnamese letters kept (NFC)."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = " ".join(_UNSAFE.sub(" ", base).split()).strip(" .")
    return base[:200] or default


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 2
    while candidate.casefold() in taken:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        n += 1
    taken.add(candidate.casefold())
    return candidate


def archive_name(doc: StoredDocument) -> str:
    """The readable name of a document inside the ZIP: its Vietnamese name and date, e.g.
    "Giấy khai sinh - 2026-12-01.pdf"."""
    name = doc.name_vi.replace("/", " ").replace("\\", " ")  # a slash in a name is not a folder
    return safe_filename(f"{name} - {doc.issued_on.isoformat()}.pdf")


def _manifest_entry(
    doc: StoredDocument, path: str | None, issuers: Mapping[str, Mapping[str, str]], locale: str
) -> dict[str, Any]:
    report = doc.signature_report or {}
    names = issuers.get(doc.issuer_code or "")
    return {
        "file": path,
        "missing": path is None,
        "id": doc.id,
        "doc_type": doc.doc_type,
        "name": {"vi": doc.name_vi, "en": doc.name_en},
        "source": doc.source,
        # The issuing agency's name in the language of the page the ZIP was asked from; its code, and its
        # names in both languages when the catalogue knows it.
        "issuer": issuer_text(doc, issuers, locale),
        "issuer_code": doc.issuer_code,
        "issuer_name": {"vi": names.get("vi", ""), "en": names.get("en", "")} if names else None,
        "issued_on": doc.issued_on.isoformat(),
        "expires_on": doc.expires_on.isoformat() if doc.expires_on else None,
        "expired": is_expired(doc),
        "sha256": doc.sha256,
        "size": doc.size,
        "pages": doc.pages,
        "signature": (
            {"kind": doc.signature, "ok": report.get("ok"), "signer": report.get("signer")} if doc.signature else None
        ),
        "from_dossier": doc.source_ref or None,
    }


def build_archive(
    docs: Sequence[StoredDocument],
    storage: Storage,
    *,
    owner_label: str,
    issuers: Mapping[str, Mapping[str, str]] | None = None,
    locale: str = "vi",
) -> Path:
    """Every document in one ZIP (a temporary file the caller removes), with `manifest.json` describing each.
    `issuers`: the issuing agencies' names by code (`issuers_of`); `locale`: the language of the issuer's name.

    Results go under "Kết quả được cấp/", uploads under "Giấy tờ đã tải lên/"; names are unique within the
    archive. A file missing from storage is listed in the manifest with `"missing": true`, never a failure.
    """
    folders = {DocumentSource.RESULT.value: "Kết quả được cấp", DocumentSource.UPLOAD.value: "Giấy tờ đã tải lên"}
    handle = tempfile.NamedTemporaryFile(prefix="giay-to-", suffix=".zip", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    taken: set[str] = set()
    entries = []
    try:
        # The documents are PDFs and scans, already compressed: deflating them saved 0.2 % for 23 times the time
        # (docs/PERFORMANCE.md), so they are stored as they are and only the manifest is compressed.
        with handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as zf:
            for doc in docs:
                try:
                    data = storage.get(doc.storage_key)
                except StorageError:
                    entries.append(_manifest_entry(doc, None, issuers or {}, locale))
                    continue
                name = _unique(f"{folders.get(doc.source, 'Khác')}/{archive_name(doc)}", taken)
                zf.writestr(name, data)
                entries.append(_manifest_entry(doc, name, issuers or {}, locale))
            manifest = {
                "owner": owner_label,
                "created_at": utcnow().isoformat(),
                "count": len(entries),
                "documents": entries,
            }
            zf.writestr(
                "manifest.json",
                json.dumps(manifest, ensure_ascii=False, indent=2),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
