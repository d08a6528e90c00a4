"""`POST /api/v1/backoffice/intake`: a paper dossier handed in at the centre's counter, registered by the
agency's back-office (Decree 61/2018, Art. 17). It gets a code, a receipt and an appointment date like an
online one, and is received at once by the officer who registered it.

The request is multipart/form-data: one `dossier` part holding JSON (`IntakeIn`), and one `files` part per
digitised document, in the order of `dossier.files` (the component id of each).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.api.backoffice import dossier_detail
from portal.api.deps import BackOffice, IdempotencyDep, PartnerRoute
from portal.api.problems import COMMON, inlined_schema, problems
from portal.api.schemas import DossierDetail
from portal.catalog.models import Procedure
from portal.dossiers import intake
from portal.dossiers.intake import CounterApplicant
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep, StorageDep
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_
from postal.addresses import PostalAddress

# Included by `portal.api.v1.router` (prefix /api/v1).
router = APIRouter(prefix="/backoffice", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: back-office"]
MAX_FILES = 50


class IntakeIn(BaseModel):
    """The `dossier` part of a counter intake."""

    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(max_length=40, description="A procedure of the client's agency.")
    applicant: CounterApplicant
    answers: dict[str, Any] = Field(description="The form's answers, as the online form stores them.")
    officer: str = Field(min_length=1, max_length=120, description="The officer who received the paper dossier.")
    delivery_method: Literal["online", "centre", "post"] | None = Field(
        default=None, description="How the result is handed over; default: at the centre when offered."
    )
    delivery_address: PostalAddress | None = Field(
        default=None,
        description="Where a result by post goes (only with `delivery_method` post; default: the applicant's own "
        "address when it names a recognised ward and a phone is given). The postal delivery is ordered when the "
        "result is issued.",
    )
    files: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILES,
        description="The component id of each `files` part, in the same order.",
    )


DOSSIER_PART = "JSON of the dossier (see the schema; `files` gives the component id of each `files` part, in order)."


@router.post(
    "/intake",
    tags=TAGS,
    status_code=201,
    response_model=DossierDetail,
    responses={**problems(400, 404, 409, 413, 415)},
    openapi_extra={
        "requestBody": {
            "content": {"multipart/form-data": {"encoding": {"dossier": {"contentType": "application/json"}}}}
        }
    },
)
def register_at_counter(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    idempotency: IdempotencyDep,
    dossier: Annotated[
        str,
        Form(
            description=DOSSIER_PART,
            json_schema_extra={"contentMediaType": "application/json", "contentSchema": inlined_schema(IntakeIn)},
        ),
    ],
    files: Annotated[list[UploadFile] | None, File(description="The digitised documents (PDF, JPEG or PNG).")] = None,
) -> DossierDetail:
    """Register a dossier handed in on paper: received at once, with a code, a receipt and an appointment date."""
    try:
        given = IntakeIn.model_validate_json(dossier)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "dossier", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    uploads = files or []
    if len(uploads) != len(given.files):
        raise Invalid(
            N_("Give the component of each file: {files} files were sent for {components} components."),
            {"files": len(uploads), "components": len(given.files)},
        )
    procedure = session.get(Procedure, given.procedure_code)
    if procedure is None or procedure.agency_code != partner.agency_code:
        raise NotFound(N_("There is no procedure with this code."))
    documents = [
        (component, upload.filename or "ho-so.pdf", upload.file.read())
        for component, upload in zip(given.files, uploads, strict=True)
    ]
    try:
        registered = intake.register_at_counter(
            session=session,
            storage=storage,
            settings=settings,
            procedure=procedure,
            applicant=given.applicant,
            answers=given.answers,
            files=documents,
            officer=given.officer,
            by=f"api:{partner.client_id}",
            delivery_method=given.delivery_method,
            delivery_address=given.delivery_address,
        )
    except Invalid as exc:
        answers_errors = exc.params.get("errors")
        if isinstance(answers_errors, dict) and answers_errors:  # the form's own checks: name each answer
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "dossier", "answers", *str(path).split(".")),
                        "msg": str(msg),
                        "type": "value_error",
                    }
                    for path, msg in sorted(answers_errors.items())
                ]
            ) from None
        raise
    session.flush()
    detail = dossier_detail(request, session, settings, registered.code or "", partner.agency_code)
    return idempotency.answer(detail, status_code=201)
