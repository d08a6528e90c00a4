"""The files page's side of the personal document store: take a kept document for a component instead of
uploading it again, or keep an uploaded file (docs/DOCUMENTS.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from auth.deps import CurrentAccount
from portal.documents.service import is_row_id
from portal.dossiers import queries, store_links, views
from portal.dossiers.models import DossierFile
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import DomainError
from portal.kernel.web import is_htmx, redirect

router = APIRouter()


@router.post("/dossiers/{dossier_id}/files/{component_id}/reuse", name="reuse_document")
def reuse_document(
    request: Request,
    dossier_id: str,
    component_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    form: views.PostedForm,
) -> Response:
    """Use a document of the personal store for a component: no upload, the same stored file."""
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    document_id = str(form.get("document_id") or "")
    try:
        store_links.reuse(
            session=session,
            settings=settings,
            dossier=dossier,
            procedure=proc,
            component_id=component_id,
            document_id=document_id,
            by=account,
        )
    except DomainError as exc:
        if proc.component(component_id) is None or dossier.status not in views.EDITABLE or exc.status_code == 404:
            raise
        return views._render_files(
            request, session, settings, dossier, proc, defn, error=exc, error_component=component_id
        )
    if is_htmx(request):
        return views._render_files(request, session, settings, dossier, proc, defn)
    return redirect(f"/dossiers/{dossier.id}/files#c-{component_id}")


@router.post("/dossiers/{dossier_id}/files/{file_id}/keep", name="keep_document")
def keep_document(
    request: Request,
    dossier_id: str,
    file_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
) -> Response:
    """Keep an uploaded file in the personal store, for later dossiers that ask for the same kind of document."""
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    row = session.get(DossierFile, file_id) if is_row_id(file_id) else None
    component_id = row.component_id if row is not None and row.dossier_id == dossier.id else ""
    try:
        store_links.keep_upload(session, dossier, proc, file_id)
    except DomainError as exc:
        if not component_id or dossier.status not in views.EDITABLE:
            raise
        return views._render_files(
            request, session, settings, dossier, proc, defn, error=exc, error_component=component_id
        )
    if is_htmx(request):
        return views._render_files(request, session, settings, dossier, proc, defn)
    if dossier.status not in views.EDITABLE:
        return redirect(f"/dossiers/{dossier.id}")
    return redirect(f"/dossiers/{dossier.id}/files#c-{component_id}")
