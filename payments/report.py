"""The daily report of collected fees and refunds, per agency and gateway (for the agency's accountant)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from payments.fees import agency_shares
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.kernel.clock import LOCAL_TZ, as_utc


@dataclass(frozen=True)
class ReportRow:
    day: date
    agency_code: str
    gateway: str
    payments: int
    amount: int
    refunds: int
    refunded: int

    @property
    def net(self) -> int:
        return self.amount - self.refunded


def _local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    return as_utc(start), as_utc(start + timedelta(days=1))


def daily_report(session: Session, day: date, *, agency_code: str | None = None) -> list[ReportRow]:
    """Per agency and gateway: payments that succeeded on the local day, and refunds made that day.

    Each agency collects its own fees: a payment of a linked application (its lines name several agencies)
    is split by its lines, each agency credited with its lines (`fees.agency_shares`: a line without an
    agency, and what the lines do not add up to, are the payment's agency's), so the amounts of all rows
    still add up to what the gateway took. Such a payment counts once in each of its agencies' rows. A
    refund is debited to its `agency_code`, else the payment's agency. `agency_code`: only that agency's row.
    """
    start, end = _local_day_bounds(day)
    paid = select(Payment.agency_code, Payment.gateway, Payment.amount, Payment.lines).where(
        Payment.status == PaymentStatus.SUCCEEDED, col(Payment.settled_at) >= start, col(Payment.settled_at) < end
    )
    refunded = (
        select(
            func.coalesce(Refund.agency_code, Payment.agency_code),
            Payment.gateway,
            func.count(),
            func.coalesce(func.sum(Refund.amount), 0),
        )
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(Refund.status == RefundStatus.SUCCEEDED, col(Refund.settled_at) >= start, col(Refund.settled_at) < end)
        .group_by(func.coalesce(Refund.agency_code, Payment.agency_code), Payment.gateway)
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for payment_agency, gateway, amount, lines in session.exec(paid).all():
        for agency, share in agency_shares(lines or [], amount=amount, agency_code=payment_agency).items():
            row = totals.setdefault((agency, gateway), [0, 0, 0, 0])
            row[0] += 1
            row[1] += share
    for agency, gateway, n, amount in session.exec(refunded).all():
        totals.setdefault((agency, gateway), [0, 0, 0, 0])[2:4] = [int(n), int(amount)]
    return [
        ReportRow(day, agency, gateway, *values)
        for (agency, gateway), values in sorted(totals.items())
        if agency_code is None or agency == agency_code
    ]


REPORT_HEADER = (
    "ngay",
    "co_quan",
    "cong_thanh_toan",
    "so_giao_dich",
    "so_tien",
    "so_hoan_tra",
    "tien_hoan_tra",
    "thuc_thu",
)


def report_csv(rows: Sequence[ReportRow]) -> str:
    """The report as CSV (UTF-8, comma, header in Vietnamese without diacritics, amounts in đồng)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    for r in rows:
        writer.writerow(
            [r.day.isoformat(), r.agency_code, r.gateway, r.payments, r.amount, r.refunds, r.refunded, r.net]
        )
    return out.getvalue()
