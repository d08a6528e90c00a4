"""`POST /api/v1/backoffice/dossiers/{code}/…`: the back-office drives a dossier's life.

Each route locks the dossier (`queries.agency_dossier(..., lock=True)`), calls one function of
`portal.dossiers.lifecycle` (which checks the state: 409 with the reason when it does not allow the step)
and answers the dossier whole, as `GET /dossiers/{code}` does. Every POST honours `Idempotency-Key`
(`portal.api.idempotency`). The actor recorded is `api:<client id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum, StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Depends, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from auth.bearer import Partner
from portal.api.backoffice import dossier_detail
from portal.api.deps import BackOffice, IdempotencyDep, PartnerRoute
from portal.api.idempotency import Idempotency
from portal.api.problems import CHANGE, COMMON
from portal.api.schemas import DossierDetail
from portal.api.strict import StrictDate
from portal.dossiers import lifecycle, queries
from portal.dossiers.models import Dossier
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep, StorageDep
from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from signing.verify_service import trust_setup

# Included by `portal.api.v1.router` (prefix /api/v1).
router = APIRouter(prefix="/backoffice/dossiers", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: back-office"]
MAX_RESULT_FILES = 10


class Reception(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer: str = Field(
        min_length=1, max_length=120, description="The receiving officer's name (shown to the applicant)."
    )


class NoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=60, description="The agency's own step code, e.g. cho-phe-duyet.")
    text_vi: str = Field(min_length=1, max_length=200, description="Shown to the applicant in Vietnamese.")
    text_en: str = Field(min_length=1, max_length=200, description="Shown to the applicant in English.")


class SupplementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[lifecycle.SupplementItem] = Field(
        max_length=50,
        description="What is asked: kind `component` (target: a component id of the procedure) or `field` "
        "(target: a field name of the form), each with a reason. At least one.",
    )
    message: str = Field(min_length=1, max_length=4000, description="The message to the applicant.")


class ApologyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="Why the dossier is late (shown to the applicant).")
    new_date: StrictDate = Field(description="The new appointment date, YYYY-MM-DD, after today (local).")


class Handover(StrEnum):
    ONLINE = "online"
    CENTRE = "centre"
    POST = "post"


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handover: Handover = Field(description="How the result was handed over: online, centre (counter) or post.")


@dataclass(frozen=True)
class Step:
    """What every transition route needs: the client, the request's session and settings, the idempotency of
    the POST and the dossier's code; `dossier()` locks it, `answer()` records and returns the dossier whole."""

    request: Request
    partner: Partner
    session: Session
    settings: Settings
    idempotency: Idempotency
    code: str

    @property
    def by(self) -> str:
        return f"api:{self.partner.client_id}"

    def dossier(self) -> Dossier:
        return queries.agency_dossier(self.session, self.code, self.partner.agency_code, lock=True)

    def answer(self) -> DossierDetail:
        self.session.flush()
        detail = dossier_detail(self.request, self.session, self.settings, self.code, self.partner.agency_code)
        return self.idempotency.answer(detail)


def _step(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
    code: str,
) -> Step:
    return Step(request, partner, session, settings, idempotency, code)


StepDep = Annotated[Step, Depends(_step)]


@router.post("/{code}/receive", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def receive(step: StepDep, body: Annotated[Reception, Body()]) -> DossierDetail:
    """submitted → received: the official appointment date is counted from now in working days."""
    lifecycle.receive(session=step.session, dossier=step.dossier(), officer=body.officer, by=step.by)
    return step.answer()


@router.post("/{code}/start-processing", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def start_processing(step: StepDep, body: Annotated[NoBody | None, Body()] = None) -> DossierDetail:
    """received → in_process. The body is empty (`{}` or none)."""
    lifecycle.start_processing(session=step.session, dossier=step.dossier(), by=step.by)
    return step.answer()


@router.post("/{code}/sub-status", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def sub_status(step: StepDep, body: Annotated[SubStatusIn, Body()]) -> DossierDetail:
    """A step of the agency's own workflow inside the main status (until the next main status change)."""
    lifecycle.set_sub_status(
        session=step.session,
        dossier=step.dossier(),
        code=body.code,
        text_vi=body.text_vi,
        text_en=body.text_en,
        by=step.by,
    )
    return step.answer()


@router.post("/{code}/request-supplement", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def request_supplement(step: StepDep, body: Annotated[SupplementIn, Body()]) -> DossierDetail:
    """received | in_process → supplement_requested: the deadline clock stops until the applicant answers."""
    lifecycle.request_supplement(
        session=step.session, dossier=step.dossier(), items=body.items, message=body.message, by=step.by
    )
    return step.answer()


@router.post("/{code}/result", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def issue_result(
    step: StepDep,
    storage: StorageDep,
    files: Annotated[
        list[UploadFile],
        File(description="One or more result PDFs, each signed by the agency (every signature valid and trusted)."),
    ],
) -> DossierDetail:
    """received | in_process → result_ready with the agency's signed result PDFs (→ result_check when the
    procedure's results are checked by the centre first: `dossier.result_confirmed` or
    `dossier.result_returned` follows; after a return the dossier is in_process and a new result is issued here).

    Each file is validated with the portal's signing package: unsigned, untrusted, revoked, modified after
    signing or not a PDF is 422 with the reason. The portal keeps the original and a sealed copy (which
    `/verify` recognises and the applicant downloads).
    """
    if not files:
        raise Invalid(N_("Upload at least one signed result document."))
    if len(files) > MAX_RESULT_FILES:
        raise Invalid(N_("Upload at most {n} result documents at once."), {"n": MAX_RESULT_FILES})
    payload = [(f.filename or "ket-qua.pdf", f.file.read()) for f in files]
    lifecycle.issue_result(
        session=step.session,
        storage=storage,
        settings=step.settings,
        dossier=step.dossier(),
        files=payload,
        by=step.by,
        trust=trust_setup(step.request.app),
    )
    return step.answer()


@router.post("/{code}/apologise", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def apologise(step: StepDep, body: Annotated[ApologyIn, Body()]) -> DossierDetail:
    """The apology letter (thư xin lỗi) for a dossier past its due date, with the new date promised."""
    new_date: date = body.new_date
    lifecycle.apologise(session=step.session, dossier=step.dossier(), reason=body.reason, new_date=new_date, by=step.by)
    return step.answer()


@router.post("/{code}/complete", tags=TAGS, response_model=DossierDetail, responses=CHANGE)
def complete(step: StepDep, body: Annotated[CompletionIn, Body()]) -> DossierDetail:
    """result_ready → completed once the result was handed over (online, at the counter or by post)."""
    lifecycle.complete(session=step.session, dossier=step.dossier(), handover=body.handover.value, by=step.by)
    return step.answer()
