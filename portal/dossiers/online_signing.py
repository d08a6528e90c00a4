"""Signing the application on the portal: the tờ khai made from the answers, signed after a one-time code,
becomes the dossier's application component."""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from fastapi import FastAPI
from sqlmodel import Session

from auth.models import Account
from portal.catalog.models import Agency, Component, Procedure
from portal.dossiers import service
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from signing import otp, remote
from signing.application_pdf import SIGNATURE_BOX, application_data, render_application_pdf, signature_page_index
from signing.models import SigningCredential
from signing.sign import sign_application


def signable(
    session: Session, dossier_id: str, component_id: str, account: Account
) -> tuple[Dossier, Procedure, Component]:
    """The draft dossier, its procedure and the component that may be signed online (404/409 otherwise)."""
    dossier = service.own_dossier(session, dossier_id, account)
    proc = session.get(Procedure, dossier.procedure_code)
    assert proc is not None
    component = proc.component(component_id)
    if component is None or not component.application:
        raise NotFound(N_("This document cannot be signed online."))
    if dossier.status != DossierStatus.DRAFT:
        raise Conflict(N_("This dossier has been submitted; its documents can no longer change."))
    return dossier, proc, component


def credential_of(session: Session, account: Account) -> SigningCredential | None:
    """The account's online-signing credential, if it has set one up."""
    return session.get(SigningCredential, account.id)


@dataclass(frozen=True)
class Enrolment:
    """What the citizen needs to add the portal to an authenticator app: the key, its otpauth URI, its QR code."""

    secret: str  # in groups of four, as typed by hand
    uri: str
    svg: str


def enrolment(cred: SigningCredential | None, account: Account, settings: Settings) -> Enrolment | None:
    """The enrolment to show while the credential's one-time codes are not confirmed yet (None after)."""
    if cred is None or cred.totp_confirmed_at is not None:
        return None
    secret = remote.totp_secret(cred, settings)
    uri = otp.provisioning_uri(
        secret, account_name=account.email or account.phone or account.full_name, issuer=settings.portal_name
    )
    svg = io.BytesIO()
    segno.make(uri, error="m").save(svg, kind="svg", scale=4, xmldecl=False, svgns=True, title="QR")
    return Enrolment(" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), uri, svg.getvalue().decode())


def development_code(cred: SigningCredential | None, settings: Settings) -> str | None:
    """A code that works now, shown with the embedded development signer only (never in production), as the
    other development pages do, so that a tester needs no authenticator app."""
    if cred is None or settings.environment == "production" or settings.signing_key_store != "pkcs12":
        return None
    return otp.development_code(remote.totp_secret(cred, settings), last_step=cred.last_totp_step)


def application_pdf(
    session: Session, dossier: Dossier, proc: Procedure, account: Account, *, settings: Settings
) -> bytes:
    """The application as it will be signed, made from the dossier's answers."""
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    agency = session.get(Agency, proc.agency_code)
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


@dataclass(frozen=True)
class SigningOutcome:
    """What a signing attempt did: the stored file, or the refusal and the credential to show again."""

    file: DossierFile | None = None
    refused: remote.CodeRefused | None = None
    cred: SigningCredential | None = None


def sign_with_code(
    *,
    session: Session,
    app: FastAPI,
    storage: Storage,
    settings: Settings,
    dossier: Dossier,
    procedure: Procedure,
    component_id: str,
    account: Account,
    cred: SigningCredential,
    code: str,
) -> SigningOutcome:
    """Check the one-time code, sign the application and make it the component's only file.

    A wrong code is recorded on the timeline and returned (not raised), so the count of wrong codes is
    committed with the request.
    """
    checked = remote.confirm_code(session, cred, code, app=app)
    if checked.error is not None:
        service.add_event(session, dossier, "signature_refused", actor=account.id, reason="one-time code")
        return SigningOutcome(refused=checked.error, cred=cred)
    if remote.expires_soon(cred):
        cred = remote.ensure_credential(session, account=account, app=app)
    pdf = application_pdf(session, dossier, procedure, account, settings=settings)
    result = sign_application(
        pdf,
        signer=remote.signer_for(app, cred),
        signer_name=account.full_name,
        box=SIGNATURE_BOX,
        page=signature_page_index(pdf),
        timestamper=remote.timestamper(app),
    )
    stored = storage.put(result.pdf, prefix=f"dossiers/{dossier.id}", suffix=".pdf")
    for old in [f for f in service.dossier_files(session, dossier) if f.component_id == component_id]:
        session.delete(old)
    row = DossierFile(
        dossier_id=dossier.id,
        component_id=component_id,
        filename=f"to-khai-{procedure.code}.pdf",
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
    session.add(row)
    dossier.updated_at = utcnow()
    dossier.answers_checked = False
    session.add(dossier)
    service.add_event(session, dossier, "application_signed", actor=account.id, sha256=result.sha256)
    session.flush()
    return SigningOutcome(file=row, cred=cred)
