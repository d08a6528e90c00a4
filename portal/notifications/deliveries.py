"""One delivery per chosen channel: fan-out, sending through the channel plugins, provider receipts
(helper A of issue 14 fills this).

Interface (fixed):

    record_receipt(session, *, provider, callback_id, provider_message_id, status, at, detail="") -> bool
        Apply a provider's delivery-status callback: `status` is DeliveryStatus.DELIVERED or FAILED.
        False when `callback_id` was already applied (a replay) or no delivery has this provider message id;
        a receipt never moves a delivery backwards (delivered stays delivered).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session


def record_receipt(
    session: Session,
    *,
    provider: str,
    callback_id: str,
    provider_message_id: str,
    status: str,
    at: datetime,
    detail: str = "",
) -> bool:
    raise NotImplementedError
