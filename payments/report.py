"""The daily report of collected fees and refunds, per agency and gateway (for the agency's accountant)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

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
    """Per agency and gateway: payments that succeeded on the local day, and refunds made that day."""
    start, end = _local_day_bounds(day)
    paid = select(Payment.agency_code, Payment.gateway, func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.status == PaymentStatus.SUCCEEDED, col(Payment.settled_at) >= start, col(Payment.settled_at) < end
    )
    refunded = (
        select(Payment.agency_code, Payment.gateway, func.count(), func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(Refund.status == RefundStatus.SUCCEEDED, col(Refund.settled_at) >= start, col(Refund.settled_at) < end)
    )
    if agency_code is not None:
        paid = paid.where(Payment.agency_code == agency_code)
        refunded = refunded.where(Payment.agency_code == agency_code)
    totals: dict[tuple[str, str], list[int]] = {}
    for agency, gateway, n, amount in session.exec(paid.group_by(Payment.agency_code, Payment.gateway)).all():
        totals.setdefault((agency, gateway), [0, 0, 0, 0])[0:2] = [int(n), int(amount)]
    for agency, gateway, n, amount in session.exec(refunded.group_by(Payment.agency_code, Payment.gateway)).all():
        totals.setdefault((agency, gateway), [0, 0, 0, 0])[2:4] = [int(n), int(amount)]
    return [ReportRow(day, agency, gateway, *values) for (agency, gateway), values in sorted(totals.items())]


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
