"""Signing the application online: the portal generates the tờ khai from the answers, the citizen confirms
with a one-time code, and the signed PDF becomes the dossier's application component."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
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
from signing import otp, remote
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
    # The embedded development signer only (never in production): show a code that works, as the other
    # development pages do, so a tester needs no authenticator app.
    dev_code = None
    if cred is not None and settings.environment != "production" and settings.signing_key_store == "pkcs12":
        dev_code = otp.development_code(remote.totp_secret(cred, settings), last_step=cred.last_totp_step)
    context = {
        "dossier": dossier,
        "proc": proc,
        "component": component,
        "cred": cred,
        "enrol": enrol,
        "dev_code": dev_code,
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
    return _page(request, settings, dossier, proc, component, session.get(SigningCredential, account.id), account)


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
    existing = session.get(SigningCredential, account.id) if action != "setup" else None
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
