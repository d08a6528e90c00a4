"""What postal publishes on the kernel's event bus (in the caller's transaction).

`ParcelEvent` is published when an order is created, claimed, cancelled or returned (the automatic return
after the last failed attempt included), and for every operator event recorded, with ``changed=False``
when a late or lower-ranked event did not move the status. A replayed event is not published again.
The owner's domain (the dossiers) subscribes::

    @subscribe(ParcelEvent)
    def on_parcel(session: Session, event: ParcelEvent) -> None: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ParcelEvent"]


@dataclass(frozen=True)
class ParcelEvent:
    """Something happened to a parcel: its new status (`status`) and the one before (`previous_status`)."""

    order_id: str
    number: str
    kind: str  # a ParcelKind
    operator: str
    owner_kind: str
    owner_id: str
    reference: str
    tracking_number: str | None
    status: str  # a ParcelStatus: the status of the event (not always the order's, see `changed`)
    previous_status: str  # the order's status before the event
    changed: bool  # whether the order's status moved to `status`
    occurred_at: datetime
    event_id: str
    reason: str = ""
    cod_collected: int | None = None
    attempts: int = 0  # failed delivery attempts so far
    recipient_name: str | None = None  # on delivered: who signed
    relation: str | None = None  # on delivered: a RecipientRelation
