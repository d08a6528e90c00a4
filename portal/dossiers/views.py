"""Citizen pages of a dossier: start, form steps, files, review, submit, receipt, timeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from auth.assurance import StepUpRequired, require_level, step_up_response
from auth.deps import CurrentAccount, CurrentViewer, optional_account_sync, required_account
from auth.sessions import COOKIE_KEY
from forms.address import format_address, provinces, wards
from forms.definition import Field, FormDefinition, Step
from portal.catalog import linked as catalog_linked
from portal.catalog.deps import CatalogDep
from portal.catalog.models import Procedure
from portal.dossiers import lifecycle, lifecycle_views, queries, service, signatures
from portal.dossiers.models import Dossier, DossierStatus
from portal.dossiers.tasks import current_receipt
from portal.kernel.db import SessionDep
from portal.kernel.deps import EngineDep, SettingsDep, StorageDep, WorkerDep
from portal.kernel.errors import DomainError, NotFound, SignInRequired
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.web import format_msg, redirect, render, translator
from signing.verify_service import trust_setup

router = APIRouter()

# The citizen edits the form and the documents of a draft, and, while the agency awaits a supplement, the
# items it asked for.
EDITABLE = (DossierStatus.DRAFT, DossierStatus.SUPPLEMENT_REQUESTED)


async def posted_form(request: Request) -> FormData:
    """The parsed form body, read on the event loop so the (sync) view can run on a worker thread."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


def raw_form(form: FormData) -> dict[str, list[str]]:
    """The posted fields as name -> values, without the portal's own control fields."""
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key in ("csrf_token", "_action") or not isinstance(value, str):
            continue
        out.setdefault(key, []).append(value)
    return out


@router.post("/procedures/{code}/start", name="start_dossier")
def start(code: str, session: SessionDep, account: CurrentAccount, viewer: CurrentViewer) -> Response:
    proc = queries.procedure(session, code)
    require_level(viewer, proc.required_assurance, next_url=f"/procedures/{code}")
    dossier = service.create_draft(session=session, procedure=proc, by=account, business_id=viewer.acting_business_id)
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    return redirect(f"/dossiers/{dossier.id}/steps/{defn.step_ids[0]}")


@router.get("/dossiers", name="my_dossiers")
def my_dossiers(request: Request, session: SessionDep, account: CurrentAccount, viewer: CurrentViewer) -> Response:
    """The dossiers of whom the browser acts for: the account's personal ones, or the business's."""
    rows = queries.dossiers_of(session, account.id, viewer.acting_business_id)
    return render(request, "dossiers/list.html", {"rows": rows, "business": viewer.acting_as})


def _field_index(defn: FormDefinition) -> dict[str, Any]:
    """Every field by name (group sub-fields too), for hints that name another field and its answers."""
    index: dict[str, Any] = {}
    for step in defn.steps:
        for field in step.fields:
            index[field.name] = field
            for sub in field.fields:
                index.setdefault(sub.name, sub)
    return index


def _locate(defn: FormDefinition, path: str) -> tuple[str, Any]:
    """(step id, label) of an input path such as `children.1.cccd` or `home.ward`."""
    parts = path.split(".")
    for step in defn.steps:
        for field in step.fields:
            if field.name != parts[0]:
                continue
            if len(parts) >= 3 and parts[1].isdigit():
                sub = next((f for f in field.fields if f.name == parts[2]), None)
                return step.id, sub.label if sub else field.label
            return step.id, field.label
    return defn.step_ids[0], None


def _error_items(request: Request, defn: FormDefinition, errors: dict[str, Any]) -> list[tuple[str, str, str]]:
    t = translator(request)
    items = []
    for path, error in errors.items():
        _, label = _locate(defn, path)
        items.append((f"f-{path.replace('.', '-')}-wrap", t.text(label), format_msg(t, error)))
    return items


def _asked(session: Session, dossier: Dossier) -> tuple[set[str], set[str]] | None:
    """The fields and components the citizen may change while a supplement is awaited; None for a draft."""
    if dossier.status == DossierStatus.SUPPLEMENT_REQUESTED:
        return lifecycle.supplement_targets(session, dossier)
    return None


def _reasons(session: Session, dossier: Dossier, kind: str) -> dict[str, str]:
    """Why the agency asked for each field or component (`kind`) of the open supplement request."""
    supplement = lifecycle.open_supplement(session, dossier)
    items = supplement.items if supplement is not None else []
    return {str(i.get("target")): str(i.get("reason") or "") for i in items if i.get("kind") == kind}


def _fixed_conditions(step: Step, inputs: set[str], values: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of the answers that decide whether an input of the page (`inputs`: the asked fields while
    a supplement is awaited, else the step's fields) is shown (`show_if`, each `also` too) but are not inputs
    of the page themselves (cannot be changed, or asked on another step, as a linked application's choice of
    members is): the page carries them, disabled, so that its script, which reads the form's inputs, shows
    the field instead of hiding it."""
    fixed: list[tuple[str, str]] = []
    for field in step.fields:
        if field.name not in inputs or field.show_if is None:
            continue
        for condition in field.show_if.chain:
            if condition.field in inputs:
                continue
            stored = values.get(condition.field)
            for value in stored if isinstance(stored, list) else [stored]:
                if value is None:
                    continue
                text = ("true" if value else "false") if isinstance(value, bool) else str(value)
                if (condition.field, text) not in fixed:
                    fixed.append((condition.field, text))
    return fixed


def answerable_fields(step: Step, values: Mapping[str, Any] | None) -> list[Field]:
    """The fields of a step the page shows: those whose condition (`show_if`, each `also` too) could still
    hold whatever is answered on this page. A field ruled out by an answer of another step (a linked
    application's member the applicant did not choose) is left out, with or without JavaScript: nothing on
    this page can make it needed. Its condition is tried with every answer of this page that satisfies it."""
    here = {f.name for f in step.fields}
    shown: list[Field] = []
    for field in step.fields:
        if field.show_if is None:
            shown.append(field)
            continue
        hopeful = dict(values or {})
        for condition in field.show_if.chain:
            if condition.field in here:
                current = hopeful.get(condition.field)
                hopeful[condition.field] = [*(current if isinstance(current, list) else [current]), *condition.accepted]
        if field.show_if.holds(hopeful):
            shown.append(field)
    return shown


def answerable_steps(defn: FormDefinition, values: Mapping[str, Any] | None) -> list[str]:
    """The ids of the steps with something to answer, given the answers so far (in order). A step whose every
    question is ruled out by earlier answers is skipped by "Next" and "Back" and not counted in the progress."""
    return [s.id for s in defn.steps if answerable_fields(s, values)]


def step_after(defn: FormDefinition, step_id: str, values: Mapping[str, Any] | None) -> str | None:
    """The next step with something to answer after `step_id`; None: the documents come next."""
    ids = defn.step_ids
    return next((sid for sid in ids[ids.index(step_id) + 1 :] if answerable_fields(defn.step(sid), values)), None)


def step_before(defn: FormDefinition, step_id: str | None, values: Mapping[str, Any] | None) -> str | None:
    """The step with something to answer before `step_id` (before the documents page: None); None when there
    is none (the procedure's page comes before the first step)."""
    ids = defn.step_ids
    earlier = ids[: ids.index(step_id)] if step_id is not None else ids
    return next((sid for sid in reversed(earlier) if answerable_fields(defn.step(sid), values)), None)


def progress_steps(defn: FormDefinition, values: Mapping[str, Any] | None, current: str | None = None) -> list[Step]:
    """The form's steps the progress indicator lists: those with something to answer, and the one shown (a
    step with nothing to answer reached by its address still says where it is)."""
    answerable = set(answerable_steps(defn, values))
    return [s for s in defn.steps if s.id in answerable or s.id == current]


def _step_context(
    session: Session, dossier: Dossier, proc: Procedure, defn: FormDefinition, step_id: str
) -> dict[str, Any]:
    step = defn.step(step_id)
    asked = _asked(session, dossier)
    listed = [s.id for s in progress_steps(defn, dossier.data, step_id)]
    return {
        # While a supplement is awaited only the asked fields are inputs; the others are shown as text.
        "supplement_mode": asked is not None,
        "asked_fields": asked[0] if asked is not None else set(),
        "asked_reasons": _reasons(session, dossier, "field") if asked is not None else {},
        "fixed_conditions": _fixed_conditions(
            step, asked[0] if asked is not None else {f.name for f in step.fields}, dossier.data or {}
        ),
        "format_address": format_address,
        "dossier": dossier,
        "proc": proc,
        "defn": defn,
        "step": step,
        # The steps with something to answer (and this one): numbered and listed in the progress indicator.
        "progress_steps": progress_steps(defn, dossier.data, step_id),
        "step_index": listed.index(step_id),
        "steps_total": len(listed),
        "shown_fields": answerable_fields(step, dossier.data),
        "values": dossier.data,
        "wards_for": wards,
        "provinces": provinces(),
        "field_index": _field_index(defn),
    }


@router.get("/dossiers/{dossier_id}/steps/{step_id}", name="dossier_step")
def step_page(
    request: Request, dossier_id: str, step_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    if dossier.status not in EDITABLE:
        return redirect(f"/dossiers/{dossier.id}")
    if step_id not in defn.step_ids:
        raise NotFound(N_("This step does not exist."))
    return render(
        request,
        "dossiers/step.html",
        {**_step_context(session, dossier, proc, defn, step_id), "errors": {}, "error_items": []},
    )


@router.get("/dossiers/{dossier_id}/continue", name="continue_dossier")
def continue_dossier(dossier_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    """Resume a draft where it was left (or show a submitted dossier)."""
    dossier, _proc, defn = queries.dossier_with_form(session, dossier_id, account)
    if dossier.status == DossierStatus.SUPPLEMENT_REQUESTED:
        return redirect(f"/dossiers/{dossier.id}/supplement")
    if dossier.status != DossierStatus.DRAFT:
        return redirect(f"/dossiers/{dossier.id}")
    step = dossier.last_step if dossier.last_step in defn.step_ids else defn.step_ids[0]
    if not answerable_fields(defn.step(step), dossier.data):
        # Left on a step that earlier answers now leave with nothing to answer: resume at the next one.
        after = step_after(defn, step, dossier.data)
        return redirect(f"/dossiers/{dossier.id}/steps/{after}" if after else f"/dossiers/{dossier.id}/files")
    return redirect(f"/dossiers/{dossier.id}/steps/{step}")


@router.post("/dossiers/{dossier_id}/steps/{step_id}", name="save_step")
def step_submit(
    request: Request,
    dossier_id: str,
    step_id: str,
    session: SessionDep,
    account: CurrentAccount,
    form: PostedForm,
    settings: SettingsDep,
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    action = str(form.get("_action") or "next")
    raw = raw_form(form)
    asked = _asked(session, dossier)
    if asked is not None:
        # Answering a supplement: only the asked fields are taken (the service checks it again).
        raw = {k: v for k, v in raw.items() if k.split(".", 1)[0] in asked[0]}
    if action.startswith("add:") or action.startswith("remove:"):
        parts = action.split(":")
        group = parts[1]
        count_key = f"{group}.count"
        count = int(raw.get(count_key, ["0"])[0]) if raw.get(count_key, ["0"])[0].isdigit() else 0
        if parts[0] == "add":
            raw[count_key] = [str(min(count + 1, 50))]
        elif len(parts) == 3 and parts[2].isdigit():
            raw = _drop_row(raw, group, int(parts[2]), count)
    result = service.save_step(session=session, dossier=dossier, defn=defn, step_id=step_id, raw=raw, settings=settings)
    if asked is not None and (action == "back" or (action in ("next", "save") and not result.errors)):
        return redirect(f"/dossiers/{dossier.id}/supplement")
    # "Next" and "Back" skip the steps the answers (as just saved) leave with nothing to answer: no empty page
    # is loaded on the way (a linked application's member the applicant did not choose).
    if action == "next" and not result.errors:
        nxt = step_after(defn, step_id, dossier.data)
        return redirect(f"/dossiers/{dossier.id}/steps/{nxt}" if nxt else f"/dossiers/{dossier.id}/files")
    if action == "back":
        prev = step_before(defn, step_id, dossier.data)
        return redirect(f"/dossiers/{dossier.id}/steps/{prev}" if prev else f"/procedures/{proc.code}")
    if action == "save" and not result.errors:
        return redirect(f"/dossiers?saved={dossier.id}")
    errors = result.errors if action in ("next", "save") else {}
    return render(
        request,
        "dossiers/step.html",
        {
            **_step_context(session, dossier, proc, defn, step_id),
            "errors": errors,
            "error_items": _error_items(request, defn, dict(errors)),
        },
        status_code=422 if errors else 200,
    )


def _drop_row(raw: dict[str, list[str]], group: str, index: int, count: int) -> dict[str, list[str]]:
    """Remove row `index` of a group and renumber the rows after it."""
    out: dict[str, list[str]] = {}
    prefix = f"{group}."
    for key, values in raw.items():
        if not key.startswith(prefix) or key == f"{group}.count":
            out[key] = values
            continue
        head, _, rest = key[len(prefix) :].partition(".")
        if not head.isdigit():
            continue
        i = int(head)
        if i == index:
            continue
        out[f"{prefix}{i - 1 if i > index else i}.{rest}"] = values
    out[f"{group}.count"] = [str(max(count - 1, 0))]
    return out


@router.post("/dossiers/{dossier_id}/validate", name="validate_field")
def validate_one(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, form: PostedForm
) -> Response:
    """HTMX inline validation: re-render one field with its message."""
    from forms.validation import validate_field

    dossier, _proc, defn = queries.dossier_with_form(session, dossier_id, account)
    path = str(form.get("_field") or "")
    raw = raw_form(form)
    raw.pop("_field", None)
    try:
        field = defn.find_field(path)
    except KeyError:
        raise NotFound(N_("This field does not exist.")) from None
    error = validate_field(defn, path, raw, context=dossier.data)
    value = raw.get(path, [""])[0]
    return render(
        request,
        "forms/inline_field.html",
        {"field": field, "path": path, "value": value, "error": error, "wards_for": wards},
    )


@router.get("/forms/wards", name="ward_options")
def ward_options(request: Request, province: str = "", name: str = "", value: str = "") -> Response:
    """Ward options of a province for the address field; HTMX sends the select as `<name>=<code>`."""
    code = province or (request.query_params.get(name, "") if name.endswith(".province") else "")
    return render(request, "forms/ward_options.html", {"wards": wards(code[:10]), "selected": value[:10]})


@router.get("/dossiers/{dossier_id}/files", name="dossier_files")
def files_page(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    if dossier.status not in EDITABLE:
        return redirect(f"/dossiers/{dossier.id}")
    return _render_files(request, session, settings, dossier, proc, defn)


def _component_members(session: Session, proc: Procedure, dossier: Dossier) -> dict[str, list[dict[str, str]]]:
    """A linked application's components: the names (vi, en) of the member procedures this application applies
    for that need each one ("For: …", as the catalogue page says). Empty for any other dossier."""
    if not proc.is_linked:
        return {}
    members = {m.procedure: m for m in catalog_linked.members_of(proc)}
    out: dict[str, list[dict[str, str]]] = {}
    for component in proc.component_list:
        names = []
        for code in component.members:
            member = members.get(code)
            if member is None or not catalog_linked.applies(proc, member, dossier.data or {}):
                continue
            if (procedure := session.get(Procedure, code)) is not None:
                names.append({"vi": procedure.name_vi, "en": procedure.name_en})
        if names:
            out[component.id] = names
    return out


def _render_files(
    request: Request,
    session: Session,
    settings: Settings,
    dossier: Dossier,
    proc: Procedure,
    defn: FormDefinition,
    *,
    error: DomainError | None = None,
    error_component: str | None = None,
) -> Response:
    asked = _asked(session, dossier)
    return render(
        request,
        "dossiers/files.html",
        {
            # While a supplement is awaited only the asked components can be changed.
            "supplement_mode": asked is not None,
            "asked_components": asked[1] if asked is not None else set(),
            "asked_reasons": _reasons(session, dossier, "component") if asked is not None else {},
            "dossier": dossier,
            "proc": proc,
            "defn": defn,
            "progress_steps": progress_steps(defn, dossier.data),
            "component_members": _component_members(session, proc, dossier),
            # "Back": the last step with something to answer.
            "back_step": step_before(defn, None, dossier.data) or defn.step_ids[-1],
            "error": error,
            "error_component": error_component,
            **queries.files_page(session, dossier, settings=settings),
        },
        status_code=error.status_code if error else 200,
        block="components",
    )


@router.post("/dossiers/{dossier_id}/files/{component_id}", name="upload_files")
async def upload(
    request: Request,
    dossier_id: str,
    component_id: str,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    engine: EngineDep,
    catalog: CatalogDep,
) -> Response:
    # The files are checked and converted before any database work, so the (SQLite) write lock is not
    # held during a slow image conversion, and off the event loop.
    if not isinstance(request.session.get(COOKIE_KEY), str):
        raise SignInRequired()
    form = await request.form()
    uploads: list[service.Upload] = []
    for value in form.getlist("files"):
        if not isinstance(value, str):
            uploads.append(
                service.Upload(filename=value.filename or "", data=await value.read(settings.max_file_bytes + 1))
            )
    refused: DomainError | None = None
    files: list[service.PreparedFile] = []
    summaries: list[dict[str, Any]] | None = None
    try:
        files = await run_in_threadpool(
            service.prepare_files,
            uploads,
            max_file_bytes=settings.max_file_bytes,
            max_image_decoded_bytes=settings.max_image_decoded_bytes,
        )
        if await signatures.needs_signature(engine, catalog, dossier_id, component_id):

            def accept() -> list[dict[str, Any]]:
                trust = trust_setup(request.app)  # may read files and sign development CRLs: on this thread
                return signatures.accept_signatures(
                    files, trust=trust, settings=settings, translate=translator(request)
                )

            summaries = await run_in_threadpool(accept)
    except DomainError as exc:
        refused = exc

    def store() -> Response:
        account = required_account(optional_account_sync(request))
        dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
        error = refused
        if error is None:
            try:
                service.add_files(
                    session=session,
                    storage=storage,
                    settings=settings,
                    dossier=dossier,
                    procedure=proc,
                    component_id=component_id,
                    files=files,
                    signatures=summaries,
                )
            except DomainError as exc:
                error = exc
        if error is not None:
            if proc.component(component_id) is None:
                raise NotFound(N_("This dossier has no such component."))
            if dossier.status not in EDITABLE:
                # Sent from a page left open (the back button after the answer was sent): the documents page
                # would come back as a draft's, with every upload form; the error page says why instead.
                raise error
            return _render_files(
                request, session, settings, dossier, proc, defn, error=error, error_component=component_id
            )
        if request.headers.get("HX-Request") == "true":
            return _render_files(request, session, settings, dossier, proc, defn)
        return redirect(f"/dossiers/{dossier.id}/files#c-{component_id}")

    return await run_in_threadpool(store)


@router.post("/dossiers/{dossier_id}/files/{file_id}/delete", name="delete_file")
def delete_file(
    request: Request,
    dossier_id: str,
    file_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    service.remove_file(session=session, dossier=dossier, file_id=file_id)
    if request.headers.get("HX-Request") == "true":
        return _render_files(request, session, settings, dossier, proc, defn)
    return redirect(f"/dossiers/{dossier.id}/files")


@router.get("/dossiers/{dossier_id}/files/{file_id}", name="download_file")
def download_file(
    dossier_id: str, file_id: str, session: SessionDep, account: CurrentAccount, storage: StorageDep
) -> Response:
    dossier = service.own_dossier(session, dossier_id, account)
    row = queries.dossier_file(session, dossier, file_id)
    data = storage.get(row.storage_key)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{row.id}.pdf"', "Cache-Control": "private, no-store"},
    )


@router.get("/dossiers/{dossier_id}/review", name="dossier_review")
def review(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account)
    if dossier.status != DossierStatus.DRAFT:
        return redirect(f"/dossiers/{dossier.id}")
    return _render_review(request, session, settings, dossier, proc, defn)


def _render_review(
    request: Request,
    session: Session,
    settings: Settings,
    dossier: Dossier,
    proc: Procedure,
    defn: FormDefinition,
    *,
    status_code: int = 200,
    error: DomainError | None = None,
) -> Response:
    return render(
        request,
        "dossiers/review.html",
        {
            "dossier": dossier,
            "proc": proc,
            "defn": defn,
            "values": dossier.data,
            "progress_steps": progress_steps(defn, dossier.data),
            **queries.review_page(session, dossier, proc, defn, settings=settings),
            "error": error,
            "wards_for": wards,
            "format_address": format_address,
            "step_of": lambda p: _locate(defn, p)[0],
            "label_of": lambda p: translator(request).text(_locate(defn, p)[1]),
        },
        status_code=status_code,
    )


@router.post("/dossiers/{dossier_id}/submit", name="submit_dossier")
def submit(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    viewer: CurrentViewer,
    settings: SettingsDep,
    worker: WorkerDep,
    delivery_method: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account, lock=True)
    try:
        submitted = service.submit_reviewed(
            session=session,
            dossier=dossier,
            procedure=proc,
            defn=defn,
            by=account,
            viewer=viewer,
            settings=settings,
            delivery_method=delivery_method,
        )
    except StepUpRequired as exc:
        return step_up_response(request, exc)  # returned, not raised: the delivery choice is kept
    except DomainError as exc:
        if dossier.status != DossierStatus.DRAFT:
            raise
        return _render_review(request, session, settings, dossier, proc, defn, status_code=exc.status_code, error=exc)
    if not submitted:
        return redirect(f"/dossiers/{dossier.id}/payment")  # the fee comes first: its payment submits the dossier
    response = redirect(f"/dossiers/{dossier.id}?submitted=1")
    if worker is not None:
        response.background = BackgroundTask(worker.wake)  # runs after the commit
    return response


@router.get("/dossiers/{dossier_id}", name="dossier")
def dossier_page(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> Response:
    """The dossier: status and the agency's step, timeline, supplement request, results, apology, rating.

    A member (child) of a linked application is shown on its application's page: the citizen sees one
    dossier (its supplement page, files and results keep their own addresses)."""
    dossier = service.own_dossier(session, dossier_id, account)
    if dossier.linked_role == "child" and dossier.parent_id:
        target = str(request.app.url_path_for("dossier", dossier_id=dossier.parent_id))
        query = request.url.query
        return redirect(f"{target}?{query}" if query else target)
    return lifecycle_views.dossier_response(request, session, dossier_id, account, settings)


@router.get("/dossiers/{dossier_id}/receipt.pdf", name="dossier_receipt")
def receipt(
    dossier_id: str, session: SessionDep, account: CurrentAccount, storage: StorageDep, settings: SettingsDep
) -> Response:
    dossier = service.own_dossier(session, dossier_id, account)
    if not dossier.code:
        raise NotFound(N_("The receipt exists once the dossier is submitted."))
    pdf = current_receipt(session, dossier, storage=storage, settings=settings)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="bien-nhan-{dossier.code}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


# The pages of the dossier's life after submission (supplement answer, results, rating): served with these.
router.include_router(lifecycle_views.router)
