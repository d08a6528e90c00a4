"""Read-side queries of postal orders: the operators' paged listing of open orders.

The listing is paged by keyset over (created_at, id), the order in which orders are created: a page's
cursor names the last order it showed, so orders created or changed meanwhile never make a page skip or
repeat one. The cursor is opaque to clients (URL-safe base64 of the position).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from portal.kernel.clock import as_utc
from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_
from postal.models import FINAL, ParcelKind, ParcelStatus, PostalOrder

__all__ = ["MAX_LIMIT", "Page", "decode_cursor", "encode_cursor", "open_orders"]

MAX_LIMIT = 200
MSG_CURSOR = N_("The cursor is not valid: use the next_cursor of a previous page.")
MSG_LIMIT = N_("The page size is 1 to {max}.")
MSG_KIND = N_("Unknown kind of order: {kind}.")
MSG_STATUS = N_("Unknown status: {status}.")


@dataclass(frozen=True)
class Page:
    """One page of orders and the opaque cursor of the next page (None at the end)."""

    orders: list[PostalOrder]
    next_cursor: str | None


def encode_cursor(order: PostalOrder) -> str:
    """The cursor that continues after `order`."""
    raw = json.dumps([as_utc(order.created_at).isoformat(), order.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; Invalid for anything `encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, order_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(order_id, str) or len(order_id) > 32:
            raise ValueError(cursor)
        return as_utc(datetime.fromisoformat(created)), order_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid(MSG_CURSOR) from None


def open_orders(
    session: Session,
    *,
    operator: str,
    kind: str | None = None,
    status: str | None = None,
    province: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The orders of `operator`, oldest first: those not final (delivered, returned, cancelled) by default,
    or those of exactly `status`; optionally of one kind and one province (of the applicant's side)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(MSG_LIMIT, {"max": MAX_LIMIT})
    stmt = select(PostalOrder).where(col(PostalOrder.operator) == operator)
    if kind is not None:
        if kind not in {str(k) for k in ParcelKind}:
            raise Invalid(MSG_KIND, {"kind": kind})
        stmt = stmt.where(col(PostalOrder.kind) == kind)
    if status is not None:
        if status not in {str(s) for s in ParcelStatus}:
            raise Invalid(MSG_STATUS, {"status": status})
        stmt = stmt.where(col(PostalOrder.status) == status)
    else:
        stmt = stmt.where(col(PostalOrder.status).not_in([str(s) for s in FINAL]))
    if province is not None:
        stmt = stmt.where(col(PostalOrder.province_code) == province)
    if cursor:
        created, order_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                col(PostalOrder.created_at) > created,
                and_(col(PostalOrder.created_at) == created, col(PostalOrder.id) > order_id),
            )
        )
    stmt = stmt.order_by(col(PostalOrder.created_at), col(PostalOrder.id)).limit(limit + 1)
    orders = list(session.exec(stmt))
    more = len(orders) > limit
    orders = orders[:limit]
    return Page(orders=orders, next_cursor=encode_cursor(orders[-1]) if more and orders else None)
