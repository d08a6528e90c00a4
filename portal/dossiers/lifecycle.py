"""The dossier's life after submission, driven by the agency's back-office: receive, process, ask for a
supplement, issue the result, apologise for a delay, complete; and the applicant's answer and rating.

Every transition checks the state with one conditional UPDATE (`service.move_status`: of two concurrent
calls only one moves the dossier; a retry of a transition already made returns without change), then writes
in the caller's transaction the timeline event (which moves the dossier in the change feed), the push to
the agency's back-office and the applicant's notification. Services flush, never commit.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from auth.models import Account
from forms.validation import validate_data
from portal.catalog.models import Procedure
from portal.dossiers import deadline
from portal.dossiers.events import Closed, ResultIssued
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierEvent,
    DossierRating,
    DossierResult,
    DossierStatus,
    SupplementRequest,
    Timeliness,
)
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.dossiers.service import (
    OPEN_STATES,
    add_event,
    dossier_files,
    get_definition,
    move_status,
    open_supplement,
    supplement_targets,
    touch,
)
from portal.kernel.calendar import appointment_date, local_date
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.events import publish
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from signing.seal import seal_or_pass
from signing.verify import VerificationReport
from signing.verify_service import TrustSetup, check_pdf

__all__ = [
    "RATING_CRITERIA",
    "RatingCriterion",
    "SupplementItem",
    "answer_supplement",
    "apologise",
    "complete",
    "issue_result",
    "open_supplement",
    "rate",
    "receive",
    "release_result",
    "request_supplement",
    "set_sub_status",
    "start_processing",
    "supplement_targets",
    "touch",
]

# Where the agency's own workflow step (sub-status) may be set: not in a draft nor once the dossier ended.
SUB_STATUS_STATES = (*OPEN_STATES, DossierStatus.RESULT_READY)
HANDOVERS = ("online", "centre", "post")
MAX_TEXT = 2000
MAX_TARGET = 100  # a component id or a form field name


class RatingCriterion(LabelledEnum):
    """The criteria of the national assessment of service quality that the applicant scores from 1 to 5."""

    RECEPTION = "reception", N_("Reception attitude")
    GUIDANCE = "guidance", N_("Guidance")
    RESULT_CORRECT = "result_correct", N_("Correctness of the result")
    ON_TIME = "on_time", N_("On time")
    FEES_AS_ANNOUNCED = "fees_as_announced", N_("Fees as announced")


RATING_CRITERIA = RatingCriterion


class SupplementItem(BaseModel):
    """One thing a supplement request asks for: a component's document or a form answer, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["component", "field"]
    target: str = Field(
        min_length=1, max_length=MAX_TARGET, description="A component id of the procedure, or a field name of the form."
    )
    reason: str = Field(min_length=1, max_length=MAX_TEXT, description="Why it is asked (shown to the applicant).")


def _link(dossier: Dossier) -> str:
    return f"/dossiers/{dossier.id}"


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _text(value: str, *, missing: str, max_length: int = MAX_TEXT) -> str:
    """A required free text, trimmed; Invalid with `missing` when empty, or when it is too long."""
    cleaned = value.strip()
    if not cleaned:
        raise Invalid(missing)
    if len(cleaned) > max_length:
        raise Invalid(N_("A text is longer than {n} characters: shorten it."), {"n": max_length, "text": cleaned[:40]})
    return cleaned


def _procedure(session: Session, dossier: Dossier) -> Procedure:
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is None:
        raise NotFound(N_("There is no procedure with this code."))
    return procedure


def _tell(session: Session, dossier: Dossier, kind: str, key: str, **params: str) -> None:
    """The applicant's notification of a step (once per `key`), written from the template file of `kind`
    (portal/notifications/templates/<kind>.yaml)."""
    tell(
        session,
        dossier,
        kind=kind,
        dedupe_key=f"{kind}:{key}",
        params={"code": dossier.code or "", **params},
    )


# -- reception and processing


def receive(*, session: Session, dossier: Dossier, officer: str, by: str) -> Dossier:
    """SUBMITTED → RECEIVED: the official appointment date is counted from now in working days."""
    officer = _text(officer, missing=N_("Give the name of the officer who received the dossier."), max_length=120)
    now = utcnow()
    procedure = _procedure(session, dossier)
    due = appointment_date(now, procedure.deadline_days)
    refused = N_("Only a submitted dossier can be received: this one is {status}.")
    moved = move_status(
        session,
        dossier,
        to=DossierStatus.RECEIVED,
        allowed=[DossierStatus.SUBMITTED],
        refused=refused,
        received_at=now,
        received_by=officer,
        official_due_date=due,
        due_date=due,
    )
    if not moved:
        return dossier
    add_event(session, dossier, "received", actor=by, officer=officer, agency=dossier.agency_code, due=due.isoformat())
    push(session, dossier, "dossier.received", received_by=officer, received_at=now)
    _tell(
        session,
        dossier,
        "dossier.received",
        dossier.id,
        due=_day(due),
    )
    session.flush()
    return dossier


def start_processing(*, session: Session, dossier: Dossier, by: str) -> Dossier:
    """RECEIVED → IN_PROCESS."""
    refused = N_("Only a received dossier can start being processed: this one is {status}.")
    if not move_status(
        session, dossier, to=DossierStatus.IN_PROCESS, allowed=[DossierStatus.RECEIVED], refused=refused
    ):
        return dossier
    add_event(session, dossier, "processing_started", actor=by, agency=dossier.agency_code)
    push(session, dossier, "dossier.processing_started")
    _tell(
        session,
        dossier,
        "dossier.processing",
        dossier.id,
    )
    session.flush()
    return dossier


def set_sub_status(*, session: Session, dossier: Dossier, code: str, text_vi: str, text_en: str, by: str) -> Dossier:
    """A step of the agency's own workflow, shown under the main status (cleared when the status changes)."""
    code = _text(code, missing=N_("Give the code of the processing step."), max_length=60)
    text_vi = _text(text_vi, missing=N_("Give the Vietnamese text of the processing step."), max_length=200)
    text_en = _text(text_en, missing=N_("Give the English text of the processing step."), max_length=200)
    if (dossier.sub_status, dossier.sub_status_vi, dossier.sub_status_en) == (code, text_vi, text_en):
        return dossier
    won = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.status).in_(SUB_STATUS_STATES))
        .values(sub_status=code, sub_status_vi=text_vi, sub_status_en=text_en, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(dossier)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            N_("A processing step can be set only while the dossier is open at the agency: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    event = add_event(session, dossier, "sub_status", actor=by, code=code, text_vi=text_vi, text_en=text_en)
    push(session, dossier, "dossier.sub_status_changed", sub_status_vi=text_vi, sub_status_en=text_en)
    session.flush()
    _tell(
        session,
        dossier,
        "dossier.sub_status",
        f"{dossier.id}:{event.id}",
        **{"step": text_vi, "step@vi": text_vi, "step@en": text_en},
    )
    session.flush()
    return dossier


# -- supplements


def _field_names(session: Session, dossier: Dossier) -> set[str]:
    defn = get_definition(session, dossier.form_id, dossier.form_version)
    return {f.name for f in defn.all_fields()}


def _check_items(session: Session, dossier: Dossier, items: Sequence[SupplementItem]) -> list[dict[str, Any]]:
    if not items:
        raise Invalid(N_("A supplement request must name at least one document or answer."))
    procedure = _procedure(session, dossier)
    fields = _field_names(session, dossier)
    checked: list[dict[str, Any]] = []
    for item in items:
        target = item.target.strip()
        if item.kind == "component" and procedure.component(target) is None:
            raise Invalid(
                N_("The procedure has no document {target}: name one of its components ({known})."),
                {"target": target, "known": ", ".join(c.id for c in procedure.component_list)},
            )
        if item.kind == "field" and target not in fields:
            raise Invalid(
                N_("The form has no answer named {target}: name one of its fields ({known})."),
                {"target": target, "known": ", ".join(sorted(fields))},
            )
        entry = {
            "kind": item.kind,
            "target": target,
            "reason": _text(item.reason, missing=N_("Say why each item is asked for.")),
        }
        if not any((e["kind"], e["target"]) == (entry["kind"], target) for e in checked):
            checked.append(entry)
    return checked


def request_supplement(
    *, session: Session, dossier: Dossier, items: Sequence[SupplementItem], message: str, by: str
) -> SupplementRequest:
    """RECEIVED | IN_PROCESS → SUPPLEMENT_REQUESTED: the agency asks for the items; the deadline clock stops."""
    checked = _check_items(session, dossier, items)
    message = _text(message, missing=N_("Write a message to the applicant."), max_length=4000)
    if dossier.status == DossierStatus.SUPPLEMENT_REQUESTED:
        current = open_supplement(session, dossier)
        if current is not None and current.items == checked and current.message == message:
            return current  # a retry of the same request
        raise Conflict(N_("A supplement request is already open: wait for the applicant's answer."))
    refused = N_(
        "A supplement can be requested only from a received dossier or one being processed: this one is {status}."
    )
    if not move_status(
        session,
        dossier,
        to=DossierStatus.SUPPLEMENT_REQUESTED,
        allowed=[DossierStatus.RECEIVED, DossierStatus.IN_PROCESS],
        refused=refused,
    ):
        # A concurrent call asked first: the same request is its answer, another one waits for the applicant.
        return request_supplement(session=session, dossier=dossier, items=items, message=message, by=by)
    now = utcnow()
    request = SupplementRequest(
        dossier_id=dossier.id, requested_at=now, requested_by=by[:120], message=message, items=checked
    )
    session.add(request)
    session.flush()
    deadline.pause(session, dossier, request, now)
    add_event(
        session,
        dossier,
        "supplement_requested",
        actor=by,
        agency=dossier.agency_code,
        supplement_id=request.id,
        items=checked,
        message=message,
    )
    push(session, dossier, "dossier.supplement_requested", supplement_id=request.id, items=checked, message=message)
    _tell(
        session,
        dossier,
        "dossier.supplement",
        request.id,
        message=message,
    )
    session.flush()
    return request


def _was_in_process(session: Session, dossier: Dossier) -> bool:
    started = session.exec(
        select(DossierEvent.id).where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "processing_started")
    ).first()
    return started is not None


def _check_answer(session: Session, dossier: Dossier, request: SupplementRequest) -> None:
    """The answer is complete: the form is valid and each document asked for was uploaded since the request."""
    defn = get_definition(session, dossier.form_id, dossier.form_version)
    errors = validate_data(defn, dossier.data)
    if errors:
        raise Invalid(
            N_("Some answers are not valid yet: {fields}. Correct them before sending."),
            {"fields": ", ".join(sorted(errors))},
        )
    requested_at = request.requested_at
    files = dossier_files(session, dossier)
    missing = [
        str(item["target"])
        for item in request.items
        if item.get("kind") == "component"
        and not any(f.component_id == item["target"] and _after(f.created_at, requested_at) for f in files)
    ]
    if missing:
        raise Invalid(
            N_("Upload the documents the agency asked for before sending: {components}."),
            {"components": ", ".join(missing)},
        )


def _after(moment: datetime, since: datetime) -> bool:
    return as_utc(moment) >= as_utc(since)


def answer_supplement(*, session: Session, dossier: Dossier, by: Account) -> Dossier:
    """SUPPLEMENT_REQUESTED → IN_PROCESS (RECEIVED if processing had not started): the applicant sends what
    was asked; the clock runs again and the appointment dates move by the working days it was stopped."""
    request = open_supplement(session, dossier)
    if dossier.status != DossierStatus.SUPPLEMENT_REQUESTED or request is None:
        raise Conflict(
            N_("There is no open supplement request to answer on this dossier: it is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    _check_answer(session, dossier, request)
    back = DossierStatus.IN_PROCESS if _was_in_process(session, dossier) else DossierStatus.RECEIVED
    refused = N_("There is no open supplement request to answer on this dossier: it is {status}.")
    if not move_status(session, dossier, to=back, allowed=[DossierStatus.SUPPLEMENT_REQUESTED], refused=refused):
        return dossier
    now = utcnow()
    request.answered_at = now
    request.answered_by = by.full_name[:120]
    session.add(request)
    days = deadline.resume(session, dossier, now)
    add_event(
        session,
        dossier,
        "supplement_answered",
        actor=by.full_name,
        supplement_id=request.id,
        paused_working_days=days,
        due=dossier.due_date.isoformat() if dossier.due_date else None,
        official_due=dossier.official_due_date.isoformat() if dossier.official_due_date else None,
    )
    push(session, dossier, "dossier.supplement_answered", supplement_id=request.id, paused_working_days=days)
    session.flush()
    return dossier


# -- the result


def _safe_name(filename: str) -> str:
    name = (filename or "ket-qua").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "ket-qua"
    return name if name.lower().endswith(".pdf") else name.rsplit(".", 1)[0] + ".pdf"


def _signature_summary(report: VerificationReport) -> dict[str, Any]:
    """The signature report kept with a result, as the applicant's page shows it: the first signature's
    signer, issuer and time at the top, every signature below."""
    signatures = []
    for sig in report.signatures:
        at = sig.timestamp_time or sig.signing_time
        signatures.append(
            {
                "signer": sig.signer_name,
                "issuer": sig.issuer_name,
                "signing_time": at.isoformat() if at else None,
                "timestamp": bool(sig.has_timestamp),
                "ok": bool(sig.ok),
                "problems": list(sig.problems),
            }
        )
    first: dict[str, Any] = signatures[0] if signatures else {}
    return {
        "ok": bool(report.ok),
        "signer": first.get("signer"),
        "issuer": first.get("issuer"),
        "signing_time": first.get("signing_time"),
        "problems": list(report.problems),
        "signatures": signatures,
    }


def _refusal_reason(report: VerificationReport, translate: Callable[[str], str], settings: Settings) -> str:
    reasons = [*report.problems, *(p for sig in report.signatures for p in sig.problems)]
    if not reasons:
        reasons = [N_("Not every signature of the file could be validated.")]
    texts = []
    for reason in dict.fromkeys(reasons):
        text = translate(reason)
        with contextlib.suppress(KeyError, IndexError, ValueError):
            text = text.format(max_mb=settings.verify_max_bytes // (1024 * 1024), max_pages=settings.verify_max_pages)
        texts.append(text)
    return "; ".join(texts)


def issue_result(
    *,
    session: Session,
    storage: Storage,
    settings: Settings,
    dossier: Dossier,
    files: Sequence[tuple[str, bytes]],
    by: str,
    trust: TrustSetup,
    translate: Callable[[str], str] = str,
) -> list[DossierResult]:
    """RECEIVED | IN_PROCESS → RESULT_READY with the agency's signed PDFs (RESULT_CHECK when the procedure's
    results are checked by the centre first: the agency is pushed as always, the applicant is told nothing
    until the centre confirms, portal/dossiers/centre_check.py).

    Each file must be a PDF whose every signature is intact, trusted, unrevoked and covers the whole file
    (`signing.verify_service.check_pdf`), one of them made with an organisation certificate (not a person's,
    which names a CCCD); otherwise Invalid names the file and the reasons (in the language of `translate`) and
    nothing is stored. The original is kept, and the portal's sealed copy beside it (for
    `/verify`). A retry with the same files returns the results already issued.
    """
    if dossier.status in (DossierStatus.RESULT_READY, DossierStatus.RESULT_CHECK):
        existing = results_of(session, dossier)
        if sorted(r.sha256 for r in existing) == sorted(hashlib.sha256(data).hexdigest() for _, data in files):
            return existing
    if dossier.status not in (DossierStatus.RECEIVED, DossierStatus.IN_PROCESS):
        raise Conflict(
            N_("A result can be issued only for a received dossier or one being processed: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    if not files:
        raise Invalid(N_("Upload at least one signed result document."))
    checked = []
    for filename, data in files:
        name = _safe_name(filename)
        report = check_pdf(data, trust, max_pages=settings.verify_max_pages, max_bytes=settings.verify_max_bytes)
        if not report.ok:
            raise Invalid(
                N_("The result {file} was refused: {reason}"),
                {
                    "file": name,
                    "reason": _refusal_reason(report, translate, settings),
                    "problems": [*report.problems, *(p for sig in report.signatures for p in sig.problems)],
                },
            )
        if not any(sig.ok and sig.signer_cccd is None for sig in report.signatures):
            # Every signature names a citizen's identity number: a person signed it, not the agency (its
            # organisation certificate carries no CCCD). A leader's signature beside the agency's is fine.
            raise Invalid(
                N_(
                    "The result {file} was refused: it is signed only by a person ({signer}), not with the "
                    "agency's organisation certificate."
                ),
                {"file": name, "signer": ", ".join(sorted({sig.signer_name or "?" for sig in report.signatures}))},
            )
        checked.append((name, data, report))
    refused = N_("A result can be issued only for a received dossier or one being processed: this one is {status}.")
    now = utcnow()
    centre_check = _procedure(session, dossier).centre_check
    # The applicant can have a checked result once the centre confirms it (its time, centre_check.confirm).
    ready: dict[str, Any] = {} if centre_check else {"result_ready_at": now}
    if not move_status(
        session,
        dossier,
        to=DossierStatus.RESULT_CHECK if centre_check else DossierStatus.RESULT_READY,
        allowed=[DossierStatus.RECEIVED, DossierStatus.IN_PROCESS],
        refused=refused,
        **ready,
    ):
        # A concurrent call issued first: the same files are its answer, other ones are refused.
        return issue_result(
            session=session,
            storage=storage,
            settings=settings,
            dossier=dossier,
            files=files,
            by=by,
            trust=trust,
            translate=translate,
        )
    results = []
    for name, data, report in checked:
        sealed = seal_or_pass(data, settings)
        row = DossierResult(
            dossier_id=dossier.id,
            filename=name,
            storage_key=storage.put(data, prefix=f"dossiers/{dossier.id}/results", suffix=".pdf"),
            sha256=report.sha256,
            size=len(data),
            pages=report.pages,
            sealed_key=storage.put(sealed, prefix=f"dossiers/{dossier.id}/results", suffix="-sealed.pdf"),
            sealed_sha256=hashlib.sha256(sealed).hexdigest(),
            signature_report=_signature_summary(report),
            uploaded_by=by[:120],
            created_at=now,
        )
        session.add(row)
        results.append(row)
    session.flush()
    refs = [{"id": r.id, "filename": r.filename, "sha256": r.sha256} for r in results]
    add_event(
        session,
        dossier,
        "result_check" if centre_check else "result_issued",
        actor=by,
        agency=dossier.agency_code,
        results=[{"id": r.id, "filename": r.filename} for r in results],
    )
    push(session, dossier, "dossier.result_issued", results=refs)
    if not centre_check:
        release_result(session, dossier, results)
    session.flush()
    return results


def release_result(session: Session, dossier: Dossier, results: Sequence[DossierResult]) -> None:
    """The result is the applicant's now: they are told, and `ResultIssued` is published (a delivery by post is
    ordered, parcels.py; linked members waiting for it are released; the store keeps it). At issue, or when
    the centre confirms a checked result (centre_check.confirm)."""
    _tell(
        session,
        dossier,
        "dossier.result",
        dossier.id,
    )
    publish(session, ResultIssued(dossier=dossier, results=results))
    session.flush()


def results_of(session: Session, dossier: Dossier) -> list[DossierResult]:
    """The dossier's result documents, in the order they were issued (not those the centre sent back)."""
    return list(
        session.exec(
            select(DossierResult)
            .where(DossierResult.dossier_id == dossier.id, col(DossierResult.refused_reason).is_(None))
            .order_by(col(DossierResult.created_at), col(DossierResult.filename))
        )
    )


# -- lateness, completion, rating


def apologise(*, session: Session, dossier: Dossier, reason: str, new_date: date, by: str) -> DossierApology:
    """The agency's apology for a late dossier (Decree 61/2018): the new date becomes the promised one;
    lateness is still measured against the official date."""
    reason = _text(reason, missing=N_("Give the reason for the delay."))
    if dossier.status not in OPEN_STATES:
        raise Conflict(
            N_("An apology can be sent only for a dossier still open at the agency: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    latest = session.exec(
        select(DossierApology).where(DossierApology.dossier_id == dossier.id).order_by(col(DossierApology.id).desc())
    ).first()
    if latest is not None and (latest.reason, latest.new_date) == (reason, new_date) and dossier.due_date == new_date:
        return latest  # a retry of the same apology
    today = local_date(utcnow())
    dates = [d for d in (dossier.official_due_date, dossier.due_date) if d is not None]
    if not dates or not any(today > d for d in dates):
        raise Conflict(
            N_("This dossier is not late: an apology can be sent only after its appointment date ({due})."),
            {"due": _day(dossier.due_date or dossier.official_due_date)},
        )
    if new_date <= today:
        raise Invalid(N_("The new appointment date must be after today."))
    previous = dossier.due_date
    won = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.status).in_(OPEN_STATES))
        .values(due_date=new_date, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(dossier)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            N_("An apology can be sent only for a dossier still open at the agency: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    apology = DossierApology(
        dossier_id=dossier.id, by=by[:120], reason=reason, previous_date=previous, new_date=new_date
    )
    session.add(apology)
    session.flush()
    add_event(
        session,
        dossier,
        "apology",
        actor=by,
        agency=dossier.agency_code,
        reason=reason,
        previous_date=previous.isoformat() if previous else None,
        new_date=new_date.isoformat(),
        due=new_date.isoformat(),
    )
    push(session, dossier, "dossier.apologised", reason=reason, previous_date=previous, new_date=new_date)
    _tell(
        session,
        dossier,
        "dossier.apology",
        str(apology.id),
        reason=reason,
        due=_day(new_date),
    )
    session.flush()
    return apology


def complete(*, session: Session, dossier: Dossier, handover: str, by: str) -> Dossier:
    """RESULT_READY → COMPLETED once the result was handed over (online, at the centre or by post); the
    dossier is judged early, on time or late against its official date."""
    if handover not in HANDOVERS:
        raise Invalid(N_("The handover must be one of: online, centre, post."))
    refused = N_("Only a dossier whose result is ready can be completed: this one is {status}.")
    now = utcnow()
    judged = deadline.judge(dossier)
    if not move_status(
        session,
        dossier,
        to=DossierStatus.COMPLETED,
        allowed=[DossierStatus.RESULT_READY],
        refused=refused,
        completed_at=now,
        handover=handover,
        timeliness=judged,
    ):
        return dossier
    add_event(
        session,
        dossier,
        "completed",
        actor=by,
        agency=dossier.agency_code,
        handover=handover,
        timeliness=str(judged),
    )
    push(session, dossier, "dossier.completed", handover=handover, timeliness=str(judged))
    _tell(
        session,
        dossier,
        "dossier.completed",
        dossier.id,
    )
    publish(session, Closed(dossier=dossier, status=DossierStatus.COMPLETED, handover=handover))  # visit_links.py
    session.flush()
    return dossier


def rate(
    *, session: Session, dossier: Dossier, account: Account, scores: Mapping[str, int], comment: str | None
) -> DossierRating:
    """The applicant scores each criterion from 1 to 5, once per completed dossier."""
    if dossier.status != DossierStatus.COMPLETED:
        raise Conflict(
            N_("A dossier can be rated once it is completed: this one is {status}."),
            {"status": DossierStatus(dossier.status)},
        )
    wanted = [str(c.value) for c in RatingCriterion]
    unknown = sorted(set(scores) - set(wanted))
    missing = [c for c in wanted if c not in scores]
    if unknown or missing:
        raise Invalid(
            N_("Score every criterion ({criteria}) and nothing else."),
            {"criteria": ", ".join(wanted), "unknown": unknown, "missing": missing},
        )
    clean: dict[str, int] = {}
    for criterion in wanted:
        value = scores[criterion]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise Invalid(N_("Each score is a whole number from 1 to 5."), {"criterion": criterion})
        clean[criterion] = value
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise Invalid(N_("The comment is longer than {n} characters."), {"n": MAX_TEXT})
    if session.get(DossierRating, dossier.id) is not None:
        raise Conflict(N_("This dossier has already been rated."))
    rating = DossierRating(dossier_id=dossier.id, account_id=account.id, scores=clean, comment=text)
    try:
        with session.begin_nested():
            session.add(rating)
            session.flush()
    except IntegrityError:
        raise Conflict(N_("This dossier has already been rated.")) from None
    add_event(session, dossier, "rated", actor=account.full_name, scores=clean)
    push(session, dossier, "dossier.rated", scores=clean, comment=text)
    session.flush()
    return rating


def timeliness_of(dossier: Dossier) -> Timeliness | None:
    """The stored judgement of a completed dossier."""
    return Timeliness(dossier.timeliness) if dossier.timeliness else None
