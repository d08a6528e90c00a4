"""The dossier's postal orders as its pages and the back-office read them: each with its events and proof."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from postal import service as postal
from postal.models import DeliveryProof, ParcelKind, ParcelStatus, PostalEvent, PostalOrder

__all__ = ["Parcel", "parcel_of", "parcels_of"]


@dataclass(frozen=True)
class Parcel:
    """One postal order of a dossier: the order, its events (by the time they happened) and proof of delivery."""

    order: PostalOrder
    events: list[PostalEvent]
    proof: DeliveryProof | None

    @property
    def originals_arrived_at(self) -> datetime | None:
        """When the pickup delivered the originals to the agency (None for a delivery, or not yet)."""
        if self.order.kind != ParcelKind.PICKUP or self.order.status != ParcelStatus.DELIVERED:
            return None
        return self.proof.delivered_at if self.proof is not None else self.order.delivered_at


def parcels_of(session: Session, dossier_id: str) -> list[Parcel]:
    """The dossier's postal orders, oldest first."""
    return [
        Parcel(order=o, events=postal.events_of(session, o.id), proof=postal.proof_of(session, o.id))
        for o in sorted(postal.orders_of(session, dossier_id), key=lambda o: (o.created_at, o.number))
    ]


def parcel_of(session: Session, dossier_id: str, number: str) -> Parcel:
    """One postal order of the dossier by its number; 404 for any other."""
    for parcel in parcels_of(session, dossier_id):
        if parcel.order.number == number:
            return parcel
    raise NotFound(N_("This dossier has no such postal parcel."))
