"""`/api/v1/backoffice`: what an agency's back-office reads — the change feed, one dossier whole, its files.

The feed (`GET /changes`) is how a back-office learns of new and changed dossiers without missing or
repeating one (see `portal.dossiers.partner_reads.changes` and docs/BACKOFFICE.md). Another agency's
dossier, a draft or an unknown code is a 404 everywhere.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from enum import Enum, StrEnum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from portal.api import national
from portal.api.deps import BackOffice, PartnerRoute
from portal.api.problems import COMMON, DOSSIER
from portal.api.schemas import (
    ApologyOut,
    ChangedDossier,
    ChangePage,
    ComponentInfo,
    DeliveryInfo,
    DossierDetail,
    DossierFileInfo,
    FeeInfo,
    NationalStatusOut,
    ParcelContent,
    ParcelOut,
    ParcelProofOut,
    PostalAddressOut,
    RatingOut,
    ReceiptInfo,
    ResultOut,
    SignatureInfo,
    SubStatus,
    SupplementItemOut,
    SupplementOut,
    TimelineEntry,
)
from portal.api.strict import PartnerStatus, StrictInstant
from portal.audit.access import record_reads_apart, request_actor
from portal.dossiers import partner_reads, queries
from portal.dossiers.models import Dossier, DossierFile, DossierResult
from portal.dossiers.parcel_reads import Parcel
from portal.dossiers.partner_reads import DossierWhole
from portal.dossiers.tasks import current_receipt
from portal.kernel.db import SessionDep
from portal.kernel.deps import EngineDep, SettingsDep, StorageDep
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.labels import label_msgid
from portal.kernel.storage import Storage, StorageError

log = logging.getLogger(__name__)
# Included by `portal.api.v1.router` (prefix /api/v1).
router = APIRouter(prefix="/backoffice", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: back-office"]
MAX_CHANGES = 100
CURSOR_PREFIX = "c1."
_CURSOR_RE = re.compile(r"^c1\.[A-Za-z0-9_-]{1,40}$")


def encode_cursor(seq: int) -> str:
    """An opaque, versioned cursor: `c1.` and the base64url of the last change number read."""
    return CURSOR_PREFIX + base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The change number a cursor stands for; 422 for anything this API did not give out."""
    refused = Invalid(N_("This cursor was not given out by this API; start again without one."))
    if not _CURSOR_RE.match(cursor):
        raise refused
    raw = cursor[len(CURSOR_PREFIX) :]
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    if not text.isdigit() or len(text) > 18:
        raise refused
    return int(text)


def _national(dossier: Dossier) -> national.NationalStatus:
    return national.national_status(dossier.status, received=dossier.received_at is not None)


def summary_fields(dossier: Dossier, applicant_name: str) -> dict[str, object]:
    """The fields of `DossierSummary` (shared by the list, the feed and the detail)."""
    return {
        "id": dossier.id,
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "agency_code": dossier.agency_code,
        "status": PartnerStatus(dossier.status),
        "submitted_at": dossier.submitted_at,
        "due_date": dossier.due_date,
        "delivery_method": dossier.delivery_method,
        "applicant_name": applicant_name,
        "business_id": dossier.business_id,
    }


Cursor = Annotated[
    str | None,
    Query(max_length=64, description="The `next_cursor` of the previous call (opaque). Omit on the first call."),
]
ChangedSince = Annotated[
    StrictInstant | None,
    Query(
        description="Only dossiers with a timeline event at or after this instant (RFC 3339 with a time zone, "
        "e.g. 2026-01-05T00:00:00Z; URL-encode `+` as %2B). Useful on the first call."
    ),
]


@router.get("/changes", tags=TAGS, response_model=ChangePage, name="api_backoffice_changes")
def changes(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    engine: EngineDep,
    changed_since: ChangedSince = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES)] = 50,
) -> ChangePage:
    """New and changed dossiers of the client's agency, in the order of their latest change.

    Poll with the `next_cursor` of the previous answer: every change made after that cursor was given out
    comes in a later page, once, in change order (a dossier changed twice between polls comes once, in its
    latest state). An empty page still gives a `next_cursor`: keep it.
    """
    after = decode_cursor(cursor) if cursor is not None else -1
    page = partner_reads.changes(session, partner.agency_code, after=after, changed_since=changed_since, limit=limit)
    # Each dossier of the page was read (its applicant's name): the citizen sees it among who accessed it.
    record_reads_apart(
        engine, "dossier.listed", [d.id for d, _ in page.rows], actor=request_actor(session), request=request
    )
    items = [
        ChangedDossier.model_validate(
            {
                **summary_fields(d, name),
                "change_seq": d.change_seq,
                "sub_status": d.sub_status,
                "national_status": _national(d).code,
            }
        )
        for d, name in page.rows
    ]
    return ChangePage(items=items, next_cursor=encode_cursor(max(page.next_seq, 0)))


def _file_info(request: Request, code: str, f: DossierFile) -> DossierFileInfo:
    return DossierFileInfo(
        id=f.id,
        component=f.component_id,
        filename=f.filename,
        sha256=f.sha256,
        size=f.size,
        pages=f.pages,
        media_type=f.media_type,
        download_url=str(request.url_for("api_backoffice_file", code=code, file_id=f.id)),
        signature=SignatureInfo(kind=f.signature, report=f.signature_report) if f.signature else None,
    )


def _result_info(request: Request, code: str, r: DossierResult) -> ResultOut:
    return ResultOut(
        id=r.id,
        filename=r.filename,
        sha256=r.sha256,
        size=r.size,
        pages=r.pages,
        sealed_sha256=r.sealed_sha256,
        signature_report=r.signature_report,
        uploaded_by=r.uploaded_by,
        created_at=r.created_at,
        download_url=str(request.url_for("api_backoffice_result", code=code, result_id=r.id)),
        checked_at=r.checked_at,
        checked_by=r.checked_by,
        refused_reason=r.refused_reason,
    )


def detail_of(request: Request, whole: DossierWhole, fee_total: int, fee_left: int) -> DossierDetail:
    """The JSON of one dossier whole (also the answer of every transition)."""
    d = whole.dossier
    code = d.code or ""
    files = [_file_info(request, code, f) for f in whole.files]
    components = [
        ComponentInfo(
            id=c.id,
            name_vi=c.name.vi,
            name_en=c.name.en,
            mandatory=c.mandatory,
            signature_required=c.signature_required,
            files=[f for f in files if f.component == c.id],
        )
        for c in whole.procedure.component_list
    ]
    known = {c.id for c in components}
    for orphan in sorted({f.component for f in files} - known):  # a component the catalogue no longer has
        components.append(
            ComponentInfo(
                id=orphan,
                name_vi=orphan,
                name_en=orphan,
                mandatory=False,
                signature_required=False,
                files=[f for f in files if f.component == orphan],
            )
        )
    nat = _national(d)
    return DossierDetail.model_validate(
        {
            **summary_fields(d, whole.applicant_name),
            "form_id": d.form_id,
            "form_version": d.form_version,
            "answers": dict(d.data),
            "files": files,
            "components": components,
            "receipt": ReceiptInfo(
                download_url=str(request.url_for("api_backoffice_receipt", code=code)), sha256=d.receipt_sha256
            ),
            "channel": d.channel,
            "intake_officer": d.intake_officer,
            "received_at": d.received_at,
            "received_by": d.received_by,
            "official_due_date": d.official_due_date,
            "sub_status": (
                SubStatus(code=d.sub_status, text_vi=d.sub_status_vi, text_en=d.sub_status_en) if d.sub_status else None
            ),
            "national_status": NationalStatusOut(code=nat.code, name_vi=nat.name_vi, name_en=nat.name_en),
            "result_ready_at": d.result_ready_at,
            "completed_at": d.completed_at,
            "handover": d.handover,
            "timeliness": d.timeliness,
            "overdue_at": d.overdue_at,
            "change_seq": d.change_seq,
            "fee": FeeInfo(total=fee_total, left=fee_left, payments=whole.payment_info),
            "timeline": [
                TimelineEntry(
                    at=e.at,
                    kind=e.kind,
                    label=label_msgid("DossierEventKind", e.kind) or e.kind,
                    actor=e.actor,
                    details=dict(e.details),
                )
                for e in whole.events
            ],
            "supplements": [
                SupplementOut(
                    id=s.id,
                    requested_at=s.requested_at,
                    requested_by=s.requested_by,
                    message=s.message,
                    items=[SupplementItemOut.model_validate(i) for i in s.items],
                    answered_at=s.answered_at,
                    answered_by=s.answered_by,
                )
                for s in whole.supplements
            ],
            "results": [_result_info(request, code, r) for r in whole.results],
            "apologies": [
                ApologyOut(at=a.at, by=a.by, reason=a.reason, previous_date=a.previous_date, new_date=a.new_date)
                for a in whole.apologies
            ],
            "rating": (
                RatingOut(scores=whole.rating.scores, comment=whole.rating.comment, at=whole.rating.at)
                if whole.rating
                else None
            ),
            "delivery": DeliveryInfo(
                method=d.delivery_method,
                address=_address(d.delivery_address),
                pickup_address=_address(d.pickup_address),
                pay_on_delivery=d.pay_on_delivery,
            ),
            "parcels": [_parcel_info(p) for p in whole.parcels],
        }
    )


def _address(value: dict[str, Any] | None) -> PostalAddressOut | None:
    if not value:
        return None
    return PostalAddressOut.model_validate({k: str(v) for k, v in value.items() if k in PostalAddressOut.model_fields})


def _parcel_info(parcel: Parcel) -> ParcelOut:
    o, proof = parcel.order, parcel.proof
    return ParcelOut(
        number=o.number,
        kind=o.kind,
        operator=o.operator,
        tracking_number=o.tracking_number,
        status=o.status,
        status_at=o.status_at,
        created_at=o.created_at,
        claimed_at=o.claimed_at,
        delivered_at=o.delivered_at,
        originals_arrived_at=parcel.originals_arrived_at,
        attempts=o.attempts,
        fee=o.fee,
        cod_amount=o.cod_amount,
        weight_class=o.weight_class,
        contents=[ParcelContent.model_validate(c) for c in o.contents],
        sender=PostalAddressOut.model_validate(o.sender),
        recipient=PostalAddressOut.model_validate(o.recipient),
        proof=(
            ParcelProofOut(
                recipient_name=proof.recipient_name, relation=proof.relation, delivered_at=proof.delivered_at
            )
            if proof is not None
            else None
        ),
    )


def dossier_detail(
    request: Request, session: SessionDep, settings: SettingsDep, code: str, agency: str | None
) -> DossierDetail:
    """Read one dossier of the agency whole and shape it (404 for any other)."""
    whole = partner_reads.dossier_whole(session, code, agency)
    fee = queries.fee_summary(session, whole.dossier, settings)
    return detail_of(request, whole, fee.bill.total, fee.left)


@router.get(
    "/dossiers/{code}", tags=TAGS, response_model=DossierDetail, responses=DOSSIER, name="api_backoffice_dossier"
)
def get_dossier(
    request: Request, partner: BackOffice, session: SessionDep, engine: EngineDep, settings: SettingsDep, code: str
) -> DossierDetail:
    """One submitted dossier of the client's agency, whole: answers, components and files with download links
    and signature reports, fee and payments, timeline, supplements, results, apologies, rating, national status,
    the delivery choices (method, addresses, pay on delivery) and the postal orders (pickup of the originals,
    delivery of the result: tracking number, status, when the originals arrived, proof of delivery)."""
    whole = partner_reads.dossier_whole(session, code, partner.agency_code)
    record_reads_apart(engine, "dossier.read", [whole.dossier.id], actor=request_actor(session), request=request)
    fee = queries.fee_summary(session, whole.dossier, settings)
    return detail_of(request, whole, fee.bill.total, fee.left)


PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
}


def _stored(storage: Storage, key: str) -> bytes:
    """The bytes of a stored file; a file lost from storage is logged and answered 404, not 500."""
    try:
        return storage.get(key)
    except StorageError:
        log.error("partner API: stored file %s is missing", key)
        raise NotFound(N_("This file is not available; the portal's operators have been told.")) from None


def _attachment(data: bytes, filename: str, media_type: str = "application/pdf") -> Response:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename) or "file.pdf"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/dossiers/{code}/files/{file_id}",
    tags=TAGS,
    response_class=Response,
    responses={**PDF, **DOSSIER},
    name="api_backoffice_file",
)
def download_file(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    engine: EngineDep,
    storage: StorageDep,
    code: str,
    file_id: str,
) -> Response:
    """One file of a component as stored (a PDF; images are converted at upload)."""
    dossier, row = partner_reads.agency_file(session, code, partner.agency_code, file_id)
    data = _stored(storage, row.storage_key)
    record_reads_apart(
        engine,
        "dossier.file_downloaded",
        [dossier.id],
        actor=request_actor(session),
        request=request,
        name=row.filename,
        file_id=row.id,
    )
    return _attachment(data, row.filename, row.media_type)


@router.get(
    "/dossiers/{code}/receipt.pdf",
    tags=TAGS,
    response_class=Response,
    responses={**PDF, **DOSSIER},
    name="api_backoffice_receipt",
)
def download_receipt(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    engine: EngineDep,
    storage: StorageDep,
    settings: SettingsDep,
    code: str,
) -> Response:
    """The receipt and appointment slip (giấy tiếp nhận và hẹn trả kết quả) the applicant was given."""
    dossier = queries.agency_dossier(session, code, partner.agency_code)
    data = current_receipt(session, dossier, storage=storage, settings=settings)
    name = f"bien-nhan-{dossier.code}.pdf"
    record_reads_apart(
        engine, "dossier.file_downloaded", [dossier.id], actor=request_actor(session), request=request, name=name
    )
    return _attachment(data, name)


class ResultCopy(StrEnum):
    SEALED = "sealed"
    ORIGINAL = "original"


@router.get(
    "/dossiers/{code}/results/{result_id}",
    tags=TAGS,
    response_class=Response,
    responses={**PDF, **DOSSIER},
    name="api_backoffice_result",
)
def download_result(
    request: Request,
    partner: BackOffice,
    session: SessionDep,
    engine: EngineDep,
    storage: StorageDep,
    code: str,
    result_id: str,
    copy: Annotated[
        ResultCopy, Query(description="sealed: the portal's copy (default); original: as uploaded")
    ] = ResultCopy.SEALED,
) -> Response:
    """One result document: the portal's sealed copy the applicant gets (named as uploaded), or the agency's
    original (`copy=original`, named `<name>-original.pdf`)."""
    dossier, row = partner_reads.agency_result(session, code, partner.agency_code, result_id)
    if copy == ResultCopy.SEALED:
        data, name = _stored(storage, row.sealed_key), row.filename
    else:
        # Named apart from the sealed copy: `curl -OJ` of both would otherwise refuse to overwrite the first.
        stem = row.filename.removesuffix(".pdf").removesuffix(".PDF")
        data, name = _stored(storage, row.storage_key), f"{stem}-original.pdf"
    record_reads_apart(
        engine, "dossier.file_downloaded", [dossier.id], actor=request_actor(session), request=request, name=name
    )
    return _attachment(data, name)
