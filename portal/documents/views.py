"""The citizen's personal document store: /documents (list, download, delete, the ZIP of everything)."""

from __future__ import annotations

from itertools import groupby
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session
from starlette.background import BackgroundTask

from auth.deps import CurrentAccount, CurrentViewer, Viewer
from portal.documents import service
from portal.documents.models import DocumentSource, StoredDocument
from portal.kernel.db import SessionDep
from portal.kernel.deps import StorageDep
from portal.kernel.errors import DomainError, NotFound
from portal.kernel.i18n import N_
from portal.kernel.storage import StorageError
from portal.kernel.web import is_htmx, redirect, render, translator

router = APIRouter()


def _groups(docs: list[StoredDocument]) -> list[tuple[str, list[StoredDocument]]]:
    """The documents by type (one heading per type), in the store's order."""
    return [(doc_type, list(rows)) for doc_type, rows in groupby(docs, key=lambda d: d.doc_type)]


def _page(
    request: Request,
    session: Session,
    viewer: Viewer,
    *,
    error: DomainError | None = None,
    deleted: bool = False,
    status_code: int = 200,
) -> Response:
    owner = service.Owner.of(viewer.id, viewer.acting_business_id)
    docs = service.documents_of(session, owner)
    context: dict[str, Any] = {
        "groups": _groups(docs),
        # The issuing agencies' names ({vi, en}) by code: shown in the page's language.
        "issuers": service.issuers_of(session, docs),
        "count": len(docs),
        "today": service.today(),
        "business": viewer.acting_as,
        "sources": DocumentSource,
        "error": error,
        # Said on the page (a status message) after a deletion, with or without JavaScript.
        "deleted": deleted,
    }
    return render(request, "documents/list.html", context, status_code=status_code, block="documents")


@router.get("/documents", name="documents")
def documents(
    request: Request, session: SessionDep, account: CurrentAccount, viewer: CurrentViewer, deleted: str = ""
) -> Response:
    """The documents of whom the browser acts for: the account's own, or the business's (shared by its
    representatives). `?deleted=1`: a document was just deleted (said on the page)."""
    return _page(request, session, viewer, deleted=deleted == "1")


def _attachment(name: str) -> str:
    """A Content-Disposition that keeps a Vietnamese name (RFC 6266 `filename*`) with an ASCII fallback."""
    ascii_name = name.encode("ascii", "ignore").decode() or "tai-lieu.pdf"
    ascii_name = ascii_name.replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/documents/archive.zip", name="documents_archive")
def archive(
    request: Request, session: SessionDep, account: CurrentAccount, viewer: CurrentViewer, storage: StorageDep
) -> Response:
    """Every document of the store in one ZIP, with a manifest (built in a temporary file, removed after)."""
    owner = service.Owner.of(viewer.id, viewer.acting_business_id)
    label = viewer.acting_as.name if viewer.acting_as else viewer.full_name
    docs = service.documents_of(session, owner)
    path = service.build_archive(
        docs,
        storage,
        owner_label=label,
        issuers=service.issuers_of(session, docs),
        locale=translator(request).locale,
    )
    name = f"giay-to-cua-toi-{service.today().isoformat()}.zip"
    return FileResponse(
        path,
        media_type="application/zip",
        filename=name,
        headers={"Cache-Control": "private, no-store"},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/documents/{document_id}", name="document_download")
def download(document_id: str, session: SessionDep, account: CurrentAccount, storage: StorageDep) -> Response:
    """One document (its owner's, or a representative's of its business)."""
    doc = service.get_document(session, document_id, account.id)
    try:
        data = storage.get(doc.storage_key)
    except StorageError:
        raise NotFound(N_("The file of this document is no longer available.")) from None
    return Response(
        data,
        media_type=doc.media_type,
        headers={"Content-Disposition": _attachment(service.archive_name(doc)), "Cache-Control": "private, no-store"},
    )


@router.post("/documents/{document_id}/delete", name="document_delete")
def delete(
    request: Request, document_id: str, session: SessionDep, account: CurrentAccount, viewer: CurrentViewer
) -> Response:
    """Delete a document the owner uploaded; a result issued by an agency is refused (409) on the page."""
    doc = service.get_document(session, document_id, account.id)
    try:
        service.delete_document(session, doc, by=account.id)
    except DomainError as exc:
        return _page(request, session, viewer, error=exc, status_code=exc.status_code)
    if is_htmx(request):
        return _page(request, session, viewer, deleted=True)
    return redirect("/documents?deleted=1")
