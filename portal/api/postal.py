"""`/api/v1/postal`: the postal operators' API — open orders, claims, tracking events, delivery with proof,
labels and the daily cash-on-delivery statement.

Each client has the scope `postal` and is bound to one operator (`Partner.postal_operator`): it sees only the
orders given to that operator. Another operator's order and an unknown number are the same 404. The rules
(which status may follow which, idempotency by event id, proof, COD amounts) are `postal.service`'s; this
module reads the request, calls it, and answers JSON (docs/POSTAL_API.md).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from auth.bearer import Partner
from forms.address import province_name, ward_name
from forms.uploads import UploadRejected
from portal.api.deps import PartnerRoute, PostalIdempotencyDep, PostalOperator
from portal.api.idempotency import REPLAYED_HEADER
from portal.api.postal_schemas import (
    EVENT_ID_PATTERN,
    PROVINCE_PATTERN,
    AddressOut,
    ClaimIn,
    CodLine,
    CodStatementOut,
    ContentOut,
    EventIn,
    EventOut,
    OrderDetail,
    OrderPage,
    OrderSummary,
    ProofOut,
    RecordedEvent,
)
from portal.api.problems import COMMON, problem, problems
from portal.api.strict import StrictDate, StrictInstant
from portal.audit.access import record_reads_apart, request_actor
from portal.kernel.db import SessionDep
from portal.kernel.deps import EngineDep, SettingsDep, StorageDep
from portal.kernel.errors import Conflict, DomainError, NotFound
from portal.kernel.i18n import N_
from portal.kernel.storage import Storage, StorageError
from postal import cod, queries, service
from postal.label import render_label
from postal.models import DeliveryProof, ParcelKind, ParcelStatus, PostalEvent, PostalOrder, RecipientRelation
from postal.service import Proof, Recorded, TrackingReport

# Included by `portal.api.v1.router` (prefix /api/v1).
router = APIRouter(prefix="/postal", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: postal"]
MAX_PAGE = 100
_ORDER = problems(404)
_CHANGE = problems(400, 404, 409)
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
MEDIA_TYPES = ("image/jpeg", "image/png")

Number = Annotated[
    str, Path(max_length=20, description="The order's number (`number` in the list).", examples=["BC260000017"])
]


def _operator(partner: Partner) -> str:
    return partner.postal_operator or ""


def _order(session: SessionDep, partner: PostalOperator, number: Number) -> PostalOrder:
    """The order of this number given to the client's operator; 404 for any other (never says it exists)."""
    return service.order_by_number(session, number, operator=_operator(partner))


OrderDep = Annotated[PostalOrder, Depends(_order)]


def _audit_reads(
    engine: EngineDep, session: SessionDep, request: Request, kind: str, orders: list[PostalOrder]
) -> None:
    """Each dossier whose order (its addresses) the operator read: one event, purpose pickup or delivery."""
    for purpose in ("pickup", "delivery"):
        mine = [o for o in orders if o.owner_kind == "dossier" and o.kind == purpose]
        record_reads_apart(
            engine,
            kind,
            [o.owner_id for o in mine],
            actor=request_actor(session),
            request=request,
            purpose=purpose,
            orders=[o.number for o in mine] if len(mine) > 1 else None,
            order=mine[0].number if len(mine) == 1 else None,
        )


# -- shaping ------------------------------------------------------------------------------------------------


def _address(value: dict[str, Any]) -> AddressOut:
    province = str(value.get("province") or "")
    ward = str(value.get("ward") or "")
    return AddressOut(
        name=str(value.get("name") or ""),
        phone=str(value.get("phone") or ""),
        province=province,
        province_name=province_name(province) if province else None,
        ward=ward,
        ward_name=ward_name(ward) if ward else None,
        street=str(value.get("street") or ""),
        notes=str(value.get("notes") or ""),
    )


def _summary_fields(request: Request, order: PostalOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "kind": order.kind,
        "status": order.status,
        "operator": order.operator,
        "province": order.province_code,
        "reference": order.reference,
        "tracking_number": order.tracking_number,
        "weight_class": order.weight_class,
        "cod_amount": order.cod_amount,
        "attempts": order.attempts,
        "created_at": order.created_at,
        "claimed_at": order.claimed_at,
        "status_at": order.status_at,
        "delivered_at": order.delivered_at,
        "sender": _address(order.sender),
        "recipient": _address(order.recipient),
        "url": str(request.url_for("api_postal_order", number=order.number)),
        "label_url": str(request.url_for("api_postal_label", number=order.number)),
    }


def _event(event: PostalEvent) -> EventOut:
    return EventOut(
        event_id=event.event_id,
        status=ParcelStatus(event.status),
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        location=event.location,
        note=event.note,
        reason=event.reason,
        cod_collected=event.cod_collected,
        applied=event.applied,
    )


def _proof(request: Request, order: PostalOrder, proof: DeliveryProof) -> ProofOut:
    return ProofOut(
        event_id=proof.event_id,
        recipient_name=proof.recipient_name,
        relation=RecipientRelation(proof.relation),
        delivered_at=proof.delivered_at,
        media_type=proof.media_type,
        size=proof.size,
        sha256=proof.sha256,
        download_url=str(request.url_for("api_postal_proof", number=order.number)),
    )


def _detail(request: Request, session: SessionDep, order: PostalOrder) -> OrderDetail:
    proof = service.proof_of(session, order.id)
    return OrderDetail.model_validate(
        {
            **_summary_fields(request, order),
            "contents": [
                ContentOut(
                    id=str(c.get("id") or ""), name_vi=str(c.get("name_vi") or ""), name_en=str(c.get("name_en") or "")
                )
                for c in order.contents
            ],
            "events": [_event(e) for e in service.events_of(session, order.id)],
            "proof": _proof(request, order, proof) if proof else None,
        }
    )


def _stored(storage: Storage, key: str) -> bytes:
    try:
        return storage.get(key)
    except StorageError:
        raise NotFound(N_("This file is not available; the portal's operators have been told.")) from None


def _file(data: bytes, filename: str, media_type: str, *, inline: bool = False) -> Response:
    ascii_name = _NAME_RE.sub("_", filename) or "file"
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


def _recorded(
    request: Request, response: Response, session: SessionDep, order: PostalOrder, recorded: Recorded
) -> RecordedEvent:
    """The answer to a recorded event: the same for its first time and every retry (`replayed` aside)."""
    if recorded.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    proof = service.proof_of(session, order.id) if recorded.event.status == ParcelStatus.DELIVERED else None
    return RecordedEvent(
        number=order.number,
        event=_event(recorded.event),
        replayed=recorded.replayed,
        proof=_proof(request, order, proof) if proof else None,
    )


# -- orders -------------------------------------------------------------------------------------------------

Cursor = Annotated[
    str | None,
    Query(max_length=200, description="The `next_cursor` of the previous call (opaque). Omit on the first call."),
]


@router.get("/orders", tags=TAGS, response_model=OrderPage, name="api_postal_orders")
def list_orders(
    request: Request,
    partner: PostalOperator,
    session: SessionDep,
    engine: EngineDep,
    kind: Annotated[ParcelKind | None, Query(description="pickup or delivery; default both.")] = None,
    status: Annotated[
        ParcelStatus | None,
        Query(description="Only orders in this status; default: every open one (not delivered, returned, cancelled)."),
    ] = None,
    province: Annotated[
        str | None, Query(pattern=PROVINCE_PATTERN, description="Two-digit province code of the applicant's side.")
    ] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> OrderPage:
    """The orders given to the client's operator, oldest first, in a stable order.

    Page with `next_cursor`: an order comes once, and orders created later come in later pages. An empty page
    still gives a `next_cursor`: keep it and poll with it. A cursor this API did not give out is 422.
    """
    page = queries.open_orders(
        session,
        operator=_operator(partner),
        kind=kind.value if kind else None,
        status=status.value if status else None,
        province=province,
        cursor=cursor,
        limit=limit,
    )
    _audit_reads(engine, session, request, "postal.order_read", page.orders)
    return OrderPage(
        items=[OrderSummary.model_validate(_summary_fields(request, o)) for o in page.orders],
        next_cursor=_next_cursor(page, cursor),
    )


# Where a listing starts: before any order (`postal.queries` pages by order number; "" is before them all).
_START = PostalOrder(
    id="",
    number="",
    kind="",
    operator="",
    owner_id="",
    reference="",
    province_code="",
    weight_class="",
)


def _next_cursor(page: queries.Page, cursor: str | None) -> str:
    """The page's own cursor; at the end of the list, the position after its last order (or where the call
    started), so that polling with it later gives the orders created since."""
    if page.next_cursor:
        return page.next_cursor
    if page.orders:
        return queries.encode_cursor(page.orders[-1])
    return cursor or queries.encode_cursor(_START)


@router.get("/orders/{number}", tags=TAGS, response_model=OrderDetail, responses=_ORDER, name="api_postal_order")
def get_order(request: Request, session: SessionDep, engine: EngineDep, order: OrderDep) -> OrderDetail:
    """One order whole: addresses, contents, COD amount, status, failed attempts, its events by time and the
    proof of delivery (its metadata; the image is `GET …/proof`)."""
    detail = _detail(request, session, order)
    _audit_reads(engine, session, request, "postal.order_read", [order])
    return detail


@router.post(
    "/orders/{number}/claim", tags=TAGS, response_model=OrderDetail, responses=_CHANGE, name="api_postal_claim"
)
def claim(
    request: Request,
    partner: PostalOperator,
    session: SessionDep,
    idempotency: PostalIdempotencyDep,
    order: OrderDep,
    body: Annotated[ClaimIn | None, Body()] = None,
) -> OrderDetail:
    """The operator takes the order: its tracking number is stored, or the portal issues one (an S10 number).

    A second claim (by anyone) is 409; a retry with the same `Idempotency-Key` gets the first answer. The order
    can no longer be changed by the applicant once claimed.
    """
    service.claim(
        session=session,
        order=order,
        operator=_operator(partner),
        tracking_number=body.tracking_number if body else None,
    )
    session.flush()
    return idempotency.answer(_detail(request, session, order))


@router.post(
    "/orders/{number}/events",
    tags=TAGS,
    response_model=RecordedEvent,
    responses=_CHANGE,
    name="api_postal_events",
)
def post_event(
    request: Request,
    response: Response,
    partner: PostalOperator,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    idempotency: PostalIdempotencyDep,
    order: OrderDep,
    body: Annotated[EventIn, Body()],
) -> RecordedEvent:
    """A tracking event: picked up, in transit, delivery attempted (with its reason), returned.

    Idempotent by `event_id`: the same event again gets the first answer (`replayed: true`); the same id with
    other content is 409. An `Idempotency-Key` is honoured too, as on every POST of the API. Events are placed
    by `occurred_at`, and the status never goes back (a late event is kept, with `applied: false`). After the
    configured number of failed attempts the parcel is returned.
    Refused (422): an unknown status, `delivered` (use `POST …/delivery` with proof), a time in the future or
    before the order existed, an attempt without a reason.
    """
    report = TrackingReport(
        event_id=body.event_id,
        status=body.status.value,
        occurred_at=body.occurred_at,
        location=body.location,
        note=body.note,
        reason=body.reason,
    )
    recorded = service.record_event(
        session=session,
        settings=settings,
        storage=storage,
        operator=_operator(partner),
        order=order,
        report=report,
    )
    session.flush()
    return idempotency.answer(_recorded(request, response, session, order, recorded))


def _too_big(max_bytes: int) -> DomainError:
    """413 before the image is read whole (the service says the same of a proof handed to it)."""
    return UploadRejected(service.MSG_PROOF_TOO_BIG, {"max_kb": max_bytes // 1024}, status_code=413)


@router.post(
    "/orders/{number}/delivery",
    tags=TAGS,
    response_model=RecordedEvent,
    responses={
        **_CHANGE,
        413: problem(413, "A proof image larger than the portal accepts (`postal_proof_max_bytes`, 2 MB by default)"),
    },
    name="api_postal_delivery",
)
def deliver(
    request: Request,
    response: Response,
    partner: PostalOperator,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    idempotency: PostalIdempotencyDep,
    order: OrderDep,
    event_id: Annotated[str, Form(pattern=EVENT_ID_PATTERN, description="The operator's unique id of this event.")],
    occurred_at: Annotated[
        StrictInstant,
        Form(description="When it was delivered: RFC 3339 with a time zone.", examples=["2026-12-06T10:15:00+07:00"]),
    ],
    recipient_name: Annotated[str, Form(min_length=1, max_length=120, description="Who received the parcel.")],
    relation: Annotated[RecipientRelation, Form(description="self, family or authorised.")],
    proof: Annotated[
        UploadFile,
        File(description="The recipient's signature or a photo of the handover: JPEG or PNG (checked by content)."),
    ],
    cod_collected: Annotated[
        int | None,
        Form(
            ge=0,
            le=1_000_000_000,
            description="Cash collected, in đồng: required, and equal to the order's "
            "`cod_amount`, when the order has one.",
        ),
    ] = None,
    location: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> RecordedEvent:
    """The parcel was delivered: with proof (who, their relation to the applicant, when, a signature image or
    photo), and the cash collected for a COD order.

    Idempotent by `event_id` as `POST …/events`. Refused: an image that is not JPEG or PNG (by content), one
    larger than the configured limit (413), a COD amount missing or other than the order's (422).
    """
    max_bytes = settings.postal_proof_max_bytes
    content = proof.file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise _too_big(max_bytes)
    report = TrackingReport(
        event_id=event_id,
        status=ParcelStatus.DELIVERED.value,
        occurred_at=occurred_at,
        location=location,
        note=note,
        cod_collected=cod_collected,
    )
    given = Proof(
        recipient_name=recipient_name,
        relation=relation,
        delivered_at=occurred_at,
        content=content,
        filename=proof.filename or "proof",
    )
    recorded = service.record_event(
        session=session,
        settings=settings,
        storage=storage,
        operator=_operator(partner),
        order=order,
        report=report,
        proof=given,
    )
    session.flush()
    return idempotency.answer(_recorded(request, response, session, order, recorded))


PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
}
IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES}}
}


@router.get(
    "/orders/{number}/label.pdf",
    tags=TAGS,
    response_class=Response,
    responses={**PDF, **problems(404, 409)},
    name="api_postal_label",
)
def label(request: Request, session: SessionDep, engine: EngineDep, settings: SettingsDep, order: OrderDep) -> Response:
    """The shipping label, A6 PDF: sender and recipient, the dossier's code, the tracking number as a Code 128
    barcode and a QR code, the amount to collect. Once claimed (409 before: it has no tracking number yet)."""
    if not order.tracking_number:
        raise Conflict(N_("Claim the order first: its label carries the tracking number."))
    data = render_label(order, settings=settings)
    _audit_reads(engine, session, request, "postal.label_downloaded", [order])
    return _file(data, f"nhan-{order.number}.pdf", "application/pdf")


@router.get(
    "/orders/{number}/proof",
    tags=TAGS,
    response_class=Response,
    responses={**IMAGE, **problems(404)},
    name="api_postal_proof",
)
def proof_image(
    request: Request, session: SessionDep, engine: EngineDep, storage: StorageDep, order: OrderDep
) -> Response:
    """The proof of delivery's image (signature or photo) as it was sent; 404 while not delivered."""
    found = service.proof_of(session, order.id)
    if found is None:
        raise NotFound(N_("This order has no proof of delivery."))
    extension = ".png" if found.media_type == "image/png" else ".jpg"
    data = _stored(storage, found.file_key)
    _audit_reads(engine, session, request, "postal.proof_downloaded", [order])
    return _file(data, f"bien-nhan-{order.number}{extension}", found.media_type, inline=True)


# -- cash on delivery -----------------------------------------------------------------------------------------

Day = Annotated[StrictDate, Path(description="The local day (Asia/Ho_Chi_Minh), YYYY-MM-DD.", examples=["2026-12-06"])]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The statement as CSV (UTF-8)."}
}


# Declared before `/cod-statements/{day}`, whose `{day}` would otherwise take "2026-12-06.csv" and refuse it.
@router.get(
    "/cod-statements/{day}.csv",
    tags=TAGS,
    response_class=Response,
    responses=CSV,
    name="api_postal_cod_csv",
)
def cod_statement_csv(partner: PostalOperator, session: SessionDep, day: Day) -> Response:
    """The day's cash-on-delivery statement as CSV: one line per delivered COD order, then the total."""
    statement = cod.daily_statement(session, operator=_operator(partner), day=day)
    return Response(
        cod.statement_csv(statement).encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="thu-ho-{_operator(partner)}-{day.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/cod-statements/{day}", tags=TAGS, response_model=CodStatementOut, name="api_postal_cod")
def cod_statement(partner: PostalOperator, session: SessionDep, day: Day) -> CodStatementOut:
    """The day's cash-on-delivery statement: every COD order of the client's operator delivered that local day,
    with the amount collected, and the total to hand over to the centre."""
    statement = cod.daily_statement(session, operator=_operator(partner), day=day)
    lines = [
        CodLine(
            number=line.number,
            tracking_number=line.tracking_number,
            reference=line.reference,
            delivered_at=line.delivered_at,
            amount=line.amount,
        )
        for line in statement.lines
    ]
    return CodStatementOut(operator=_operator(partner), day=day, lines=lines, count=len(lines), total=statement.total)
