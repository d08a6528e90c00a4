"""Postal orders: create, claim, record operator events (idempotent, out of order), cancel, change the address.

Services flush, never commit. Every change of an order's status publishes a `postal.events.ParcelEvent` in
the caller's transaction; the owner's domain reacts to it.

Statuses move by rank (`postal.models.RANK`): an event of a higher rank moves the order, one of the same
rank moves it only when it happened later than the event that set the status, a lower-ranked one is kept on
the record (``applied=False``) without moving it, and a final status (delivered, returned, cancelled) never
changes. Two racing writers are serialised on the order's row (PostgreSQL: ``SELECT … FOR UPDATE``; the
claim and the cancel are conditional UPDATEs), so exactly one claim wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from forms.address import normalize_province_code
from forms.uploads import MEDIA_JPEG, MEDIA_PNG, UploadRejected, prepare_upload, sniff_media_type
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.events import publish
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from postal.addresses import NAME_MAX_LENGTH, PostalAddress
from postal.events import ParcelEvent
from postal.models import (
    FINAL,
    OPERATOR_STATUSES,
    RANK,
    DeliveryProof,
    ParcelKind,
    ParcelStatus,
    PostalEvent,
    PostalOrder,
    RecipientRelation,
    WeightClass,
)
from postal.numbers import next_order_number, next_tracking_number
from postal.operators import choose_operator

__all__ = [
    "FUTURE_SKEW",
    "PORTAL",
    "Proof",
    "Recorded",
    "TrackingReport",
    "cancel",
    "change_recipient",
    "claim",
    "create_order",
    "events_of",
    "order_by_number",
    "orders_of",
    "proof_of",
    "record_event",
]

# The reporter of the portal's own events (created, claimed, cancelled, the automatic return).
PORTAL = "portal"
# How far ahead of the portal's clock an operator's clock may be.
FUTURE_SKEW = timedelta(minutes=5)
# The reason of the portal's automatic return, stored as data (operators' reasons are Vietnamese text too).
AUTO_RETURN_REASON = "Phát không thành công {attempts} lần, chuyển hoàn về nơi gửi"
_TRACKING = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,39}")
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,80}")

MSG_NO_ORDER = N_("There is no postal order with this number for this operator.")
MSG_ADDRESS = N_("The postal address is not valid: {problems}")
MSG_PROVINCE_MISMATCH = N_("The province {province} is not the province of the applicant's address on the order.")
MSG_WEIGHT_CLASS = N_("Unknown weight class: {weight_class}.")
MSG_AMOUNT = N_("Amounts are whole numbers of đồng, zero or more.")
MSG_COD_PICKUP = N_("A pickup order cannot collect cash on delivery.")
MSG_NOT_CLAIMABLE = N_("This order cannot be claimed: it is already {status}.")
MSG_TRACKING_FORMAT = N_("A tracking number has 4 to 40 letters, digits or dashes.")
MSG_TRACKING_TAKEN = N_("This tracking number is already used by another order of this operator.")
MSG_NOT_CLAIMED = N_("Claim the order before reporting its events.")
MSG_EVENT_ID = N_("An event id has 1 to 80 printable characters without spaces.")
MSG_EVENT_REPLAYED_OTHER = N_("An event with this id was already recorded with other content.")
MSG_STATUS = N_("An operator cannot report the status {status}.")
MSG_FUTURE = N_("The event time is in the future.")
MSG_BEFORE_ORDER = N_("The event time is before the order was created.")
MSG_TEXT_TOO_LONG = N_("The {field} is longer than {max_length} characters.")
MSG_PROOF_REQUIRED = N_(
    "A delivered event needs proof: the recipient's name, their relation, the time and a signature or photo."
)
MSG_PROOF_ONLY_DELIVERED = N_("Only a delivered event carries a proof of delivery.")
MSG_PROOF_NAME = N_("Enter the name of the person who received the parcel.")
MSG_PROOF_RELATION = N_("The relation of the recipient is one of: self, family, authorised.")
MSG_PROOF_FUTURE = N_("The time of delivery on the proof is in the future.")
MSG_PROOF_NOT_IMAGE = N_("The proof of delivery must be a JPEG or PNG image.")
MSG_PROOF_TOO_BIG = N_("The proof of delivery is larger than {max_kb} KB.")
MSG_REASON_REQUIRED = N_("A delivery attempt needs the reason it failed.")
MSG_COD_MISSING = N_("The amount collected is required: this parcel is cash on delivery ({expected} đồng).")
MSG_COD_MISMATCH = N_("The amount collected ({collected} đồng) differs from the amount to collect ({expected} đồng).")
MSG_COD_UNEXPECTED = N_("The amount collected is only reported when a cash-on-delivery parcel is delivered.")
MSG_NOT_CANCELLABLE = N_(
    "The postal order can no longer be cancelled: the postal operator has already accepted it, or it was cancelled."
)
MSG_NOT_CHANGEABLE = N_(
    "The address can no longer be changed: the postal operator has already accepted the order, or it was cancelled."
)


@dataclass(frozen=True)
class TrackingReport:
    """One event as an operator reports it (through the API, or from its tracking for push operators)."""

    event_id: str
    status: str
    occurred_at: datetime
    location: str = ""
    note: str = ""
    reason: str = ""
    cod_collected: int | None = None


@dataclass(frozen=True)
class Proof:
    """Proof of delivery: who received the parcel, their relation to the applicant, when, and an image."""

    recipient_name: str
    relation: RecipientRelation
    delivered_at: datetime
    content: bytes
    filename: str


@dataclass(frozen=True)
class Recorded:
    """What `record_event` did: the stored event, whether it was a replay, whether the status moved."""

    event: PostalEvent
    replayed: bool
    changed: bool


# -- helpers


def _address(value: PostalAddress | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, PostalAddress):
        return value.model_dump()
    try:
        return PostalAddress.model_validate(dict(value)).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Invalid(MSG_ADDRESS, {"problems": problems}) from None


def _applicant_province(province_code: str, address: Mapping[str, Any]) -> str:
    """The province of the applicant's side: it must be the province of that side's address."""
    if normalize_province_code(province_code) != address["province"]:
        raise Invalid(MSG_PROVINCE_MISMATCH, {"province": province_code})
    return str(address["province"])


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock(session: Session, order: PostalOrder) -> None:
    """Serialise writers of one order (PostgreSQL row lock) and read its latest state."""
    session.flush()
    if _is_postgres(session):
        session.execute(select(col(PostalOrder.id)).where(col(PostalOrder.id) == order.id).with_for_update())
    session.refresh(order)


def _hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _publish(
    session: Session,
    order: PostalOrder,
    event: PostalEvent,
    *,
    previous_status: str,
    proof: DeliveryProof | None = None,
) -> None:
    publish(
        session,
        ParcelEvent(
            order_id=order.id,
            number=order.number,
            kind=order.kind,
            operator=order.operator,
            owner_kind=order.owner_kind,
            owner_id=order.owner_id,
            reference=order.reference,
            tracking_number=order.tracking_number,
            status=event.status,
            previous_status=previous_status,
            changed=event.applied,
            occurred_at=as_utc(event.occurred_at),
            event_id=event.event_id,
            reason=event.reason,
            cod_collected=event.cod_collected,
            attempts=order.attempts,
            recipient_name=proof.recipient_name if proof else None,
            relation=proof.relation if proof else None,
        ),
    )


def _portal_event(
    session: Session, order: PostalOrder, status: str, *, at: datetime, reason: str = "", note: str = ""
) -> PostalEvent:
    """An event the portal itself records (its id is unique per order and status)."""
    content = {"status": status, "occurred_at": at.isoformat(), "reason": reason, "note": note}
    event = PostalEvent(
        order_id=order.id,
        operator=PORTAL,
        event_id=f"portal-{status}-{order.id}",
        content_hash=_hash(content),
        status=status,
        occurred_at=at,
        reason=reason[:300],
        note=note[:500],
        applied=True,
    )
    session.add(event)
    session.flush()
    return event


# -- orders


def create_order(
    *,
    session: Session,
    settings: Settings,
    kind: ParcelKind,
    owner_id: str,
    reference: str,
    sender: PostalAddress | Mapping[str, Any],
    recipient: PostalAddress | Mapping[str, Any],
    province_code: str,
    contents: list[dict[str, Any]],
    weight_class: str,
    fee: int,
    cod_amount: int = 0,
    owner_kind: str = "dossier",
) -> PostalOrder:
    """A new order, numbered and given to the operator of `province_code` (the applicant's side's province).

    Records a "created" event and publishes it. Invalid for a bad address, weight class or amount.
    """
    kind = ParcelKind(kind)
    if weight_class not in {str(c) for c in WeightClass}:
        raise Invalid(MSG_WEIGHT_CLASS, {"weight_class": weight_class})
    for amount in (fee, cod_amount):
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise Invalid(MSG_AMOUNT)
    if kind == ParcelKind.PICKUP and cod_amount:
        raise Invalid(MSG_COD_PICKUP)
    sender_value, recipient_value = _address(sender), _address(recipient)
    applicant_side = recipient_value if kind == ParcelKind.DELIVERY else sender_value
    province_code = _applicant_province(province_code, applicant_side)
    now = utcnow()
    order = PostalOrder(
        number=next_order_number(session),
        kind=kind,
        operator=choose_operator(settings, province_code),
        owner_kind=owner_kind,
        owner_id=owner_id,
        reference=reference,
        province_code=province_code,
        sender=sender_value,
        recipient=recipient_value,
        contents=[dict(item) for item in contents],
        weight_class=weight_class,
        fee=fee,
        cod_amount=cod_amount,
        created_at=now,
        updated_at=now,
        status_at=now,
    )
    session.add(order)
    session.flush()
    event = _portal_event(session, order, ParcelStatus.CREATED, at=now)
    _publish(session, order, event, previous_status=ParcelStatus.CREATED)
    return order


def claim(*, session: Session, order: PostalOrder, operator: str, tracking_number: str | None) -> PostalOrder:
    """The operator takes the order, with its own tracking number or one the portal issues (UPU S10).

    NotFound for another operator's order; Conflict (409) when it is already claimed or cancelled. The
    status moves by a conditional UPDATE, so of two racing claims exactly one wins.
    """
    if order.operator != operator:
        raise NotFound(MSG_NO_ORDER)
    if tracking_number is not None:
        tracking_number = tracking_number.strip().upper()
        if not _TRACKING.fullmatch(tracking_number):
            raise Invalid(MSG_TRACKING_FORMAT)
    session.flush()
    session.refresh(order)
    if order.status != ParcelStatus.CREATED:
        raise Conflict(MSG_NOT_CLAIMABLE, {"status": order.status})
    if tracking_number is not None:
        taken = session.exec(
            select(PostalOrder.id).where(
                col(PostalOrder.operator) == operator,
                col(PostalOrder.tracking_number) == tracking_number,
            )
        ).first()
        if taken is not None:
            raise Conflict(MSG_TRACKING_TAKEN)
    else:
        tracking_number = next_tracking_number(session)
    now = utcnow()
    try:
        with session.begin_nested():
            result = session.execute(
                update(PostalOrder)
                .where(col(PostalOrder.id) == order.id, col(PostalOrder.status) == ParcelStatus.CREATED)
                .values(
                    status=ParcelStatus.CLAIMED,
                    tracking_number=tracking_number,
                    claimed_at=now,
                    status_at=now,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:  # another order took the same tracking number meanwhile
        raise Conflict(MSG_TRACKING_TAKEN) from None
    session.refresh(order)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(MSG_NOT_CLAIMABLE, {"status": order.status})
    event = _portal_event(session, order, ParcelStatus.CLAIMED, at=now, note=tracking_number)
    _publish(session, order, event, previous_status=ParcelStatus.CREATED)
    return order


def _conditional_created_update(session: Session, order: PostalOrder, values: dict[str, Any]) -> bool:
    session.flush()
    result = session.execute(
        update(PostalOrder)
        .where(col(PostalOrder.id) == order.id, col(PostalOrder.status) == ParcelStatus.CREATED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def cancel(*, session: Session, order: PostalOrder, reason: str, by: str) -> PostalOrder:
    """Cancel an order nobody has claimed yet (Conflict otherwise); records and publishes "cancelled"."""
    now = utcnow()
    if not _conditional_created_update(
        session, order, {"status": ParcelStatus.CANCELLED, "status_at": now, "updated_at": now}
    ):
        raise Conflict(MSG_NOT_CANCELLABLE, {"status": order.status})
    event = _portal_event(session, order, ParcelStatus.CANCELLED, at=now, reason=reason, note=by)
    _publish(session, order, event, previous_status=ParcelStatus.CREATED)
    return order


def change_recipient(
    *,
    session: Session,
    settings: Settings,
    order: PostalOrder,
    recipient: PostalAddress | Mapping[str, Any],
    province_code: str,
    fee: int,
) -> PostalOrder:
    """Change the applicant's side of an unclaimed order (Conflict once claimed): its address and its fee.

    The applicant's side is the recipient of a delivery and the sender of a pickup (where the originals are
    collected). The operator is chosen again for the new province.
    """
    if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
        raise Invalid(MSG_AMOUNT)
    address = _address(recipient)
    province_code = _applicant_province(province_code, address)
    side = "recipient" if order.kind == ParcelKind.DELIVERY else "sender"
    values = {
        side: address,
        "province_code": province_code,
        "operator": choose_operator(settings, province_code),
        "fee": fee,
        "updated_at": utcnow(),
    }
    if not _conditional_created_update(session, order, values):
        raise Conflict(MSG_NOT_CHANGEABLE, {"status": order.status})
    return order


# -- operator events


def _check_text(value: str, field: str, max_length: int) -> None:
    if len(value) > max_length:
        raise Invalid(MSG_TEXT_TOO_LONG, {"field": field, "max_length": max_length})


def _check_proof(settings: Settings, proof: Proof, now: datetime) -> str:
    """Check a proof of delivery; return the media type of its image."""
    name = proof.recipient_name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise Invalid(MSG_PROOF_NAME)
    try:
        RecipientRelation(proof.relation)
    except ValueError:
        raise Invalid(MSG_PROOF_RELATION) from None
    if as_utc(proof.delivered_at) > now + FUTURE_SKEW:
        raise Invalid(MSG_PROOF_FUTURE)
    if len(proof.content) > settings.postal_proof_max_bytes:
        raise Invalid(MSG_PROOF_TOO_BIG, {"max_kb": settings.postal_proof_max_bytes // 1024}, status_code=413)
    media_type = sniff_media_type(proof.content[:16])
    if media_type not in (MEDIA_JPEG, MEDIA_PNG):
        raise Invalid(MSG_PROOF_NOT_IMAGE)
    try:  # decodes the image fully: a truncated file or a pixel bomb is refused with the uploads' message
        prepare_upload(proof.content, max_bytes=settings.postal_proof_max_bytes)
    except UploadRejected as exc:
        raise Invalid(exc.msgid, exc.params) from None
    return media_type


def _content(report: TrackingReport, occurred_at: datetime, proof: Proof | None) -> dict[str, Any]:
    return {
        "status": str(report.status),
        "occurred_at": occurred_at.isoformat(),
        "location": report.location,
        "note": report.note,
        "reason": report.reason,
        "cod_collected": report.cod_collected,
        "proof": None
        if proof is None
        else {
            "recipient_name": proof.recipient_name.strip(),
            "relation": str(proof.relation),
            "delivered_at": as_utc(proof.delivered_at).isoformat(),
            "sha256": hashlib.sha256(proof.content).hexdigest(),
        },
    }


def _validate(
    settings: Settings, order: PostalOrder, report: TrackingReport, occurred_at: datetime, proof: Proof | None
) -> str | None:
    """Check an operator's event against its order; return the proof's media type (delivered)."""
    status = str(report.status)
    if status not in OPERATOR_STATUSES:
        raise Invalid(MSG_STATUS, {"status": status})
    now = utcnow()
    if occurred_at > now + FUTURE_SKEW:
        raise Invalid(MSG_FUTURE)
    if occurred_at < as_utc(order.created_at) - FUTURE_SKEW:
        raise Invalid(MSG_BEFORE_ORDER)
    _check_text(report.location, "location", 200)
    _check_text(report.note, "note", 500)
    _check_text(report.reason, "reason", 300)
    if status == ParcelStatus.DELIVERY_ATTEMPTED and not report.reason.strip():
        raise Invalid(MSG_REASON_REQUIRED)
    collected = report.cod_collected
    if collected is not None and (isinstance(collected, bool) or not isinstance(collected, int) or collected < 0):
        raise Invalid(MSG_AMOUNT)
    if status == ParcelStatus.DELIVERED:
        if proof is None:
            raise Invalid(MSG_PROOF_REQUIRED)
        if order.cod_amount and collected is None:
            raise Invalid(MSG_COD_MISSING, {"expected": order.cod_amount})
        if order.cod_amount and collected != order.cod_amount:
            raise Invalid(MSG_COD_MISMATCH, {"collected": collected or 0, "expected": order.cod_amount})
        if not order.cod_amount and collected:
            raise Invalid(MSG_COD_UNEXPECTED)
        return _check_proof(settings, proof, now)
    if proof is not None:
        raise Invalid(MSG_PROOF_ONLY_DELIVERED)
    if collected:
        raise Invalid(MSG_COD_UNEXPECTED)
    return None


def _moves(order: PostalOrder, status: str, occurred_at: datetime) -> bool:
    """Whether an event moves the order's status: a higher rank, or the same rank and a later time."""
    if order.status in FINAL:
        return False
    current, new = RANK[order.status], RANK[status]
    return new > current or (new == current and occurred_at > as_utc(order.status_at))


def record_event(
    *,
    session: Session,
    settings: Settings,
    storage: Storage,
    operator: str,
    order: PostalOrder,
    report: TrackingReport,
    proof: Proof | None = None,
) -> Recorded:
    """Record an operator's tracking event on its order and move the status if it should.

    Idempotent by (operator, event id): the same content again is answered as a replay (nothing changes,
    nothing is published), other content under the same id is a Conflict. Invalid: a status operators do
    not report, a time in the future or before the order, "delivered" without a valid proof or with a COD
    amount other than the order's, "delivery attempted" without a reason. Conflict before the claim. The
    `settings.postal_max_attempts`-th failed attempt returns the parcel (a "returned" event of the portal).
    """
    if order.operator != operator:
        raise NotFound(MSG_NO_ORDER)
    if not _EVENT_ID.fullmatch(report.event_id or ""):
        raise Invalid(MSG_EVENT_ID)
    occurred_at = as_utc(report.occurred_at)
    content_hash = _hash(_content(report, occurred_at, proof))
    _lock(session, order)
    existing = session.exec(
        select(PostalEvent).where(col(PostalEvent.operator) == operator, col(PostalEvent.event_id) == report.event_id)
    ).first()
    if existing is not None:
        if existing.order_id == order.id and existing.content_hash == content_hash:
            return Recorded(event=existing, replayed=True, changed=False)
        raise Conflict(MSG_EVENT_REPLAYED_OTHER)
    media_type = _validate(settings, order, report, occurred_at, proof)
    if order.status in (ParcelStatus.CREATED, ParcelStatus.CANCELLED):
        raise Conflict(MSG_NOT_CLAIMED)
    status = str(report.status)
    previous = order.status
    applied = _moves(order, status, occurred_at)
    event = PostalEvent(
        order_id=order.id,
        operator=operator,
        event_id=report.event_id,
        content_hash=content_hash,
        status=status,
        occurred_at=occurred_at,
        location=report.location,
        note=report.note,
        reason=report.reason,
        cod_collected=report.cod_collected,
        applied=applied,
    )
    try:  # before the proof is stored: an id taken meanwhile by another order of the operator keeps nothing
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        raise Conflict(MSG_EVENT_REPLAYED_OTHER) from None
    stored_proof: DeliveryProof | None = None
    if proof is not None and media_type is not None and session.get(DeliveryProof, order.id) is None:
        key = storage.put(
            proof.content, prefix=f"postal/proofs/{order.id}", suffix=".jpg" if media_type == MEDIA_JPEG else ".png"
        )
        stored_proof = DeliveryProof(
            order_id=order.id,
            event_id=report.event_id,
            recipient_name=proof.recipient_name.strip(),
            relation=str(proof.relation),
            delivered_at=as_utc(proof.delivered_at),
            file_key=key,
            media_type=media_type,
            size=len(proof.content),
            sha256=hashlib.sha256(proof.content).hexdigest(),
        )
        session.add(stored_proof)
    counts_attempt = status == ParcelStatus.DELIVERY_ATTEMPTED and order.status not in FINAL
    if counts_attempt:
        order.attempts += 1
    if applied:
        order.status, order.status_at = status, occurred_at
        if status == ParcelStatus.DELIVERED:
            order.delivered_at = occurred_at
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    _publish(session, order, event, previous_status=previous, proof=stored_proof)
    if counts_attempt and order.attempts >= settings.postal_max_attempts and order.status not in FINAL:
        before = order.status
        at = max(occurred_at, as_utc(order.status_at))
        order.status, order.status_at, order.updated_at = ParcelStatus.RETURNED, at, utcnow()
        session.add(order)
        session.flush()
        returned = _portal_event(
            session, order, ParcelStatus.RETURNED, at=at, reason=AUTO_RETURN_REASON.format(attempts=order.attempts)
        )
        _publish(session, order, returned, previous_status=before)
    return Recorded(event=event, replayed=False, changed=applied)


# -- reads


def orders_of(session: Session, owner_id: str, *, owner_kind: str = "dossier") -> list[PostalOrder]:
    """The orders of an owner (a dossier), oldest first."""
    stmt = (
        select(PostalOrder)
        .where(col(PostalOrder.owner_kind) == owner_kind, col(PostalOrder.owner_id) == owner_id)
        .order_by(col(PostalOrder.created_at), col(PostalOrder.id))
    )
    return list(session.exec(stmt))


def events_of(session: Session, order_id: str) -> list[PostalEvent]:
    """The events of an order by the time they happened (then as recorded)."""
    stmt = (
        select(PostalEvent)
        .where(col(PostalEvent.order_id) == order_id)
        .order_by(col(PostalEvent.occurred_at), col(PostalEvent.id))
    )
    return list(session.exec(stmt))


def proof_of(session: Session, order_id: str) -> DeliveryProof | None:
    """The proof of delivery of an order, if delivered."""
    return session.get(DeliveryProof, order_id)


def order_by_number(session: Session, number: str, *, operator: str | None = None) -> PostalOrder:
    """The order with this number (of this operator when given); NotFound otherwise."""
    order = session.exec(select(PostalOrder).where(col(PostalOrder.number) == number)).first()
    if order is None or (operator is not None and order.operator != operator):
        raise NotFound(MSG_NO_ORDER)
    return order
