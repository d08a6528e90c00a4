"""Signing the application online: the portal generates the tờ khai from the answers, the citizen confirms
with a one-time code, and the signed PDF becomes the dossier's application component."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from auth.deps import CurrentAccount
from auth.models import Account
from portal.catalog.models import Agency, Procedure
from portal.dossiers import service
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.errors import Conflict, NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import render
from signing import otp, remote
from signing.application_pdf import SIGNATURE_BOX, application_data, render_application_pdf, signature_page_index
from signing.models import SigningCredential
from signing.sign import sign_application

router = APIRouter()


def _load(
    session: Session, dossier_id: str, component_id: str, account: Account
) -> tuple[Dossier, Procedure, dict[str, Any]]:
    dossier = service.own_dossier(session, dossier_id, account)
    proc = session.get(Procedure, dossier.procedure_code)
    assert proc is not None
    component = proc.component(component_id)
    if component is None or not component.get("application"):
        raise NotFound(N_("This document cannot be signed online."))
    if dossier.status != DossierStatus.DRAFT:
        raise Conflict(N_("This dossier has been submitted; its documents can no longer change."))
    return dossier, proc, component


def _application_pdf(request: Request, session: Session, dossier: Dossier, proc: Procedure, account: Account) -> bytes:
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    agency = session.get(Agency, proc.agency_code)
    settings = request.app.state.settings
    data = application_data(
        defn=defn,
        data=dossier.data,
        procedure_name_vi=proc.name_vi,
        procedure_code=proc.code,
        agency_name_vi=agency.name_vi if agency else proc.agency_code,
        applicant_name=account.full_name,
        place=settings.province_name,
        dossier_ref=dossier.id,
        now=utcnow(),
    )
    return render_application_pdf(data)


def _page(
    request: Request,
    dossier: Dossier,
    proc: Procedure,
    component: dict[str, Any],
    cred: SigningCredential | None,
    account: Account,
    *,
    error: Any = None,
    status_code: int = 200,
) -> Response:
    settings = request.app.state.settings
    enrol: dict[str, str] | None = None
    if cred is not None and cred.totp_confirmed_at is None:
        secret = remote.totp_secret(cred, settings)
        uri = otp.provisioning_uri(
            secret, account_name=account.email or account.phone or account.full_name, issuer=settings.portal_name
        )
        svg = io.BytesIO()
        segno.make(uri, error="m").save(svg, kind="svg", scale=4, xmldecl=False, svgns=True, title="QR")
        enrol = {
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "uri": uri,
            "svg": svg.getvalue().decode(),
        }
    context = {
        "dossier": dossier,
        "proc": proc,
        "component": component,
        "cred": cred,
        "enrol": enrol,
        "error": error,
        "available": remote.available(settings),
    }
    return render(request, "dossiers/sign.html", context, status_code=status_code)


@router.get("/dossiers/{dossier_id}/sign/{component_id}", name="sign_application_page")
def sign_page(
    request: Request, dossier_id: str, component_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    dossier, proc, component = _load(session, dossier_id, component_id, account)
    return _page(request, dossier, proc, component, session.get(SigningCredential, account.id), account)


@router.get("/dossiers/{dossier_id}/sign/{component_id}/preview.pdf", name="application_preview")
def preview(
    request: Request, dossier_id: str, component_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    """The application as it will be signed (not signed yet)."""
    dossier, proc, _ = _load(session, dossier_id, component_id, account)
    pdf = _application_pdf(request, session, dossier, proc, account)
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
    action: Annotated[str, Form(alias="_action", max_length=10)] = "sign",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    dossier, proc, component = _load(session, dossier_id, component_id, account)
    if action == "setup":
        created = remote.ensure_credential(session, account=account, app=request.app)
        return _page(request, dossier, proc, component, created, account)
    existing = session.get(SigningCredential, account.id)
    if existing is None:
        created = remote.ensure_credential(session, account=account, app=request.app)
        return _page(request, dossier, proc, component, created, account)
    cred = existing
    checked = remote.confirm_code(session, cred, code, app=request.app)
    if checked.error is not None:
        # Returned, not raised: the count of wrong codes is committed with the request.
        service.add_event(session, dossier, "signature_refused", actor=account.id, reason="one-time code")
        return _page(
            request, dossier, proc, component, cred, account, error=checked.error, status_code=checked.error.status_code
        )
    if remote.expires_soon(cred):
        cred = remote.ensure_credential(session, account=account, app=request.app)
    pdf = _application_pdf(request, session, dossier, proc, account)
    result = sign_application(
        pdf,
        signer=remote.signer_for(request.app, cred),
        signer_name=account.full_name,
        box=SIGNATURE_BOX,
        page=signature_page_index(pdf),
        timestamper=remote.timestamper(request.app),
    )
    stored = request.app.state.storage.put(result.pdf, prefix=f"dossiers/{dossier.id}", suffix=".pdf")
    for old in [f for f in service.dossier_files(session, dossier) if f.component_id == component_id]:
        session.delete(old)
    session.add(
        DossierFile(
            dossier_id=dossier.id,
            component_id=component_id,
            filename=f"to-khai-{proc.code}.pdf",
            storage_key=stored,
            sha256=result.sha256,
            original_media_type="application/pdf",
            size=len(result.pdf),
            pages=signature_page_index(result.pdf) + 1,
            signature="portal",
            signature_report={
                "signer": result.signer_name,
                "signed_at": result.signed_at.isoformat(),
                "level": str(result.level),
                "timestamp": str(result.level) != "B-B",
            },
        )
    )
    dossier.updated_at = utcnow()
    dossier.answers_checked = False
    session.add(dossier)
    service.add_event(session, dossier, "application_signed", actor=account.id, sha256=result.sha256)
    session.flush()
    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"/dossiers/{dossier.id}/files#c-{component_id}", status_code=303)
