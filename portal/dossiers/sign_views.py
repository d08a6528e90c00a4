"""Signing the application online: the portal generates the tờ khai from the answers, the citizen confirms
with a one-time code, and the signed PDF becomes the dossier's application component."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from auth.deps import CurrentAccount
from auth.models import Account
from portal.catalog.models import Component, Procedure
from portal.dossiers import online_signing
from portal.dossiers.models import Dossier
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep, StorageDep
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render
from signing import remote
from signing.models import SigningCredential

router = APIRouter()


def _page(
    request: Request,
    settings: Settings,
    dossier: Dossier,
    proc: Procedure,
    component: Component,
    cred: SigningCredential | None,
    account: Account,
    *,
    error: Any = None,
    status_code: int = 200,
) -> Response:
    context = {
        "dossier": dossier,
        "proc": proc,
        "component": component,
        "cred": cred,
        "enrol": online_signing.enrolment(cred, account, settings),
        "dev_code": online_signing.development_code(cred, settings),
        "error": error,
        "available": remote.available(settings),
    }
    return render(request, "dossiers/sign.html", context, status_code=status_code)


@router.get("/dossiers/{dossier_id}/sign/{component_id}", name="sign_application_page")
def sign_page(
    request: Request,
    dossier_id: str,
    component_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
) -> Response:
    dossier, proc, component = online_signing.signable(session, dossier_id, component_id, account)
    return _page(request, settings, dossier, proc, component, online_signing.credential_of(session, account), account)


@router.get("/dossiers/{dossier_id}/sign/{component_id}/preview.pdf", name="application_preview")
def preview(
    dossier_id: str, component_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> Response:
    """The application as it will be signed (not signed yet)."""
    dossier, proc, _ = online_signing.signable(session, dossier_id, component_id, account)
    pdf = online_signing.application_pdf(session, dossier, proc, account, settings=settings)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Cache-Control": "private, no-store", "Content-Disposition": 'inline; filename="to-khai.pdf"'},
    )


@router.post("/dossiers/{dossier_id}/sign/{component_id}", name="sign_application")
def sign(
    request: Request,
    dossier_id: str,
    component_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    storage: StorageDep,
    action: Annotated[str, Form(alias="_action", max_length=10)] = "sign",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    dossier, proc, component = online_signing.signable(session, dossier_id, component_id, account)
    existing = online_signing.credential_of(session, account) if action != "setup" else None
    if existing is None:
        created = remote.ensure_credential(session, account=account, app=request.app)
        return _page(request, settings, dossier, proc, component, created, account)
    outcome = online_signing.sign_with_code(
        session=session,
        app=request.app,
        storage=storage,
        settings=settings,
        dossier=dossier,
        procedure=proc,
        component_id=component_id,
        account=account,
        cred=existing,
        code=code,
    )
    if outcome.refused is not None:
        return _page(
            request,
            settings,
            dossier,
            proc,
            component,
            outcome.cred,
            account,
            error=outcome.refused,
            status_code=outcome.refused.status_code,
        )
    return redirect(f"/dossiers/{dossier.id}/files#c-{component_id}")
