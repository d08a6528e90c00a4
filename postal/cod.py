"""Cash on delivery (thu hộ): an operator's daily statement of the amounts its couriers collected.

A day is a local day in Vietnam (Asia/Ho_Chi_Minh, 00:00 to 24:00); an order is on the statement of the
day its delivery happened (the time of the operator's "delivered" event).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from portal.kernel.clock import LOCAL_TZ, as_utc, local
from postal.models import ParcelStatus, PostalOrder

__all__ = ["CSV_HEADER", "CodLine", "CodStatement", "daily_statement", "day_bounds", "statement_csv"]

CSV_HEADER = ("number", "tracking_number", "reference", "delivered_at", "amount")


@dataclass(frozen=True)
class CodLine:
    """One delivered cash-on-delivery order: what was collected, and when."""

    number: str
    tracking_number: str | None
    reference: str
    delivered_at: datetime  # UTC
    amount: int  # đồng


@dataclass(frozen=True)
class CodStatement:
    """An operator's cash-on-delivery collections of one local day, in the order of delivery."""

    operator: str
    day: date
    lines: list[CodLine]
    total: int


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where a local (Vietnam) day starts and the next starts."""
    start = datetime.combine(day, time.min, tzinfo=LOCAL_TZ)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def daily_statement(session: Session, *, operator: str, day: date) -> CodStatement:
    """The delivered COD orders of `operator` whose delivery falls on the local `day`, and their total."""
    start, end = day_bounds(day)
    stmt = (
        select(PostalOrder)
        .where(
            col(PostalOrder.operator) == operator,
            col(PostalOrder.status) == ParcelStatus.DELIVERED,
            col(PostalOrder.cod_amount) > 0,
            col(PostalOrder.delivered_at) >= start,
            col(PostalOrder.delivered_at) < end,
        )
        .order_by(col(PostalOrder.delivered_at), col(PostalOrder.number))
    )
    lines = [
        CodLine(
            number=order.number,
            tracking_number=order.tracking_number,
            reference=order.reference,
            delivered_at=as_utc(order.delivered_at),
            amount=order.cod_amount,
        )
        for order in session.exec(stmt)
        if order.delivered_at is not None
    ]
    return CodStatement(operator=operator, day=day, lines=lines, total=sum(line.amount for line in lines))


def statement_csv(statement: CodStatement) -> str:
    """The statement as CSV (UTF-8, comma, CRLF): a header, one row per order (delivery time in Vietnam time,
    ISO 8601 with its offset; amount in đồng), and a last row "total" with the sum."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in statement.lines:
        writer.writerow(
            [
                _safe(line.number),
                _safe(line.tracking_number or ""),
                _safe(line.reference),
                local(line.delivered_at).isoformat(timespec="seconds"),
                line.amount,
            ]
        )
    writer.writerow(["total", "", "", "", statement.total])
    return out.getvalue()


def _safe(value: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
