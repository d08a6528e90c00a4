"""Parcels the portal sends through the public postal service: orders, their tracking events, proof of delivery.

The postal package knows parcels, addresses and operators, never dossiers. An order belongs to an owner
(``owner_kind="dossier"``, ``owner_id`` its id) and carries the owner's public ``reference`` (the dossier
code, printed on the label); what a postal event means for the owner is for the owner's domain, which
subscribes to the events of `postal.events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class ParcelKind(LabelledEnum):
    """What an order moves: the applicant's paper originals to the centre, or the result to the applicant."""

    PICKUP = "pickup", N_("Pickup of the originals")
    DELIVERY = "delivery", N_("Delivery of the result")


class ParcelStatus(LabelledEnum):
    """Where a parcel is. `RANK` orders them: the status of an order never goes to a lower rank."""

    CREATED = "created", N_("Order created")
    CLAIMED = "claimed", N_("Accepted by the postal operator")
    PICKED_UP = "picked_up", N_("Picked up")
    IN_TRANSIT = "in_transit", N_("In transit")
    DELIVERY_ATTEMPTED = "delivery_attempted", N_("Delivery attempted")
    DELIVERED = "delivered", N_("Delivered")
    RETURNED = "returned", N_("Returned to sender")
    CANCELLED = "cancelled", N_("Cancelled")


# A later event of a lower rank is kept on the order's record but does not move its status; within one rank
# (in transit, attempted) the event with the latest time sets it.
RANK: dict[str, int] = {
    ParcelStatus.CREATED: 0,
    ParcelStatus.CLAIMED: 1,
    ParcelStatus.PICKED_UP: 2,
    ParcelStatus.IN_TRANSIT: 3,
    ParcelStatus.DELIVERY_ATTEMPTED: 3,
    ParcelStatus.DELIVERED: 4,
    ParcelStatus.RETURNED: 4,
    ParcelStatus.CANCELLED: 4,
}
FINAL = frozenset({ParcelStatus.DELIVERED, ParcelStatus.RETURNED, ParcelStatus.CANCELLED})
# What an operator may report through its API or its tracking (created, claimed, cancelled are the portal's).
OPERATOR_STATUSES = frozenset(
    {
        ParcelStatus.PICKED_UP,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.DELIVERY_ATTEMPTED,
        ParcelStatus.DELIVERED,
        ParcelStatus.RETURNED,
    }
)


class WeightClass(LabelledEnum):
    """The weight classes of the postal tariff (`postal/data/tariff.yaml` prices each in each zone)."""

    DOCUMENT = "document", N_("Document envelope, up to 100 g")
    THICK = "thick", N_("Thick envelope, up to 500 g")
    PARCEL = "parcel", N_("Parcel, up to 2 kg")


class RecipientRelation(LabelledEnum):
    """Who signed for a delivered parcel, relative to the applicant."""

    SELF = "self", N_("The applicant")
    FAMILY = "family", N_("A family member")
    AUTHORISED = "authorised", N_("An authorised person")


class PostalOrder(SQLModel, table=True):
    """One parcel: a pickup of originals from the applicant, or a delivery of a result to them."""

    __tablename__ = "postal_order"
    __table_args__ = (
        UniqueConstraint("operator", "tracking_number", name="uq_postal_order_tracking"),
        # The operators' listing: one operator's orders in number order (bench/postal.py, docs/PERFORMANCE.md).
        Index("ix_postal_order_operator_number", "operator", "number"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # The portal's own number for the order (also the operator's order number for push operators).
    number: str = Field(unique=True, index=True, max_length=20)
    kind: str = Field(index=True, max_length=10)  # a ParcelKind
    operator: str = Field(index=True, max_length=40)
    status: str = Field(default=ParcelStatus.CREATED, index=True, max_length=20)  # a ParcelStatus
    owner_kind: str = Field(default="dossier", max_length=20)
    owner_id: str = Field(index=True, max_length=32)
    # The owner's public reference, printed on the label (the dossier code).
    reference: str = Field(index=True, max_length=40)
    tracking_number: str | None = Field(default=None, index=True, max_length=40)
    # The province of the applicant's side of the parcel (where a pickup starts or a delivery ends): operators
    # are assigned to provinces, and list orders by it.
    province_code: str = Field(index=True, max_length=2)
    # Addresses: {"name", "phone", "province", "ward", "street", "notes"} (`postal.addresses.PostalAddress`).
    sender: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recipient: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # What is inside: [{"id", "name_vi", "name_en"}] (the originals asked for, or the result documents).
    contents: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weight_class: str = Field(max_length=20)
    # The postage charged to the applicant for this parcel (đồng), and what the courier collects at delivery.
    fee: int = 0
    cod_amount: int = 0
    attempts: int = 0  # failed delivery attempts so far
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The time of the event that set the current status (operators' events are placed by their own time).
    status_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # Push operators (`postal.operators`): the operator's own id of the order, and the last tracking poll.
    operator_ref: str | None = Field(default=None, max_length=60)
    polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PostalEvent(SQLModel, table=True):
    """One thing that happened to a parcel, as the operator (or the portal) reported it."""

    __tablename__ = "postal_event"
    __table_args__ = (UniqueConstraint("operator", "event_id", name="uq_postal_event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="postal_order.id", index=True, max_length=32)
    operator: str = Field(max_length=40)
    # The reporter's id of the event (idempotency: the same id twice is one event); the portal's own events
    # get "portal-…".
    event_id: str = Field(max_length=80)
    # SHA-256 of the event's content: the same id with other content is refused, not taken as a retry.
    content_hash: str = Field(max_length=64)
    status: str = Field(max_length=20)  # a ParcelStatus
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    location: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)
    reason: str = Field(default="", max_length=300)  # why a delivery attempt failed
    cod_collected: int | None = None
    # Whether this event moved the order's status (an older or lower-ranked event arriving late does not).
    applied: bool = False


class DeliveryProof(SQLModel, table=True):
    """Who received a delivered parcel, when, and their signature or a photo (one per order)."""

    __tablename__ = "postal_proof"

    order_id: str = Field(foreign_key="postal_order.id", primary_key=True, max_length=32)
    event_id: str = Field(max_length=80)
    recipient_name: str = Field(max_length=120)
    relation: str = Field(max_length=12)  # a RecipientRelation
    delivered_at: datetime = Field(sa_type=UTCDateTime)
    file_key: str = Field(max_length=200)
    media_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)


class PostalCounter(SQLModel, table=True):
    """Counters that number orders and the tracking numbers the portal issues (one row per series)."""

    __tablename__ = "postal_counter"

    series: str = Field(primary_key=True, max_length=20)
    value: int = 0
