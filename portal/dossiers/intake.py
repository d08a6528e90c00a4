"""Counter intake: a paper dossier handed in at the centre is registered by the officer (Decree 61/2018,
Art. 17) and from then on lives like an online one: a code, a receipt, an appointment date, the citizen's
account (found or created by CCCD), the statistics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlmodel import Session, col, select

from auth.models import Account
from auth.service import normalise_login
from forms.address import parse_address
from forms.definition import FormDefinition
from forms.validation import validate_data, validate_step, values_to_raw
from portal.catalog.models import Procedure
from portal.dossiers.models import Channel, Dossier, DossierStatus
from portal.dossiers.outbox import DossierSubmitted
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.dossiers.service import (
    DELIVERY_FIELD,
    PreparedFile,
    Upload,
    add_event,
    add_files,
    get_definition,
    next_sequence,
    prepare_files,
)
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import local, utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.outbox import enqueue
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from postal.addresses import PostalAddress

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class CounterApplicant(BaseModel):
    """Who handed the dossier in, as on their citizen identity card (CCCD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cccd: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] = Field(description="12-digit CCCD number.")
    full_name: _Name
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    birth_date: date | None = None
    address: str | None = Field(default=None, max_length=300)


def applicant_account(session: Session, applicant: CounterApplicant) -> Account:
    """The account of this CCCD (the oldest, if several), or a new one without a password: the citizen follows
    the dossier by its code, or in this account once they sign in to it."""
    found = session.exec(
        select(Account).where(Account.cccd == applicant.cccd).order_by(col(Account.created_at), col(Account.id))
    ).first()
    if found is not None:
        return found
    email = normalise_login(applicant.email)[0] if applicant.email else None
    phone = normalise_login(applicant.phone)[1] if applicant.phone else None
    # A contact already used by another account stays with it (the login must stay unique).
    if email and session.exec(select(Account.id).where(Account.email == email)).first():
        email = None
    if phone and session.exec(select(Account.id).where(Account.phone == phone)).first():
        phone = None
    account = Account(
        full_name=" ".join(applicant.full_name.split()),
        cccd=applicant.cccd,
        birth_date=applicant.birth_date,
        address=applicant.address,
        email=email,
        phone=phone,
    )
    session.add(account)
    session.flush()
    return account


def clean_answers(defn: FormDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as the online form would store them, step by step; Invalid naming the fields in error."""
    known = {f.name for f in defn.all_fields()}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise Invalid(
            N_("The form has no field named {fields}."), {"fields": ", ".join(unknown), "known": sorted(known)}
        )
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for step in defn.steps:
        result = validate_step(defn, step.id, values_to_raw(step.fields, answers), context={**answers, **data})
        data.update(result.values)
        errors.update({path: str(msg) for path, msg in result.errors.items()})
    errors.update({path: str(msg) for path, msg in validate_data(defn, data).items() if path not in errors})
    if errors:
        raise Invalid(
            N_("Some answers are not valid: {fields}."),
            {"fields": ", ".join(sorted(errors)), "errors": errors},
        )
    return data


def _grouped(
    procedure: Procedure, files: Sequence[tuple[str, str, bytes]], settings: Settings
) -> dict[str, list[PreparedFile]]:
    """The files by component, checked and converted; Invalid for an unknown or a missing mandatory component."""
    by_component: dict[str, list[Upload]] = defaultdict(list)
    for component_id, filename, data in files:
        by_component[component_id].append(Upload(filename, data))
    unknown = sorted(c for c in by_component if procedure.component(c) is None)
    if unknown:
        raise Invalid(
            N_("The procedure has no document {components}: use its components ({known})."),
            {"components": ", ".join(unknown), "known": ", ".join(c.id for c in procedure.component_list)},
        )
    missing = [c.id for c in procedure.component_list if c.mandatory and c.id not in by_component]
    if missing:
        raise Invalid(
            N_("Mandatory documents are missing: {components}."),
            {"components": ", ".join(missing)},
        )
    return {
        component_id: prepare_files(uploads, max_file_bytes=settings.max_file_bytes)
        for component_id, uploads in by_component.items()
    }


def _delivery(procedure: Procedure, answers: Mapping[str, Any], chosen: str | None) -> str:
    method = chosen or answers.get(DELIVERY_FIELD)
    if method:
        if method not in procedure.delivery:
            raise Invalid(
                N_("This procedure delivers its result only: {methods}."), {"methods": ", ".join(procedure.delivery)}
            )
        return str(method)
    return "centre" if "centre" in procedure.delivery else procedure.delivery[0]


def _postal_address(method: str, given: PostalAddress | None, applicant: CounterApplicant) -> dict[str, Any] | None:
    """Where a result by post goes: the address given, else the applicant's own when it is a complete postal
    address (name, phone, and an address whose ward is recognised); Invalid when neither."""
    if method != "post":
        if given is not None:
            raise Invalid(N_("A delivery address is given only for a result sent by post."))
        return None
    if given is not None:
        return given.model_dump()
    place = parse_address(applicant.address or "")
    if place is not None and applicant.phone:
        try:
            own = PostalAddress(name=applicant.full_name, phone=applicant.phone, **place)
        except ValidationError:
            own = None
        if own is not None:
            return own.model_dump()
    raise Invalid(N_("A result sent by post needs a delivery address: give the postal address it goes to."))


def register_at_counter(
    *,
    session: Session,
    storage: Storage,
    settings: Settings,
    procedure: Procedure,
    applicant: CounterApplicant,
    answers: dict[str, Any],
    files: Sequence[tuple[str, str, bytes]],
    officer: str,
    by: str,
    delivery_method: str | None = None,
    delivery_address: PostalAddress | None = None,
) -> Dossier:
    """Register a paper dossier received at the counter: RECEIVED at once, by `officer`.

    `files` are (component id, file name, bytes), the digitised documents; `answers` the form's values as
    stored (the online form's canonical JSON). A result by post goes to `delivery_address` (else to the
    applicant's own address when it is a complete postal one): the postal delivery is ordered with the result.
    The dossier gets a code and an appointment date like an online one, its receipt is built by the worker, the
    agency's back-office is pushed `dossier.registered`.
    """
    if not procedure.active:
        raise NotFound(N_("There is no procedure with this code."))
    if procedure.is_linked:
        # One dossier of no member: the other agencies would never get their part (docs/LINKED.md).
        raise Conflict(
            N_(
                "{code} is a linked application of several procedures: it cannot be registered as one dossier at "
                "the counter. Register each of its procedures with its own agency."
            ),
            {"code": procedure.code},
        )
    officer = officer.strip()
    if not officer or len(officer) > 120:
        raise Invalid(N_("Give the name of the officer who received the dossier."))
    defn = get_definition(session, procedure.form_id, procedure.form_version)
    data = clean_answers(defn, answers)
    method = _delivery(procedure, answers, delivery_method)
    address = _postal_address(method, delivery_address, applicant)
    prepared = _grouped(procedure, files, settings)
    account = applicant_account(session, applicant)
    dossier = Dossier(
        procedure_code=procedure.code,
        agency_code=procedure.agency_code,
        applicant_id=account.id,
        form_id=defn.id,
        form_version=defn.version,
        data=data,
        answers_checked=True,
        delivery_method=method,
        delivery_address=address,
        channel=Channel.COUNTER,
        intake_officer=officer,
    )
    session.add(dossier)
    session.flush()
    for component_id, ready in prepared.items():
        add_files(
            session=session,
            storage=storage,
            settings=settings,
            dossier=dossier,
            procedure=procedure,
            component_id=component_id,
            files=ready,
            require_signature=False,  # paper signed by hand, seen by the officer
        )
    now = utcnow()
    day = local(now).strftime("%y%m%d")
    seq = next_sequence(session, procedure.agency_code, day)
    due = appointment_date(now, procedure.deadline_days)
    dossier.code = f"{procedure.agency_code}-{day}-{seq:04d}"
    dossier.status = DossierStatus.RECEIVED
    dossier.submitted_at = dossier.received_at = dossier.updated_at = now
    dossier.received_by = officer
    dossier.due_date = dossier.official_due_date = due
    session.add(dossier)
    session.flush()
    add_event(
        session,
        dossier,
        "registered_at_counter",
        actor=by,
        officer=officer,
        agency=dossier.agency_code,
        code=dossier.code,
        due=due.isoformat(),
    )
    enqueue(session, DossierSubmitted(dossier_id=dossier.id))
    push(
        session,
        dossier,
        "dossier.registered",
        channel=dossier.channel,
        intake_officer=officer,
        submitted_at=now,
    )
    tell(
        session,
        dossier,
        account_id=account.id,
        kind="dossier.registered",
        dedupe_key=f"dossier.registered:{dossier.id}",
        params={"code": dossier.code, "due": due.strftime("%d/%m/%Y")},
    )
    session.flush()
    return dossier
