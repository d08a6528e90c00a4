"""Postal orders: create, claim, record operator events (idempotent, out of order), cancel, change recipient.

Services flush, never commit. (Bodies being written for issue 13; the signatures are final.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from postal.addresses import PostalAddress
from postal.models import DeliveryProof, ParcelKind, PostalEvent, PostalOrder, RecipientRelation


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
    raise NotImplementedError


def claim(*, session: Session, order: PostalOrder, operator: str, tracking_number: str | None) -> PostalOrder:
    raise NotImplementedError


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
    raise NotImplementedError


def cancel(*, session: Session, order: PostalOrder, reason: str, by: str) -> PostalOrder:
    raise NotImplementedError


def change_recipient(
    *,
    session: Session,
    settings: Settings,
    order: PostalOrder,
    recipient: PostalAddress | Mapping[str, Any],
    province_code: str,
    fee: int,
) -> PostalOrder:
    raise NotImplementedError


def orders_of(session: Session, owner_id: str, *, owner_kind: str = "dossier") -> list[PostalOrder]:
    raise NotImplementedError


def events_of(session: Session, order_id: str) -> list[PostalEvent]:
    raise NotImplementedError


def proof_of(session: Session, order_id: str) -> DeliveryProof | None:
    raise NotImplementedError


def order_by_number(session: Session, number: str, *, operator: str | None = None) -> PostalOrder:
    raise NotImplementedError
