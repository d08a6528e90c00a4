"""A small fixed set of dossiers whose statistics are computed by hand (`EXPECTED`), in two agencies and two
procedures of their own (fresh codes per call, one field), dated March–April 2019 so nothing else is counted.

The period is PERIOD_FROM..PERIOD_TO (local dates). Times are local (Asia/Ho_Chi_Minh) unless said; several
sit just after local midnight, where the UTC date is the day before, to check the local-day judgement:

| dossier | received (ch.) | official | result ready | end | judged | notes |
| --- | --- | --- | --- | --- | --- | --- |
| D1 (A) | 03-04 online | 03-08 | 03-06 | completed 03-07 | early | paid 50 000; rated all 5 |
| D2 (A) | 03-05 pickup | 03-11 | 03-11 00:30 | result ready | on time | UTC date is 03-10 |
| D3 (A) | 03-06 counter | 03-12 | 03-14 | completed 03-20, post | late |  |
| D4 (A) | 03-07 online | 03-15 | 03-22 | result ready | late | paused; apology to 03-25 |
| D5 (A) | 03-18 online | 03-26 | 03-26 | completed 03-27 | on time | paused (official moved) |
| D6 (A) | 04-01 00:30 |  |  | rejected 04-05 |  | paid 30 000, refunded |
| D7 (A) | (submitted) |  |  | withdrawn 04-04 |  | never received |
| D8 (A) | 04-10 online | 04-15 |  | in process |  | overdue now |
| D9 (A) | 04-20 online | 04-25 |  | supplement requested |  | paused: not overdue |
| D10 (A) | 04-25 online | 05-06 | 05-03 (after) | completed 05-04 |  | in process at period end |
| D11 (A) | 04-28 online |  |  | rejected 05-02 (after) |  | in process at period end |
| D12 (A) | 02-20 (before) | 03-01 | 03-01 00:10 | completed 03-02 | on time | rated 2 criteria |
| D13 (B) | 03-10 online | 03-15 | 03-12 | completed 03-13 | early | the other agency |
| D14 (A) | draft |  |  |  |  | never counted |

Plus a failed payment (not counted), a payment and a rating after the period (not counted).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from auth.models import Account
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierEvent,
    DossierPause,
    DossierRating,
    DossierStatus,
    SupplementRequest,
)
from portal.kernel.calendar import TZ
from portal.stats.figures import CriterionScore, Figures, MonthlyPoint
from postal.models import PostalOrder
from tests import factories

PERIOD_FROM = date(2019, 3, 1)
PERIOD_TO = date(2019, 4, 30)
ALL5 = {"reception": 5, "guidance": 5, "result_correct": 5, "on_time": 5, "fees_as_announced": 5}


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A local time of 2019, as the aware UTC instant the columns store."""
    return datetime(2019, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


@dataclass
class Dataset:
    agency_a: str
    agency_b: str
    procedure_a: str
    procedure_b: str
    field: str
    rows: list[Any]  # everything added, in insertion order (the HTTP tests delete them in reverse)


def _procedure(session: Session, *, code: str, agency: str, field: str) -> Procedure:
    return factories.procedure_copy(
        session,
        code,
        slug="thong-ke",
        agency_code=agency,
        name_vi=f"Thủ tục thống kê {code}",
        name_en=f"Statistics procedure {code}",
        field_vi=field,
        field_en=f"Statistics field {field[-6:]}",
    )


def build(session: Session) -> Dataset:
    """Add the dossiers (flushed, not committed) and return their codes."""
    suffix = secrets.token_hex(3).upper()
    agency_a, agency_b = f"A{suffix}", f"B{suffix}"
    procedure_a, procedure_b = f"TK.A{suffix}", f"TK.B{suffix}"
    field = f"Lĩnh vực thống kê {suffix}"
    rows: list[Any] = []

    def add(row: Any) -> Any:
        session.add(row)
        session.flush()
        rows.append(row)
        return row

    add(Agency(code=agency_a, name_vi=f"Cơ quan A {suffix}", name_en=f"Agency A {suffix}"))
    add(Agency(code=agency_b, name_vi=f"Cơ quan B {suffix}", name_en=f"Agency B {suffix}"))
    add(_procedure(session, code=procedure_a, agency=agency_a, field=field))
    add(_procedure(session, code=procedure_b, agency=agency_b, field=field))
    applicant = add(Account(full_name="Trần Văn Thống", email=f"thong-ke-{suffix.lower()}@example.vn"))
    n = 0

    def dossier(procedure: str = procedure_a, **over: Any) -> Dossier:
        nonlocal n
        n += 1
        values: dict[str, Any] = {
            "procedure_code": procedure,
            "agency_code": agency_a if procedure == procedure_a else agency_b,
            "applicant_id": applicant.id,
            "form_id": "ho-tich-tinh-trang-hon-nhan",
            "form_version": 1,
            "code": f"{suffix}-190301-{n:08d}",
            "status": DossierStatus.RECEIVED,
            "channel": "online",
        }
        received_at = over.get("received_at")
        if received_at is not None:
            values["submitted_at"] = received_at - timedelta(hours=1)
        values.update(over)
        official = values.get("official_due_date")
        values.setdefault("due_date", official)
        return add(Dossier(**values))

    def event(d: Dossier, kind: str, when: datetime) -> None:
        add(DossierEvent(dossier_id=d.id, kind=kind, at=when, actor="test"))

    def supplement(d: Dossier, asked: datetime, answered: datetime | None) -> None:
        request = add(
            SupplementRequest(
                dossier_id=d.id, requested_at=asked, requested_by="officer", message="Bổ sung", answered_at=answered
            )
        )
        add(DossierPause(dossier_id=d.id, supplement_id=request.id, started_at=asked, ended_at=answered))

    def pay(d: Dossier, amount: int, when: datetime, status: str = PaymentStatus.SUCCEEDED) -> Payment:
        return add(
            Payment(
                reference=secrets.token_hex(8),
                order_id=d.id,
                account_id=applicant.id,
                agency_code=d.agency_code,
                gateway="sandbox",
                amount=amount,
                description=f"Lệ phí {d.code}",
                idempotency_key=secrets.token_hex(16),
                status=status,
                created_at=when,
                updated_at=when,
                expires_at=when + timedelta(minutes=15),
                settled_at=when,
            )
        )

    def rate(d: Dossier, when: datetime, scores: dict[str, int]) -> None:
        add(DossierRating(dossier_id=d.id, account_id=applicant.id, scores=scores, at=when))

    completed = DossierStatus.COMPLETED
    d1 = dossier(
        received_at=at(3, 4),
        official_due_date=date(2019, 3, 8),
        result_ready_at=at(3, 6),
        completed_at=at(3, 7),
        status=completed,
        timeliness="early",
        handover="online",
    )
    pay(d1, 50_000, at(3, 4, 10))
    rate(d1, at(3, 8), ALL5)
    d2 = dossier(
        received_at=at(3, 5),
        official_due_date=date(2019, 3, 11),
        result_ready_at=at(3, 11, 0, 30),
        status=DossierStatus.RESULT_READY,
    )
    add(
        PostalOrder(
            number=f"P{suffix}{n}",
            kind="pickup",
            operator="simulated",
            status="delivered",
            owner_id=d2.id,
            reference=d2.code or "",
            province_code="01",
            weight_class="document",
        )
    )
    dossier(
        received_at=at(3, 6),
        channel="counter",
        official_due_date=date(2019, 3, 12),
        result_ready_at=at(3, 14),
        completed_at=at(3, 20),
        status=completed,
        timeliness="late",
        handover="post",
    )
    d4 = dossier(
        received_at=at(3, 7),
        official_due_date=date(2019, 3, 15),
        due_date=date(2019, 3, 25),
        result_ready_at=at(3, 22),
        status=DossierStatus.RESULT_READY,
    )
    supplement(d4, at(3, 8), at(3, 12))
    add(DossierApology(dossier_id=d4.id, at=at(3, 16), by="officer", reason="Chậm", new_date=date(2019, 3, 25)))
    d5 = dossier(
        received_at=at(3, 18),
        official_due_date=date(2019, 3, 26),
        result_ready_at=at(3, 26, 15),
        completed_at=at(3, 27),
        status=completed,
        timeliness="on_time",
        handover="centre",
    )
    supplement(d5, at(3, 19), at(3, 22))
    rate(d5, at(4, 2), {"reception": 4, "guidance": 3, "result_correct": 5, "on_time": 5, "fees_as_announced": 4})
    d6 = dossier(received_at=at(4, 1, 0, 30), status=DossierStatus.REJECTED)
    event(d6, "rejected", at(4, 5))
    paid = pay(d6, 30_000, at(4, 1, 1))
    add(
        Refund(payment_id=paid.id, amount=30_000, reason="rejected", status=RefundStatus.SUCCEEDED, settled_at=at(4, 6))
    )
    pay(d6, 99_000, at(4, 1, 2), status=PaymentStatus.FAILED)
    d7 = dossier(status=DossierStatus.WITHDRAWN, submitted_at=at(4, 3))
    event(d7, "withdrawn", at(4, 4))
    dossier(received_at=at(4, 10), official_due_date=date(2019, 4, 15), status=DossierStatus.IN_PROCESS)
    d9 = dossier(received_at=at(4, 20), official_due_date=date(2019, 4, 25), status=DossierStatus.SUPPLEMENT_REQUESTED)
    supplement(d9, at(4, 22), None)
    d10 = dossier(
        received_at=at(4, 25),
        official_due_date=date(2019, 5, 6),
        result_ready_at=at(5, 3),
        completed_at=at(5, 4),
        status=completed,
        timeliness="early",
        handover="online",
    )
    pay(d10, 20_000, at(5, 4))
    rate(d10, at(5, 5), ALL5)
    d11 = dossier(received_at=at(4, 28), status=DossierStatus.REJECTED)
    event(d11, "rejected", at(5, 2))
    d12 = dossier(
        received_at=at(2, 20),
        official_due_date=date(2019, 3, 1),
        result_ready_at=at(3, 1, 0, 10),
        completed_at=at(3, 2),
        status=completed,
        timeliness="on_time",
        handover="online",
    )
    rate(d12, at(3, 2), {"reception": 3, "guidance": 4})
    dossier(
        procedure_b,
        received_at=at(3, 10),
        official_due_date=date(2019, 3, 15),
        result_ready_at=at(3, 12),
        completed_at=at(3, 13),
        status=completed,
        timeliness="early",
        handover="online",
    )
    dossier(status=DossierStatus.DRAFT, code=None)
    return Dataset(agency_a, agency_b, procedure_a, procedure_b, field, rows)


@contextmanager
def committed(session: Session) -> Iterator[Dataset]:
    """The dataset committed for an app to read, deleted at the end of the block (its codes are fresh per call)."""
    data = build(session)
    session.commit()
    yield data
    for row in reversed(data.rows):
        session.delete(row)
        session.flush()
    session.commit()


def params(data: Dataset, **more: str) -> dict[str, str]:
    """The query parameters of the period and the dataset's field (plus `more`) for /stats and /api/stats."""
    return {"from": PERIOD_FROM.isoformat(), "to": PERIOD_TO.isoformat(), "field": data.field, **more}


def _criteria(*averages: tuple[str, str, float | None, int]) -> tuple[CriterionScore, ...]:
    return tuple(CriterionScore(c, label, avg, count) for c, label, avg, count in averages)


# The whole dataset (filtered by its field), counted by hand from the table above.
EXPECTED = Figures(
    received=11,  # D1–D6, D8–D11, D13
    received_online=10,
    received_postal_pickup=1,  # D2
    received_counter=1,  # D3
    resolved=7,  # D1–D5, D12, D13
    early=2,  # D1, D13
    on_time=3,  # D2, D5, D12
    late=2,  # D3, D4 (the apology's date does not save D4)
    early_percent=28.57,
    on_time_percent=42.86,
    late_percent=28.57,
    on_time_rate=71.43,
    rejected=1,  # D6 (D11 after the period)
    withdrawn=1,  # D7
    in_process=4,  # D8, D9, D10 (result after the end), D11 (rejected after the end)
    overdue_now=1,  # D8 (D9 waits for a supplement)
    supplement_requested=3,  # D4, D5, D9
    supplement_rate=27.27,  # 3 / 11
    returned_by_post=1,  # D3
    fees_paid=80_000,  # D1 50 000 + D6 30 000 (the failed one and D10's after the period are not)
    fees_refunded=30_000,
    fees_collected=50_000,
    ratings=3,  # D1, D5, D12 (D10's after the period)
    satisfaction=_criteria(
        ("reception", "Reception attitude", 4.0, 3),  # (5 + 4 + 3) / 3
        ("guidance", "Guidance", 4.0, 3),  # (5 + 3 + 4) / 3
        ("result_correct", "Correctness of the result", 5.0, 2),
        ("on_time", "On time", 5.0, 2),
        ("fees_as_announced", "Fees as announced", 4.5, 2),
    ),
)

EXPECTED_MONTHLY = (
    MonthlyPoint("2019-03", received=6, resolved=7, early=2, on_time=3, late=2),
    MonthlyPoint("2019-04", received=5, resolved=0, early=0, on_time=0, late=0),  # D6 received 04-01 00:30 local
)

# Agency A: D1 early, D2/D5/D12 on time, D3/D4 late; agency B: D13 early. (code, resolved, early, on_time,
# late, rate) per rank.
EXPECTED_AGENCY_RANKING = (("B", 1, 1, 0, 0, 100.0), ("A", 6, 1, 3, 2, 66.67))
