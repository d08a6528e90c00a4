"""Read-side queries of postal orders: the operators' paged listing of open orders.

The listing is paged by keyset over the order's number, the order in which orders are created: a page's
cursor names the last order it showed, so orders created or changed meanwhile never make a page skip or
repeat one. Numbers (`postal.numbers.next_order_number`) come from a counter whose row stays locked until
the creating transaction ends, so they also become visible in their order: an operator polling with the
last cursor never misses an order committed late (a creation time would: an order stamped earlier could be
committed after a later one was listed). The cursor is opaque to clients (URL-safe base64 of the position).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_
from postal.models import FINAL, ParcelKind, ParcelStatus, PostalOrder

__all__ = ["MAX_LIMIT", "Page", "decode_cursor", "encode_cursor", "open_orders"]

MAX_LIMIT = 200
NUMBER_MAX_LENGTH = 20
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
    """The cursor that continues after `order` (an order with the number "" starts at the beginning)."""
    raw = json.dumps({"n": order.number}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The order number a cursor names; Invalid for anything `encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        number = json.loads(raw)["n"]
        if not isinstance(number, str) or len(number) > NUMBER_MAX_LENGTH:
            raise ValueError(cursor)
        return number
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
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
    """The orders of `operator`, oldest (lowest number) first: those not final (delivered, returned, cancelled)
    by default, or those of exactly `status`; optionally of one kind and one province (of the applicant's
    side)."""
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
        stmt = stmt.where(col(PostalOrder.number) > decode_cursor(cursor))
    stmt = stmt.order_by(col(PostalOrder.number)).limit(limit + 1)
    orders = list(session.exec(stmt))
    more = len(orders) > limit
    orders = orders[:limit]
    return Page(orders=orders, next_cursor=encode_cursor(orders[-1]) if more and orders else None)
