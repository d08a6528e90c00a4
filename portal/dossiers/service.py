"""Dossier use cases: drafts, steps, files, submission. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from auth.assurance import require_level
from auth.deps import Viewer
from auth.models import Account
from forms.address import parse_address
from forms.definition import FieldType, FormDefinition
from forms.messages import Msg
from forms.models import FormVersion
from forms.uploads import (
    MAX_IMAGE_DECODED_BYTES,
    PreparedUpload,
    UploadRejected,
    combine_size_ok,
    prepare_upload,
)
from forms.validation import StepResult, validate_data, validate_step, values_to_raw
from portal.businesses.models import Representative
from portal.businesses.service import representative_of
from portal.catalog import linked as catalog_linked
from portal.catalog.models import Component, Procedure
from portal.dossiers import billing
from portal.dossiers.events import Closed, Moved, Submitted
from portal.dossiers.models import (
    Dossier,
    DossierChangeCounter,
    DossierEvent,
    DossierFile,
    DossierPause,
    DossierSequence,
    DossierStatus,
    SupplementRequest,
)
from portal.dossiers.outbox import DossierSubmitted
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import local, utcnow
from portal.kernel.db import settings_of
from portal.kernel.errors import Conflict, DomainError, Invalid, NotFound
from portal.kernel.events import publish
from portal.kernel.i18n import N_
from portal.kernel.outbox import enqueue
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from postal.addresses import clean_postal_address

TYPE_NAMES = {"application/pdf": "pdf", "image/jpeg": "jpeg", "image/png": "png"}


# Parsed definitions by (form, version, content hash): a few dozen at most, and immutable.
_definitions: dict[tuple[str, int, str], FormDefinition] = {}


def get_definition(session: Session, form_id: str, version: int) -> FormDefinition:
    """The stored definition a dossier was started on (old versions stay loadable)."""
    row = session.get(FormVersion, (form_id, version))
    if row is None:
        raise NotFound(N_("The form of this procedure is not available."))
    key = (form_id, version, row.sha256)
    defn = _definitions.get(key)
    if defn is None:
        defn = _definitions[key] = FormDefinition.model_validate(row.body)
    return defn


def own_dossier(session: Session, dossier_id: str, account: Account, *, lock: bool = False) -> Dossier:
    """The dossier if the account may see it; anyone else gets the same 404 as for a missing one.

    A personal dossier is its applicant's only; a business dossier is every current representative's
    of that business (whoever started it), whatever the browser is acting as at the moment.
    """
    represented = select(Representative.business_id).where(Representative.account_id == account.id)
    stmt = select(Dossier).where(
        Dossier.id == dossier_id,
        or_(
            and_(col(Dossier.business_id).is_(None), col(Dossier.applicant_id) == account.id),
            col(Dossier.business_id).in_(represented),
        ),
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Dossier)
    dossier = session.exec(stmt).first()
    if dossier is None:
        raise NotFound(N_("There is no dossier with this reference in your account."))
    return dossier


def touch(session: Session, dossier: Dossier) -> None:
    """Give the dossier the next number of the change feed (`Dossier.change_seq`).

    The dossier's row is locked first, then the counter's (always in this order, so two transactions never
    wait on each other); the counter's row stays locked until commit, so numbers become visible in the order
    they were given and a poller reading "changed after N" misses none.
    """
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(col(Dossier.id)).where(col(Dossier.id) == dossier.id).with_for_update())
    table = DossierChangeCounter.__table__  # type: ignore[attr-defined]
    ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)
    stmt = (
        ins.values(id=1, last=1)
        .on_conflict_do_update(index_elements=["id"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    seq = int(session.execute(stmt).scalar_one())
    session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id)
        .values(change_seq=seq)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(dossier, "change_seq", seq)


def add_event(session: Session, dossier: Dossier, kind: str, *, actor: str = "", **details: Any) -> DossierEvent:
    """Append an entry to the dossier's timeline; a dossier others may see (not a draft) moves in the feed."""
    event = DossierEvent(dossier_id=dossier.id, kind=kind, actor=actor[:80], details=details)
    session.add(event)
    if dossier.status != DossierStatus.DRAFT:
        touch(session, dossier)
    return event


def prefill_values(defn: FormDefinition, profile: Mapping[str, str]) -> dict[str, Any]:
    """Top-level fields that declare a profile key start with the applicant's value."""
    values: dict[str, Any] = {}
    for step in defn.steps:
        for field in step.fields:
            if not field.prefill or field.prefill not in profile or field.type == FieldType.GROUP:
                continue
            value: Any = profile[field.prefill]
            if field.type == FieldType.ADDRESS:
                # Profiles hold the provider's formatted address; the form keeps province/ward/street.
                value = parse_address(value) if isinstance(value, str) else None
                if value is None:
                    continue
            values[field.name] = value
    return values


def create_draft(*, session: Session, procedure: Procedure, by: Account, business_id: str | None = None) -> Dossier:
    """Start a dossier for a procedure, on the procedure's current form version (for a business `by` represents)."""
    if not procedure.active:
        raise NotFound(N_("There is no procedure with this code."))
    if business_id is not None and not representative_of(session, by.id, business_id):
        raise NotFound(N_("There is no business with this reference among yours."))
    defn = get_definition(session, procedure.form_id, procedure.form_version)
    dossier = Dossier(
        procedure_code=procedure.code,
        agency_code=procedure.agency_code,
        applicant_id=by.id,
        business_id=business_id,
        form_id=defn.id,
        form_version=defn.version,
        data=prefill_values(defn, by.profile),
        delivery_method=procedure.delivery[0] if len(procedure.delivery) == 1 else None,
        # A linked entry's dossier is the parent of the members' dossiers created at its submission (linked.py).
        linked_role="parent" if procedure.is_linked else None,
    )
    session.add(dossier)
    session.flush()
    add_event(session, dossier, "created", actor=by.full_name)
    session.flush()
    return dossier


# The form field whose answer is the dossier's delivery method, when a form asks it itself.
DELIVERY_FIELD = "delivery_method"
# The form field whose answer is where the result goes by post, when a form asks it (province, ward, street).
DELIVERY_ADDRESS_FIELD = "delivery_address"


def _require_draft(dossier: Dossier) -> None:
    if dossier.status != DossierStatus.DRAFT:
        raise Conflict(N_("This dossier has already been submitted and can no longer be changed."))


def open_supplement(session: Session, dossier: Dossier) -> SupplementRequest | None:
    """The agency's supplement request that the applicant has not answered yet, if any."""
    return session.exec(
        select(SupplementRequest)
        .where(SupplementRequest.dossier_id == dossier.id, col(SupplementRequest.answered_at).is_(None))
        .order_by(col(SupplementRequest.requested_at).desc())
    ).first()


def supplement_targets(session: Session, dossier: Dossier) -> tuple[set[str], set[str]]:
    """What the applicant may change now: (form fields, components) named by the open supplement request.

    Both empty unless the dossier awaits a supplement (a draft is edited whole, see `_editable`).
    """
    if dossier.status != DossierStatus.SUPPLEMENT_REQUESTED:
        return set(), set()
    request = open_supplement(session, dossier)
    items = request.items if request is not None else []
    fields = {str(i.get("target")) for i in items if i.get("kind") == "field"}
    components = {str(i.get("target")) for i in items if i.get("kind") == "component"}
    return fields, components


def _editable(session: Session, dossier: Dossier) -> tuple[set[str], set[str]] | None:
    """None for a draft (everything may change); the supplement's targets while one is awaited; else Conflict."""
    if dossier.status == DossierStatus.DRAFT:
        return None
    if dossier.status == DossierStatus.SUPPLEMENT_REQUESTED:
        return supplement_targets(session, dossier)
    raise Conflict(N_("This dossier has already been submitted and can no longer be changed."))


def _require_target(component_id: str, targets: tuple[set[str], set[str]]) -> None:
    if component_id not in targets[1]:
        raise Conflict(
            N_("The agency did not ask for this document: only the documents named in its request can be changed.")
        )


def _supplement_raw(
    defn: FormDefinition, step_id: str, raw: Mapping[str, list[str]], data: Mapping[str, Any], fields: set[str]
) -> dict[str, list[str]]:
    """The step's inputs with every field the supplement does not name put back to its stored value."""
    step = defn.step(step_id)
    kept = [f for f in step.fields if f.name not in fields]
    out = {k: v for k, v in raw.items() if k.split(".", 1)[0] in fields}
    out.update(values_to_raw(kept, data))
    return out


def save_step(
    *,
    session: Session,
    dossier: Dossier,
    defn: FormDefinition,
    step_id: str,
    raw: Mapping[str, list[str]],
    settings: Settings | None = None,
) -> StepResult:
    """Validate one step and save what was typed, errors included, so nothing is lost.

    Once a payment was made, a change of an answer the bill counts (the copies requested, the linked
    procedures ticked) that would alter the amount is refused (Conflict) and nothing of the step is kept.
    `settings`: the app's (the bill's postal prices); the session's when not given.

    While a supplement is awaited only the fields it names change; the others keep their stored values
    whatever was posted (they are read-only).
    """
    targets = _editable(session, dossier)
    if step_id not in defn.step_ids:
        raise NotFound(N_("This step does not exist."))
    if targets is not None:
        raw = _supplement_raw(defn, step_id, raw, dossier.data, targets[0])
    context = {k: v for k, v in dossier.data.items()}
    result = validate_step(defn, step_id, raw, context=context)
    previous = dossier.data, dossier.delivery_method, dossier.delivery_address
    data = dict(dossier.data)
    data.update(result.values if targets is None else {k: v for k, v in result.values.items() if k in targets[0]})
    dossier.data = data
    # A form that asks how the result is delivered (a field `delivery_method`) answers the review page's
    # question too, so that page shows the right bill and does not ask again (a draft's only: the bill may
    # have been paid once it was submitted).
    answered = result.values.get(DELIVERY_FIELD)
    if targets is None and isinstance(answered, str) and answered:
        procedure = session.get(Procedure, dossier.procedure_code)
        if procedure is not None and answered in procedure.delivery:
            dossier.delivery_method = answered
            if answered == "post":
                _postal_from_answers(session, dossier)
    # An answer the bill counts (copies requested, the linked procedures ticked, the delivery) may not change
    # a bill already paid.
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is not None:
        try:
            billing.check_bill_change(session, procedure, dossier, settings or settings_of(session))
        except Conflict:
            # The refusing request still commits: nothing of the change may stick.
            dossier.data, dossier.delivery_method, dossier.delivery_address = previous
            raise
    dossier.last_step = step_id
    dossier.answers_checked = False
    dossier.updated_at = utcnow()
    session.add(dossier)
    session.flush()
    return result


def dossier_files(session: Session, dossier: Dossier) -> list[DossierFile]:
    """Files of a dossier in upload order."""
    stmt = select(DossierFile).where(DossierFile.dossier_id == dossier.id).order_by(col(DossierFile.created_at))
    return list(session.exec(stmt))


@dataclass(frozen=True)
class Upload:
    """A file as received from the browser."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class PreparedFile:
    """An upload that passed the content checks, already converted to PDF."""

    upload: Upload
    ready: PreparedUpload


def prepare_files(
    uploads: Sequence[Upload], *, max_file_bytes: int, max_image_decoded_bytes: int = MAX_IMAGE_DECODED_BYTES
) -> list[PreparedFile]:
    """Check and convert uploads (CPU only, no database): run it before the transaction starts."""
    uploads = [u for u in uploads if u.filename or u.data]
    if not uploads:
        raise Invalid(N_("Choose a file to upload."))
    prepared = []
    for upload in uploads:
        try:
            ready = prepare_upload(upload.data, max_bytes=max_file_bytes, max_decoded_bytes=max_image_decoded_bytes)
            prepared.append(PreparedFile(upload, ready))
        except UploadRejected as exc:
            raise DomainError(exc.msgid, {**exc.params, "file": upload.filename}, status_code=exc.status_code) from exc
    return prepared


def add_files(
    *,
    session: Session,
    storage: Storage,
    settings: Settings,
    dossier: Dossier,
    procedure: Procedure,
    component_id: str,
    files: Sequence[PreparedFile],
    signatures: Sequence[dict[str, Any]] | None = None,
    require_signature: bool = True,
) -> list[DossierFile]:
    """Store checked files for one component; a refusal stores none of them.

    `signatures`: for a component that must be signed, the validation summary of each file (same order).
    `require_signature`: False for paper documents digitised at the counter (signed by hand, seen by the
    officer). While a supplement is awaited, only the components it names accept files.
    """
    targets = _editable(session, dossier)
    component = procedure.component(component_id)
    if component is None:
        raise NotFound(N_("This dossier has no such component."))
    if targets is not None:
        _require_target(component_id, targets)
    if not files:
        raise Invalid(N_("Choose a file to upload."))
    existing = list(dossier_files(session, dossier))
    same = [f for f in existing if f.component_id == component_id]
    if not component.multiple and len(files) > 1:
        raise Invalid(N_("Only one file is accepted for this component."))
    if component.multiple and len(same) + len(files) > 20:
        raise Invalid(N_("At most {n} files can be attached to one component."), {"n": 20})
    replaced = same if not component.multiple else []
    total = sum(f.size for f in existing if f not in replaced)
    for file in files:
        if TYPE_NAMES.get(file.ready.original_media_type) not in component.accepts:
            raise DomainError(
                N_("This component accepts only {types} files."),
                {"types": ", ".join(t.upper() for t in component.accepts), "file": file.upload.filename},
                status_code=415,
            )
        try:
            combine_size_ok(total, file.ready.size, max_total=settings.max_dossier_bytes)
        except UploadRejected as exc:
            raise DomainError(exc.msgid, {**exc.params, "file": file.upload.filename}, status_code=413) from exc
        total += file.ready.size
    stored: list[DossierFile] = []
    if require_signature and component.signature_required and (signatures is None or len(signatures) != len(files)):
        raise Invalid(N_("This document must carry a digital signature."))
    for index, (upload, ready) in enumerate((f.upload, f.ready) for f in files):
        key = storage.put(ready.pdf, prefix=f"dossiers/{dossier.id}", suffix=".pdf")
        name = (upload.filename or "file").replace("\\", "/").rsplit("/", 1)[-1][:200]
        if not name.lower().endswith(".pdf"):
            name = name.rsplit(".", 1)[0] + ".pdf"
        row = DossierFile(
            dossier_id=dossier.id,
            component_id=component_id,
            filename=name,
            storage_key=key,
            sha256=ready.sha256,
            original_media_type=ready.original_media_type,
            size=ready.size,
            pages=ready.pages,
            signature="uploaded" if signatures else None,
            signature_report=dict(signatures[index]) if signatures else None,
        )
        session.add(row)
        stored.append(row)
    for old in replaced:
        session.delete(old)
    dossier.updated_at = utcnow()
    dossier.answers_checked = False
    session.add(dossier)
    session.flush()
    return stored


def remove_file(*, session: Session, dossier: Dossier, file_id: str) -> None:
    """Take a file off a draft, or off a component a supplement request names (the stored bytes are swept
    later)."""
    targets = _editable(session, dossier)
    row = session.get(DossierFile, file_id)
    if row is None or row.dossier_id != dossier.id:
        raise NotFound(N_("There is no such file in this dossier."))
    if targets is not None:
        _require_target(row.component_id, targets)
    session.delete(row)
    dossier.updated_at = utcnow()
    session.add(dossier)
    session.flush()


@dataclass(frozen=True)
class Readiness:
    """What still stops a submission."""

    form_errors: dict[str, Msg]
    missing_components: list[Component]
    delivery_missing: bool
    payment_due: int = 0  # đồng to pay before submitting (procedures that take the fee first)
    address_missing: bool = False  # by post, but no postal address given yet

    @property
    def ok(self) -> bool:
        return (
            not self.form_errors and not self.missing_components and not self.delivery_missing
        ) and not self.address_missing

    @property
    def ok_to_submit(self) -> bool:
        return self.ok and not self.payment_due


def readiness(
    session: Session, dossier: Dossier, procedure: Procedure, defn: FormDefinition, *, settings: Settings
) -> Readiness:
    """Check the whole form, the mandatory components and the delivery method."""
    files = dossier_files(session, dossier)
    have = {f.component_id for f in files}
    unsigned = {f.component_id for f in files if not f.signature}
    # A component that must be signed counts as missing while any of its files is not signed.
    declared_reduction = procedure.reduction(dossier.fee_reduction) is not None
    # A linked application needs only the components of the members it applies for (an optional member not
    # ticked needs nothing).
    needed = [
        c
        for c in procedure.component_list
        if not procedure.is_linked or catalog_linked.component_applies(procedure, c, dossier.data)
    ]
    missing = [
        c
        for c in needed
        if (c.mandatory and c.id not in have)
        or (c.signature_required and c.id in unsigned)
        or (c.reduction_proof and declared_reduction and c.id not in have)
    ]
    return Readiness(
        form_errors=validate_data(defn, dossier.data),
        missing_components=missing,
        delivery_missing=dossier.delivery_method not in procedure.delivery,
        address_missing=dossier.delivery_method == "post" and not dossier.delivery_address,
        payment_due=billing.payment_blocks_submission(session, procedure, dossier, settings),
    )


def unneeded_components(session: Session, procedure: Procedure, dossier: Dossier) -> dict[str, list[dict[str, str]]]:
    """A linked application's components that no member it applies for needs, each with the names (vi, en) of
    the members that would need it: the label of an optional member's box, or its procedure's name. Empty for
    any other dossier."""
    if not procedure.is_linked:
        return {}
    members = {m.procedure: m for m in catalog_linked.members_of(procedure)}
    out: dict[str, list[dict[str, str]]] = {}
    for component in procedure.component_list:
        if catalog_linked.component_applies(procedure, component, dossier.data):
            continue
        names = []
        for code in component.members:
            member = members.get(code)
            if member is not None and member.optional is not None:
                names.append(member.optional.model_dump())
            elif (proc := session.get(Procedure, code)) is not None:
                names.append({"vi": proc.name_vi, "en": proc.name_en})
        out[component.id] = names
    return out


def default_postal_address(session: Session, dossier: Dossier) -> dict[str, str]:
    """The postal address a delivery or pickup form starts from: the applicant's, as far as it is known.

    The name and phone from the form's answers or the account; the place from the answers: the form's own
    delivery address when it asks one, else the first address answered. Parts not known are "" (the form
    asks them); nothing here is validated.
    """
    applicant = session.get(Account, dossier.applicant_id)
    profile = applicant.profile if applicant is not None else {}
    data = dossier.data or {}
    place = data.get(DELIVERY_ADDRESS_FIELD)
    if not (isinstance(place, Mapping) and {"province", "ward"} <= place.keys()):
        place = next((v for v in data.values() if isinstance(v, Mapping) and {"province", "ward"} <= v.keys()), {})
    assert isinstance(place, Mapping)

    def text(value: object) -> str:
        return value.strip() if isinstance(value, str) else ""

    return {
        "name": text(data.get("full_name")) or text(profile.get("full_name")),
        "phone": text(data.get("phone")) or text(profile.get("phone")),
        "province": text(place.get("province")),
        "ward": text(place.get("ward")),
        "street": text(place.get("street")),
        "notes": "",
    }


def _postal_from_answers(session: Session, dossier: Dossier) -> None:
    """By post, as the form answered: a form that asks the delivery address itself sets the postal address's
    place (a recipient, phone and notes given on the delivery page are kept); otherwise the applicant's
    address is taken when none was given yet. An answer that is not a complete postal address changes nothing
    (the delivery page asks what is missing)."""
    asked = isinstance(dossier.data.get(DELIVERY_ADDRESS_FIELD), Mapping)
    if dossier.delivery_address and not asked:
        return
    current = dossier.delivery_address or {}
    given = {k: current[k] for k in ("name", "phone", "notes") if current.get(k)}
    address, errors = clean_postal_address({**default_postal_address(session, dossier), **given})
    if address is not None and not errors:
        dossier.delivery_address = address.model_dump()


def set_delivery(*, session: Session, dossier: Dossier, procedure: Procedure, method: str, settings: Settings) -> None:
    """Record how the applicant wants to receive the result.

    By post without an address yet, the applicant's own address is taken when it is a complete postal
    address (the review page shows it, the delivery page changes it); otherwise the delivery page asks it.
    """
    _require_draft(dossier)
    if method not in procedure.delivery:
        raise Invalid(N_("Choose how you want to receive the result."))
    previous = dossier.delivery_method, dossier.delivery_address, dossier.pay_on_delivery
    dossier.delivery_method = method
    if method == "post" and not dossier.delivery_address:
        address, errors = clean_postal_address(default_postal_address(session, dossier))
        dossier.delivery_address = address.model_dump() if address is not None and not errors else None
    if method != "post":
        dossier.pay_on_delivery = False
    try:
        billing.check_bill_change(session, procedure, dossier, settings)
    except Conflict:
        # The refusing request still commits: nothing of the change may stick.
        dossier.delivery_method, dossier.delivery_address, dossier.pay_on_delivery = previous
        raise
    session.add(dossier)
    session.flush()


def next_sequence(session: Session, agency_code: str, day: str) -> int:
    """Atomically take the next number of an agency's day (safe across processes)."""
    dialect = session.get_bind().dialect.name
    table = DossierSequence.__table__  # type: ignore[attr-defined]
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    stmt = (
        ins.values(agency_code=agency_code, day=day, last=1)
        .on_conflict_do_update(index_elements=["agency_code", "day"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def submit(
    *,
    session: Session,
    dossier: Dossier,
    procedure: Procedure,
    defn: FormDefinition,
    by: Account,
    settings: Settings,
) -> Dossier:
    """Submit a complete draft once: a second or concurrent submit returns the same dossier."""
    if dossier.status != DossierStatus.DRAFT:
        if dossier.code:
            return dossier
        raise Conflict(N_("This dossier can no longer be submitted."))
    ready = readiness(session, dossier, procedure, defn, settings=settings)
    if not ready.ok:
        raise Invalid(N_("The dossier is not complete yet. Correct the points listed below."))
    if ready.payment_due:
        raise Conflict(N_("The fee of this procedure must be paid before the dossier is submitted."))
    now = utcnow()
    # The conditional update is the lock: only one request moves the draft on.
    won = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.status) == DossierStatus.DRAFT)
        .values(status=DossierStatus.SUBMITTED, submitted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(dossier)
        if dossier.code:
            return dossier
        raise Conflict(N_("This dossier can no longer be submitted."))
    day = local(now).strftime("%y%m%d")
    seq = next_sequence(session, procedure.agency_code, day)
    session.refresh(dossier)
    dossier.code = f"{procedure.agency_code}-{day}-{seq:04d}"
    dossier.due_date = appointment_date(now, procedure.deadline_days)
    session.add(dossier)
    if dossier.linked_role == "parent":
        # A linked application: its children are created now (linked.py), each with its own code and date, the
        # parent's date is the last child's; a failure rolls the whole submission back. It is never pushed.
        publish(session, Submitted(dossier=dossier))
    add_event(session, dossier, "submitted", actor=by.full_name, code=dossier.code, due=dossier.due_date.isoformat())
    session.flush()
    tell(
        session,
        dossier,
        kind="dossier.submitted",
        dedupe_key=f"dossier.submitted:{dossier.id}",
        params={"code": dossier.code, "due": dossier.due_date.strftime("%d/%m/%Y")},
    )
    enqueue(session, DossierSubmitted(dossier_id=dossier.id))
    push(session, dossier, "dossier.submitted", channel=dossier.channel, submitted_at=dossier.submitted_at)
    if dossier.linked_role != "parent":
        publish(session, Submitted(dossier=dossier))  # the pickup of the originals is ordered (parcels.py)
    return dossier


def submit_reviewed(
    *,
    session: Session,
    dossier: Dossier,
    procedure: Procedure,
    defn: FormDefinition,
    by: Account,
    viewer: Viewer,
    settings: Settings,
    delivery_method: str = "",
) -> bool:
    """The review page's "submit": keep the delivery chosen there, check the sign-in level, then submit once.

    False when the fee must be paid first (its payment then submits the dossier). A sign-in below the
    procedure's level raises `StepUpRequired` after the delivery choice was recorded, so it is kept.
    """
    if dossier.status == DossierStatus.DRAFT:
        if delivery_method:
            set_delivery(
                session=session, dossier=dossier, procedure=procedure, method=delivery_method, settings=settings
            )
        require_level(viewer, procedure.required_assurance, next_url=f"/dossiers/{dossier.id}/review")
        ready = readiness(session, dossier, procedure, defn, settings=settings)
        if ready.ok and ready.payment_due:
            return False
    submit(session=session, dossier=dossier, procedure=procedure, defn=defn, by=by, settings=settings)
    return True


def count_by_status(session: Session, account: Account, *, business_id: str | None = None) -> dict[str, int]:
    """How many dossiers the acting identity has in each status (the account's own, or a business's)."""
    rows = session.exec(
        select(Dossier.status, func.count()).where(acting_identity(account.id, business_id)).group_by(Dossier.status)
    ).all()
    return {status: n for status, n in rows}


def acting_identity(account_id: str, business_id: str | None) -> ColumnElement[bool]:
    """Which dossiers belong to whom the browser acts for: a business's, or the account's personal ones.

    `business_id` must already be one the account represents (as `Viewer.acting_as` is).
    """
    if business_id is not None:
        return col(Dossier.business_id) == business_id
    return and_(col(Dossier.business_id).is_(None), col(Dossier.applicant_id) == account_id)


def move_status(
    session: Session,
    dossier: Dossier,
    *,
    to: DossierStatus,
    allowed: Sequence[str],
    refused: str,
    params: Mapping[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move the dossier to `to` from one of `allowed` states, once: True if this call moved it.

    One conditional UPDATE, so of two concurrent calls only one moves it. The agency's sub-status is cleared
    (it belongs to the main status), and `values` are written with the status. Already there: False (a retry
    changes nothing). Anywhere else: Conflict with the `refused` message (its `params`, plus `status`: where
    the dossier is).
    """
    if dossier.status == to:
        return False
    previous = dossier.status
    won = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.status).in_(allowed))
        .values(status=to, updated_at=utcnow(), sub_status=None, sub_status_vi=None, sub_status_en=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(dossier)
    if won.rowcount == 1:  # type: ignore[attr-defined]
        publish(session, Moved(dossier=dossier, previous=previous))  # a linked parent follows (linked.py)
        return True
    if dossier.status == to:
        return False
    # The enum member: pages show its label in their language, the partner API its code.
    raise Conflict(refused, {**(params or {}), "status": DossierStatus(dossier.status)})


def withdraw(*, session: Session, dossier: Dossier, by: Account) -> Dossier:
    """The applicant takes back a submitted dossier before the agency has received it (idempotent).

    A linked application is taken back whole: it and each of its members' dossiers, while no agency has
    received its part (else Conflict naming the part); a member waiting for another's result is taken back too.
    """
    if dossier.linked_role == "child":
        # One part alone would leave the parts waiting on its result waiting for ever.
        raise Conflict(
            N_("This dossier is one part of a linked application: withdraw the whole application on its page.")
        )
    refused = N_("Only a submitted dossier that the agency has not received yet can be withdrawn.")
    children: list[Dossier] = []
    if dossier.linked_role == "parent":
        children = _withdrawable_children(session, dossier)
    if move_status(session, dossier, to=DossierStatus.WITHDRAWN, allowed=[DossierStatus.SUBMITTED], refused=refused):
        add_event(session, dossier, "withdrawn", actor=by.full_name)
        billing.refund_on_exit(session, dossier, reason="withdrawn")
        push(session, dossier, "dossier.withdrawn")
        publish(session, Closed(dossier=dossier, status=DossierStatus.WITHDRAWN))  # its visits (visit_links.py)
        for child in children:
            pushed = child.status == DossierStatus.SUBMITTED  # a waiting child was never pushed to its agency
            allowed = [DossierStatus.SUBMITTED, DossierStatus.WAITING]
            if move_status(session, child, to=DossierStatus.WITHDRAWN, allowed=allowed, refused=refused):
                add_event(session, child, "withdrawn", actor=by.full_name)
                billing.refund_on_exit(session, child, reason="withdrawn")
                if pushed:
                    push(session, child, "dossier.withdrawn")
                publish(session, Closed(dossier=child, status=DossierStatus.WITHDRAWN))
        session.flush()
    return dossier


def _withdrawable_children(session: Session, parent: Dossier) -> list[Dossier]:
    """The members' dossiers of a linked application not withdrawn yet; Conflict when an agency already has its
    part (received or further), naming it."""
    rows = session.exec(
        select(Dossier)
        .where(col(Dossier.parent_id) == parent.id, col(Dossier.linked_role) == "child")
        .order_by(col(Dossier.created_at), col(Dossier.code))
    ).all()
    children = [c for c in rows if c.status != DossierStatus.WITHDRAWN]
    for child in children:
        if child.status not in (DossierStatus.SUBMITTED, DossierStatus.WAITING):
            procedure = session.get(Procedure, child.procedure_code)
            raise Conflict(
                N_(
                    "This linked application can no longer be withdrawn: the agency already has its part "
                    "{procedure} ({code}), which is {status}."
                ),
                {
                    "procedure": procedure.name_vi if procedure else child.procedure_code,
                    "code": child.code or "",
                    "status": DossierStatus(child.status),
                },
            )
    return children


OPEN_STATES = (
    DossierStatus.SUBMITTED,
    DossierStatus.RECEIVED,
    DossierStatus.IN_PROCESS,
    DossierStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.RESULT_CHECK,
)
# A result waiting for the centre's check is the centre's to confirm or send back: the agency rejects the
# dossier only once the centre sent it back (a rejection would otherwise leave a result nobody checked).
REJECTABLE = tuple(s for s in OPEN_STATES if s != DossierStatus.RESULT_CHECK)


def reject(*, session: Session, dossier: Dossier, reason: str, by: str) -> Dossier:
    """The agency refuses a dossier with a reason (idempotent); a refundable fee is given back, the back-office
    is pushed and the applicant told."""
    reason = reason.strip()
    if not reason:
        raise Invalid(N_("Give the reason for the rejection."))
    refused = N_("This dossier can no longer be rejected: it is {status}.")
    if move_status(session, dossier, to=DossierStatus.REJECTED, allowed=REJECTABLE, refused=refused):
        # A supplement still awaited is over with the dossier: its clock pause ends now.
        session.execute(
            update(DossierPause)
            .where(col(DossierPause.dossier_id) == dossier.id, col(DossierPause.ended_at).is_(None))
            .values(ended_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        add_event(session, dossier, "rejected", actor=by, reason=reason)
        billing.refund_on_exit(session, dossier, reason="rejected")
        push(session, dossier, "dossier.rejected", reason=reason)
        if dossier.linked_role != "child":  # a member's: the applicant is told which part failed (linked.py)
            tell(
                session,
                dossier,
                kind="dossier.rejected",
                dedupe_key=f"dossier.rejected:{dossier.id}",
                params={"code": dossier.code or "", "reason": reason},
            )
        publish(session, Closed(dossier=dossier, status=DossierStatus.REJECTED))  # its visits (visit_links.py)
        session.flush()
    return dossier
