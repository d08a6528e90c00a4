"""Citizen pages of a dossier's life after submission: what the agency did (reception, sub-status, supplement
request, rejection, results, apology), answering a supplement request, downloading results, rating the service.

The dossier page itself is `views.dossier_page`; it renders with `dossier_response` below. This router is
included in `views.router`, so the application needs no wiring of its own for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select
from starlette.background import BackgroundTask
from starlette.datastructures import FormData

from auth.deps import CurrentAccount
from auth.models import Account
from forms.address import format_address
from forms.definition import Field, FormDefinition
from forms.validation import validate_data
from portal.catalog.models import Agency, Procedure
from portal.dossiers import access_page, centre_check, lifecycle, linked_pages, queries, service
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierEvent,
    DossierEventKind,
    DossierRating,
    DossierResult,
    DossierStatus,
    SupplementRequest,
)
from portal.kernel.clock import as_utc
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep, StorageDep, WorkerDep
from portal.kernel.errors import Conflict, DomainError, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render, translator

router = APIRouter()

SCORES = (1, 2, 3, 4, 5)
# What each score means, read out with the number (a radio group of bare digits says little).
SCORE_LABELS = {
    1: N_("Very dissatisfied"),
    2: N_("Dissatisfied"),
    3: N_("Neither satisfied nor dissatisfied"),
    4: N_("Satisfied"),
    5: N_("Very satisfied"),
}
SCORE_TEXTS = frozenset(str(n) for n in SCORES)
MAX_COMMENT = 2000
HANDOVER_LABELS = {
    "online": N_("downloaded online"),
    "centre": N_("at the centre's counter"),
    "post": N_("by post"),
}

# Entries whose reason is the agency's own words to the citizen (other reasons are internal codes).
REASONED_KINDS = frozenset({DossierEventKind.REJECTED, DossierEventKind.APOLOGY})

# Actors that are machines (a back-office client, a job), never shown to the citizen as a person.
MACHINE_ACTORS = ("api:", "system", "job:", "worker")

# Timeline entries written by the agency's side: they name the officer, or else the agency.
AGENCY_KINDS = frozenset(
    {
        DossierEventKind.REGISTERED_AT_COUNTER,
        DossierEventKind.RECEIVED,
        DossierEventKind.PROCESSING_STARTED,
        DossierEventKind.SUB_STATUS,
        DossierEventKind.SUPPLEMENT_REQUESTED,
        DossierEventKind.REJECTED,
        DossierEventKind.RESULT_ISSUED,
        DossierEventKind.APOLOGY,
        DossierEventKind.COMPLETED,
    }
)


async def posted_form(request: Request) -> FormData:
    """The parsed form body, read on the event loop so the (sync) view can run on a worker thread."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


# -- what the pages show ------------------------------------------------------------------------------------


def _as_date(value: object) -> date | None:
    """A date from an ISO text (event details are JSON), or None."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TimelineEntry:
    """One timeline event as the citizen reads it."""

    event: DossierEvent
    agency_side: bool
    officer: str | None  # the officer's name when the event names one (else the page shows the agency)
    due: date | None  # the appointment date promised from this step on, when the step set or moved it
    text: dict[str, str] | None  # a sub-status's own words, {vi, en}
    reason: str | None
    # In a linked application's merged timeline: the agency ({vi, en}) and code of the dossier it belongs to.
    agency: dict[str, str] | None = None
    code: str | None = None


def timeline_entries(
    events: Iterable[DossierEvent], owners: Mapping[str, tuple[dict[str, str], str | None]] | None = None
) -> list[TimelineEntry]:
    """The events with what each one says: who acted, the appointment date as it changes, the agency's text;
    `owners` (a linked application's merged timeline): each dossier's agency name and code, shown on its events."""
    entries = []
    for event in events:
        owner = owners.get(event.dossier_id) if owners is not None else None
        d = event.details or {}
        text = None
        if event.kind == DossierEventKind.SUB_STATUS and (d.get("text_vi") or d.get("text_en")):
            text = {"vi": str(d.get("text_vi") or d.get("text_en")), "en": str(d.get("text_en") or d.get("text_vi"))}
        officer = d.get("officer") or d.get("received_by") or d.get("intake_officer")
        if not officer and event.kind in AGENCY_KINDS and event.actor and not event.actor.startswith(MACHINE_ACTORS):
            officer = event.actor  # the transition was made by a named officer
        entries.append(
            TimelineEntry(
                event=event,
                agency_side=event.kind in AGENCY_KINDS,
                officer=str(officer) if officer else None,
                due=_as_date(d.get("due") or d.get("due_date") or d.get("new_date")),
                text=text,
                reason=str(d["reason"]) if d.get("reason") and event.kind in REASONED_KINDS else None,
                agency=owner[0] if owner else None,
                code=owner[1] if owner else None,
            )
        )
    return entries


@dataclass(frozen=True)
class AskedItem:
    """One item of a supplement request: which answer or document, and why."""

    kind: str  # "component" | "field"
    target: str
    name: Any  # {vi, en} (a form label or a component's name), or the target itself when unknown
    reason: str
    step_id: str | None = None  # a field's step
    field: Field | None = None  # a field's definition (to show its current answer)


@dataclass(frozen=True)
class SupplementView:
    request: SupplementRequest
    items: list[AskedItem]

    @property
    def fields(self) -> list[AskedItem]:
        return [i for i in self.items if i.kind == "field"]

    @property
    def components(self) -> list[AskedItem]:
        return [i for i in self.items if i.kind == "component"]


def asked_items(request: SupplementRequest, proc: Procedure, defn: FormDefinition) -> list[AskedItem]:
    """The request's items, named as the citizen knows them (the form's labels, the components' names)."""
    items = []
    for raw in request.items or []:
        kind, target, reason = str(raw.get("kind")), str(raw.get("target")), str(raw.get("reason") or "")
        if kind == "component":
            component = proc.component(target)
            items.append(AskedItem(kind, target, component.name if component else target, reason))
            continue
        try:
            found, step_id = defn.find_field(target), defn.step_of(target).id
        except KeyError:
            items.append(AskedItem(kind, target, target, reason))
            continue
        items.append(AskedItem(kind, target, found.label, reason, step_id, found))
    return items


@dataclass(frozen=True)
class SignatureLine:
    """One signature of a result document, as its report says."""

    signer: str | None
    issuer: str | None
    signed_at: datetime | None
    ok: bool
    timestamp: bool = False


@dataclass(frozen=True)
class ResultView:
    row: DossierResult
    signatures: list[SignatureLine]
    member: linked_pages.Member | None = None  # in a linked application: the member that issued it

    @property
    def ok(self) -> bool:
        verdict = self.row.signature_report.get("ok") if self.row.signature_report else None
        if isinstance(verdict, bool):
            return verdict
        return bool(self.signatures) and all(s.ok for s in self.signatures)


def signature_lines(report: Mapping[str, Any] | None) -> list[SignatureLine]:
    """The signatures of a stored report (a list under "signatures", or the report itself for one)."""
    if not report:
        return []
    raw = report.get("signatures")
    entries = [r for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else [report]
    lines = []
    for r in entries:
        verdict = r.get("ok", r.get("valid"))
        lines.append(
            SignatureLine(
                signer=r.get("signer") or r.get("signer_name"),
                issuer=r.get("issuer") or r.get("issuer_name"),
                signed_at=_as_datetime(r.get("signed_at") or r.get("timestamp_time") or r.get("signing_time")),
                ok=bool(verdict if verdict is not None else report.get("ok")),
                timestamp=bool(r.get("timestamp") or r.get("has_timestamp")),
            )
        )
    return lines


def _rows(session: Session, model: Any, dossier: Dossier, order: Any) -> list[Any]:
    return list(session.exec(select(model).where(model.dossier_id == dossier.id).order_by(order)))


def criteria() -> list[tuple[str, str]]:
    """The rating criteria as (value, label msgid), in their order."""
    return [(str(c.value), c.label) for c in lifecycle.RATING_CRITERIA]


def linked_context(session: Session, parent: Dossier) -> dict[str, Any]:
    """What a linked application's page shows besides the parent's own: its members, one timeline of every
    member's events (each with its agency), every member's results and open supplement requests, one rating."""
    found = linked_pages.context(session, parent)
    members: list[linked_pages.Member] = found["members"]
    by_id = {m.dossier.id: m for m in members}
    receiving = session.get(Agency, parent.agency_code)
    owners: dict[str, tuple[dict[str, str], str | None]] = {
        m.dossier.id: (m.agency_name, m.dossier.code) for m in members
    }
    if receiving is not None:
        owners[parent.id] = ({"vi": receiving.name_vi, "en": receiving.name_en}, parent.code)
    supplements = []
    for child, request in found["supplements"]:
        member = by_id[child.id]
        defn = service.get_definition(session, child.form_id, child.form_version)
        supplements.append((member, SupplementView(request, asked_items(request, member.procedure, defn))))
    return {
        "linked": True,
        "members": members,
        "timeline": timeline_entries((e for e, _owner in found["events"]), owners),
        "results": [
            ResultView(r, signature_lines(r.signature_report), by_id.get(r.dossier_id)) for r in found["results"]
        ],
        "member_supplements": supplements,
        "can_rate": found["can_rate"],
        "failed_members": [m for m in members if m.dossier.status == DossierStatus.REJECTED],
    }


def life_context(session: Session, dossier: Dossier, proc: Procedure, defn: FormDefinition) -> dict[str, Any]:
    """What the dossier page shows of the dossier's life after submission."""
    events = queries.timeline(session, dossier)
    # A request left unanswered when the agency decided (rejected meanwhile) is no longer awaited.
    awaited = dossier.status == DossierStatus.SUPPLEMENT_REQUESTED
    supplement = lifecycle.open_supplement(session, dossier) if awaited else None
    rejected = [e for e in events if e.kind == DossierEventKind.REJECTED]
    apologies: list[DossierApology] = _rows(session, DossierApology, dossier, col(DossierApology.at))
    results: list[DossierResult] = centre_check.applicant_results(session, dossier)
    sub_status = None
    if dossier.sub_status_vi or dossier.sub_status_en:
        sub_status = {
            "vi": dossier.sub_status_vi or dossier.sub_status_en or "",
            "en": dossier.sub_status_en or dossier.sub_status_vi or "",
        }
    return {
        "timeline": timeline_entries(events),
        "sub_status": sub_status,
        "supplement": SupplementView(supplement, asked_items(supplement, proc, defn)) if supplement else None,
        "rejection_reason": (rejected[-1].details or {}).get("reason") if rejected else None,
        "apologies": apologies,
        "apology": apologies[-1] if apologies else None,
        "results": [ResultView(r, signature_lines(r.signature_report)) for r in results],
        "rating": session.get(DossierRating, dossier.id),
        "criteria": criteria(),
        "scores": SCORES,
        "score_labels": SCORE_LABELS,
        "max_comment": MAX_COMMENT,
        "handover_labels": HANDOVER_LABELS,
        "linked": False,
        "can_rate": dossier.status == DossierStatus.COMPLETED,
    }


def dossier_response(
    request: Request,
    session: Session,
    dossier_id: str,
    account: Account,
    settings: Settings,
    *,
    status_code: int = 200,
    rating_errors: Mapping[str, Any] | None = None,
    rating_error: DomainError | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    """The dossier page; with the rating form's errors and what was typed when a rating was refused."""
    page = queries.dossier_page(session, dossier_id, account, settings=settings)
    life = life_context(session, page["dossier"], page["proc"], page["defn"])
    if linked_pages.is_parent(page["dossier"]):
        life.update(linked_context(session, page["dossier"]))
    flags = {
        "submitted": "just_submitted",
        "withdrawn": "just_withdrawn",
        "resubmitted": "just_resubmitted",
        "rated": "just_rated",
    }
    t = translator(request)
    errors = dict(rating_errors or {})
    error_items = [(f"rating-{c}", t(label), t(errors[c])) for c, label in criteria() if c in errors]
    if "comment" in errors:
        error_items.append(("rating-comment-wrap", t(N_("Comment")), t(errors["comment"], n=MAX_COMMENT)))
    if rating_error is not None:
        error_items.append(("rating", "", t(rating_error.msgid, rating_error.params)))  # the form or the rating
    return render(
        request,
        "dossiers/detail.html",
        {
            **page,
            **life,
            **{name: request.query_params.get(flag) == "1" for flag, name in flags.items()},
            "format_address": format_address,
            "accesses": access_page.access_rows(session, page["dossier"]),
            "rating_errors": errors,
            "rating_error_items": error_items,
            "typed": dict(typed or {}),
        },
        status_code=status_code,
    )


# -- answering a supplement request --------------------------------------------------------------------------


def _supplement_page(
    request: Request,
    session: Session,
    dossier: Dossier,
    proc: Procedure,
    defn: FormDefinition,
    *,
    error: DomainError | None = None,
) -> Response:
    supplement = lifecycle.open_supplement(session, dossier)
    if supplement is None:
        return redirect(str(request.app.url_path_for("dossier", dossier_id=dossier.id)))
    files = service.dossier_files(session, dossier)
    # Asked documents with no file uploaded since the request: the answer cannot be sent without them.
    pending = {
        str(i.get("target"))
        for i in supplement.items
        if i.get("kind") == "component"
        and not any(
            f.component_id == i.get("target") and as_utc(f.created_at) >= as_utc(supplement.requested_at) for f in files
        )
    }
    # Asked answers saved with an error (a step keeps what was typed): to correct before sending.
    asked_fields = {str(i.get("target")) for i in supplement.items if i.get("kind") == "field"}
    wrong = {path.split(".", 1)[0] for path in validate_data(defn, dossier.data)}
    invalid = wrong & asked_fields
    # Answers that are not valid but were not asked (so cannot be changed here), by their label: the refusal
    # names them by their field names, which the citizen never sees.
    not_asked = [_label(defn, name) for name in sorted(wrong - asked_fields)]
    return render(
        request,
        "dossiers/supplement.html",
        {
            "dossier": dossier,
            "proc": proc,
            "defn": defn,
            "values": dossier.data,
            "supplement": SupplementView(supplement, asked_items(supplement, proc, defn)),
            "agency": session.get(Agency, dossier.agency_code),
            "files": files,
            "pending": pending,
            "invalid": invalid,
            "not_asked_invalid": not_asked,
            "format_address": format_address,
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


def _label(defn: FormDefinition, name: str) -> Any:
    """A field's label ({vi, en}), or its name when the form does not have it."""
    try:
        return defn.find_field(name).label
    except KeyError:
        return name


@router.get("/dossiers/{dossier_id}/supplement", name="dossier_supplement")
def supplement_page(request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    """What the agency asked for, each item with a link to change it, and the button that sends the answer."""
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    if linked_pages.is_parent(dossier):
        # The requests are the members' (each agency asks for its own part): the one awaited, or the
        # application's page listing them all.
        waiting = linked_pages.open_supplements(session, linked_pages.children_of(session, dossier))
        if len(waiting) == 1:
            return redirect(str(request.app.url_path_for("dossier_supplement", dossier_id=waiting[0][0].id)))
        return redirect(str(request.app.url_path_for("dossier", dossier_id=dossier.id)) + "#linked-supplements")
    if dossier.status != DossierStatus.SUPPLEMENT_REQUESTED:
        return redirect(str(request.app.url_path_for("dossier", dossier_id=dossier.id)))
    return _supplement_page(request, session, dossier, proc, defn)


def _answered_before(session: Session, dossier: Dossier) -> bool:
    """Whether the dossier has no open supplement request but an answered one."""
    if lifecycle.open_supplement(session, dossier) is not None:
        return False
    answered = select(SupplementRequest.id).where(
        SupplementRequest.dossier_id == dossier.id, col(SupplementRequest.answered_at).is_not(None)
    )
    return session.exec(answered).first() is not None


@router.post("/dossiers/{dossier_id}/supplement", name="answer_supplement")
def answer_supplement(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, worker: WorkerDep
) -> Response:
    """Send the changed answers and documents back to the agency (the deadline clock starts again)."""
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account, lock=True)
    done = str(request.app.url_path_for("dossier", dossier_id=dossier.id)) + "?resubmitted=1"
    try:
        lifecycle.answer_supplement(session=session, dossier=dossier, by=account)
    except DomainError as exc:
        if isinstance(exc, Conflict) and _answered_before(session, dossier):
            # Sent already (a second click, another tab): nothing is left to answer, and the answer is with the
            # agency, which the page says (a double click without JavaScript shows only the second response).
            return redirect(done)
        if dossier.status != DossierStatus.SUPPLEMENT_REQUESTED:
            # Nothing to answer (the agency decided meanwhile): the error page, the status by its label (the
            # refusal carries its code).
            if "status" in exc.params:
                exc.params["status"] = DossierStatus(dossier.status)
            raise
        return _supplement_page(request, session, dossier, proc, defn, error=exc)
    return redirect(done, background=BackgroundTask(worker.wake) if worker is not None else None)


# -- results ----------------------------------------------------------------------------------------------------


@router.get("/dossiers/{dossier_id}/results/{result_id}", name="dossier_result")
def download_result(
    dossier_id: str, result_id: str, session: SessionDep, account: CurrentAccount, storage: StorageDep
) -> Response:
    """The portal's sealed copy of a result document (its own applicant's or business's only)."""
    dossier = service.own_dossier(session, dossier_id, account)
    # Exactly this id; a NUL would be a 500 on PostgreSQL.
    row = session.get(DossierResult, result_id) if len(result_id) <= 32 and "\x00" not in result_id else None
    if row is None or row.dossier_id != dossier.id or row not in centre_check.applicant_results(session, dossier):
        raise NotFound(N_("There is no such result document in this dossier."))
    data = storage.get(row.sealed_key)
    name = f"ket-qua-{dossier.code or dossier.id}-{row.id[:8]}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


# -- rating ---------------------------------------------------------------------------------------------------


def parse_rating(form: FormData) -> tuple[dict[str, int], str | None, dict[str, str], dict[str, str]]:
    """(scores, comment, errors by criterion or "comment", what was typed) from the rating form."""
    scores: dict[str, int] = {}
    errors: dict[str, str] = {}
    typed: dict[str, str] = {}
    for criterion, _label in criteria():
        value = str(form.get(f"score-{criterion}") or "").strip()[:10]
        typed[criterion] = value
        if not value:
            errors[criterion] = N_("Choose a score from 1 to 5.")
        elif value not in SCORE_TEXTS:  # not isdigit(): int() reads "٣" (an Arabic-Indic three) as 3
            errors[criterion] = N_("A score is a whole number from 1 to 5.")
        else:
            scores[criterion] = int(value)
    comment = str(form.get("comment") or "").strip()
    typed["comment"] = comment[: MAX_COMMENT + 100]
    if len(comment) > MAX_COMMENT:
        errors["comment"] = N_("The comment is too long (at most {n} characters).")
    return scores, comment or None, errors, typed


@router.post("/dossiers/{dossier_id}/rating", name="rate_dossier")
def rate(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    worker: WorkerDep,
    form: PostedForm,
) -> Response:
    """Rate the service once the dossier is completed; a refusal shows the form again with what was typed."""
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    if linked_pages.is_child(dossier):
        # One rating for the whole application, given on its page and copied to each completed part.
        raise Conflict(N_("This dossier is one part of a linked application: rate the application on its page."))
    parent = linked_pages.is_parent(dossier)
    if parent and not linked_pages.can_rate(linked_pages.children_of(session, dossier)):
        raise Conflict(
            N_("A linked application can be rated once every part of it has ended and at least one was completed.")
        )
    if not parent and dossier.status != DossierStatus.COMPLETED:
        # The page has no rating form to show a refusal in: the error page says why.
        raise Conflict(
            N_("A dossier can be rated once it is completed: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    scores, comment, errors, typed = parse_rating(form)
    done = str(request.app.url_path_for("dossier", dossier_id=dossier.id)) + "?rated=1#rating"
    rated = session.get(DossierRating, dossier.id)
    if rated is not None:
        if rated.account_id == account.id and rated.scores == scores and rated.comment == comment:
            return redirect(done)  # the same rating sent twice (a double click, the back button): it is recorded
        # Rated already (another tab): say so above the rating, whatever this form held.
        refused = Conflict(N_("This dossier has already been rated."))
        return dossier_response(
            request, session, dossier.id, account, settings, status_code=409, rating_error=refused, typed=typed
        )
    if errors:
        return dossier_response(
            request, session, dossier.id, account, settings, status_code=422, rating_errors=errors, typed=typed
        )
    try:
        if parent:
            linked_pages.rate_parent(session=session, parent=dossier, account=account, scores=scores, comment=comment)
        else:
            lifecycle.rate(session=session, dossier=dossier, account=account, scores=scores, comment=comment)
    except DomainError as exc:
        return dossier_response(
            request, session, dossier.id, account, settings, status_code=exc.status_code, rating_error=exc, typed=typed
        )
    return redirect(done, background=BackgroundTask(worker.wake) if worker is not None else None)
