"""Statistics of linked applications (issue 15, point 5): each child counts once for its own agency and member
procedure, the parent (the citizen's one application) never; a member waiting for another's result counts only
once released; the one payment made on the parent counts for each child by its member's lines, a refund for its
agency's child. The daily roll-up gives the same numbers as the live count, and stays current when a child is
created or released after its day was built.

March 2018, local times, one fresh field (tests/linked_factories.py):

| dossier | received | official | result | end | notes |
| --- | --- | --- | --- | --- | --- |
| P1 parent (R) | 03-05 | 03-06 | 03-12 (late) | completed 03-13, post | rated; paid 150 000 (A 100 000, B 50 000) |
| A1 (agency A) | 03-05 | 03-09 | 03-07 (early) | completed 03-08 | rated (the parent's rating copied) |
| B1 (agency B) | 03-08 |  |  | rejected 03-10 | waited 03-04..03-07; B's 50 000 refunded 03-20 |
| P2 parent (R) | 03-15 | 03-20 |  | in process | would be overdue now |
| A2 (agency A) | 03-15 | 2030 |  | in process |  |
| B2 (agency B) | (03-15 copied) |  |  | waiting | not filed yet: never counted |
| B3 (agency B) |  |  |  | rejected 03-16 while waiting | never filed: not counted |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.dossiers import deadline
from portal.dossiers.models import Dossier, DossierEventKind, DossierRating, DossierStatus
from portal.kernel.calendar import TZ, local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.stats import query as stats
from portal.stats import rollup
from portal.stats.figures import StatsQuery, StatsQueryError, StatsResult
from tests import lifecycle_factories
from tests import linked_factories as lf
from tests.stats.dataset import ALL5

pytestmark = pytest.mark.db

FIRST, LAST = date(2018, 3, 1), date(2018, 3, 31)
DAYS = [FIRST - timedelta(days=2) + timedelta(days=i) for i in range((LAST - FIRST).days + 5)]
TODAY = date(2026, 6, 15)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2018, 3, day, hour, 0, tzinfo=TZ).astimezone(UTC)


@dataclass
class Scene:
    cat: lf.Linked
    p1: Dossier
    a1: Dossier
    b1: Dossier
    p2: Dossier
    b2: Dossier


def lines(cat: lf.Linked) -> list[dict[str, Any]]:
    return [
        {"code": "fee-1", "name_vi": "Lệ phí A", "name_en": "Fee A", "amount": 100_000}
        | {"agency_code": cat.agency_a, "member": cat.member_a},
        {"code": "fee-2", "name_vi": "Lệ phí B", "name_en": "Fee B", "amount": 50_000}
        | {"agency_code": cat.agency_b, "member": cat.member_b},
    ]


def pay(session: Session, cat: lf.Linked, parent: Dossier, when: datetime, amount: int = 150_000) -> Payment:
    return cat.add(
        session,
        Payment(
            reference=f"LT{cat.suffix}{when:%d%H}{amount}"[:32],
            order_id=parent.id,
            account_id=parent.applicant_id,
            agency_code=parent.agency_code,
            gateway="sandbox",
            amount=amount,
            description=f"Lệ phí {parent.code}",
            lines=lines(cat),
            idempotency_key=f"{cat.suffix}-{when.isoformat()}",
            status=PaymentStatus.SUCCEEDED,
            created_at=when,
            updated_at=when,
            expires_at=when + timedelta(minutes=15),
            settled_at=when,
        ),
    )


def build(session: Session) -> Scene:
    cat = lf.catalogue(session)
    done, in_process = DossierStatus.COMPLETED, DossierStatus.IN_PROCESS
    p1 = lf.parent(
        session,
        cat,
        submitted_at=at(4),
        received_at=at(5),
        official_due_date=date(2018, 3, 6),
        due_date=date(2018, 3, 6),
        result_ready_at=at(12),
        completed_at=at(13),
        status=done,
        timeliness="late",
        handover="post",
    )
    payment = pay(session, cat, p1, at(4))
    cat.add(session, DossierRating(dossier_id=p1.id, account_id=p1.applicant_id, scores=ALL5, at=at(14)))
    a1 = lf.child(
        session,
        cat,
        p1,
        cat.member_a,
        received_at=at(5, 10),
        official_due_date=date(2018, 3, 9),
        due_date=date(2018, 3, 9),
        result_ready_at=at(7),
        completed_at=at(8),
        status=done,
        timeliness="early",
        handover="online",
    )
    cat.add(session, DossierRating(dossier_id=a1.id, account_id=a1.applicant_id, scores=ALL5, at=at(14)))
    b1 = lf.child(session, cat, p1, cat.member_b, status=DossierStatus.WAITING)
    lf.release(session, cat, b1)
    b1.received_at, b1.status = at(8), DossierStatus.REJECTED
    lf.event(session, cat, b1, DossierEventKind.REJECTED, at=at(10))
    cat.add(
        session,
        Refund(
            payment_id=payment.id,
            amount=50_000,
            reason="rejected",
            agency_code=cat.agency_b,
            status=RefundStatus.SUCCEEDED,
            settled_at=at(20),
        ),
    )
    p2 = lf.parent(
        session,
        cat,
        submitted_at=at(15, 8),
        received_at=at(15),
        official_due_date=date(2018, 3, 20),
        status=in_process,
    )
    lf.child(session, cat, p2, cat.member_a, received_at=at(15), official_due_date=date(2030, 1, 2), status=in_process)
    b2 = lf.child(session, cat, p2, cat.member_b, status=DossierStatus.WAITING, received_at=at(15))
    b3 = lf.child(session, cat, p2, cat.member_b, status=DossierStatus.WAITING)
    b3.status = DossierStatus.REJECTED
    lf.event(session, cat, b3, DossierEventKind.REJECTED, at=at(16))
    session.flush()
    return Scene(cat, p1, a1, b1, p2, b2)


@pytest.fixture()
def scene(session: Session) -> Scene:
    return build(session)


def compute(session: Session, **filters: str) -> StatsResult:
    return stats.compute(session, StatsQuery(date_from=FIRST, date_to=LAST, **filters), today=TODAY)


def test_each_child_counts_once_for_its_agency_and_the_parent_never(session: Session, scene: Scene) -> None:
    cat = scene.cat
    f = compute(session, field=cat.field_vi).figures
    assert (f.received, f.received_online, f.received_counter) == (3, 3, 0)  # A1, B1, A2
    assert (f.resolved, f.early, f.on_time, f.late) == (1, 1, 0, 0)  # A1 only (the parent was late)
    assert (f.rejected, f.withdrawn) == (1, 0)  # B1 (B3 was rejected before it was ever filed)
    assert (f.in_process, f.overdue_now) == (1, 0)  # A2 (the parent P2 would be both)
    assert f.returned_by_post == 0  # the parent's hand-over by post is not a dossier's
    assert (f.fees_paid, f.fees_refunded, f.fees_collected) == (150_000, 50_000, 100_000)
    assert f.ratings == 1  # the child's copy of the one rating, not the parent's
    a = compute(session, agency=cat.agency_a).figures
    assert (a.received, a.resolved, a.early, a.in_process, a.fees_paid, a.fees_refunded, a.ratings) == (
        2,
        1,
        1,
        1,
        100_000,
        0,
        1,
    )
    b = compute(session, agency=cat.agency_b).figures
    assert (b.received, b.resolved, b.rejected, b.fees_paid, b.fees_refunded, b.ratings) == (1, 0, 1, 50_000, 50_000, 0)
    r = compute(session, agency=cat.receiving).figures
    assert (r.received, r.resolved, r.late, r.in_process, r.overdue_now, r.fees_paid, r.ratings, r.rejected) == (
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    result = compute(session, field=cat.field_vi)
    assert [row.code for row in result.agencies] == [cat.agency_a]
    assert [row.code for row in result.procedures] == [cat.member_a]
    assert compute(session, procedure=cat.member_b).figures.received == 1


def test_the_rollup_gives_the_live_numbers(session: Session, scene: Scene) -> None:
    cat = scene.cat
    filters: list[dict[str, str]] = [
        {"field": cat.field_vi},
        {"agency": cat.agency_a},
        {"agency": cat.agency_b},
        {"agency": cat.receiving},
        {"procedure": cat.member_b},
    ]
    live = [compute(session, **f) for f in filters]
    for day in DAYS:
        rollup.build_day(session, day)
    assert rollup.built_days(session, FIRST, LAST) == {d for d in DAYS if FIRST <= d <= LAST}
    rolled = [compute(session, **f) for f in filters]
    for before, after in zip(live, rolled, strict=True):
        assert after.figures == before.figures
        assert (after.monthly, after.agencies, after.procedures) == (before.monthly, before.agencies, before.procedures)


def test_a_child_created_after_its_payment_day_was_built_counts_its_share(session: Session) -> None:
    cat = lf.catalogue(session)
    parent = lf.parent(session, cat, submitted_at=at(4), received_at=at(4))
    pay(session, cat, parent, at(3), amount=120_000)  # a reduction of 20 %: shared in proportion
    for day in DAYS:
        rollup.build_day(session, day)
    assert compute(session, field=cat.field_vi).figures.fees_paid == 0  # the parent's: no member yet
    lf.child(session, cat, parent, cat.member_a)
    session.flush()  # marks the day of the parent's payment
    assert date(2018, 3, 3) not in rollup.built_days(session, FIRST, LAST)
    assert compute(session, field=cat.field_vi).figures.fees_paid == 80_000
    lf.child(session, cat, parent, cat.member_b, status=DossierStatus.WAITING)
    session.flush()
    live = compute(session, field=cat.field_vi).figures
    assert (live.fees_paid, compute(session, agency=cat.agency_b).figures.fees_paid) == (120_000, 40_000)
    for day in DAYS:
        rollup.build_day(session, day)
    assert compute(session, field=cat.field_vi).figures == live


def test_a_waiting_member_counts_once_released_even_on_a_built_day(session: Session) -> None:
    cat = lf.catalogue(session)
    parent = lf.parent(session, cat, submitted_at=at(4))
    waiting = lf.child(session, cat, parent, cat.member_b, status=DossierStatus.WAITING, received_at=at(5))
    for day in DAYS:
        rollup.build_day(session, day)
    assert compute(session, agency=cat.agency_b).figures.received == 0
    lf.release(session, cat, waiting)
    session.flush()
    assert date(2018, 3, 5) not in rollup.built_days(session, FIRST, LAST)
    assert compute(session, agency=cat.agency_b).figures.received == 1
    for day in DAYS:
        rollup.build_day(session, day)
    assert compute(session, agency=cat.agency_b).figures.received == 1


def test_the_share_of_a_linked_bill() -> None:
    cat = lf.Linked("X", "R", "A", "B", "LT", "PA", "PB", "field", applicant=None)  # type: ignore[arg-type]
    bill = lines(cat)
    assert rollup.allocate(150_000, bill) == {"member:PA": 100_000, "member:PB": 50_000}
    assert rollup.allocate(100_001, bill) == {"member:PA": 66_667 + 1, "member:PB": 33_333}  # rounding: to the first
    postal = [*bill, {"code": "postal", "name_vi": "Cước", "name_en": "Postage", "amount": 30_000}]
    assert sum(rollup.allocate(180_000, postal).values()) == 180_000  # a charge of no member is spread
    assert rollup.share_of(150_000, bill, "PB", "B") == 50_000
    assert rollup.share_of(150_000, bill, "PC", "C") == 0
    by_agency = [{k: v for k, v in line.items() if k != "member"} for line in bill]  # lines naming only the agency
    assert rollup.share_of(150_000, by_agency, "PA", "A") == 100_000
    assert rollup.refund_share(50_000, "B", bill, "PB", "B") == 50_000
    assert rollup.refund_share(50_000, "B", bill, "PA", "A") == 0
    assert rollup.refund_share(30_000, None, bill, "PA", "A") == 20_000
    assert rollup.allocate(10, [{"amount": "x"}, {"amount": True}]) == {}


def test_a_linked_procedure_is_not_a_statistics_filter(session: Session, scene: Scene) -> None:
    cat = scene.cat
    with pytest.raises(StatsQueryError) as refused:
        stats.parse_query(session, {"procedure": cat.linked}, today=TODAY)
    assert refused.value.param == "procedure"
    assert "linked application" in refused.value.message
    codes = {choice.value for choice in stats.choices(session).procedures}
    assert cat.member_a in codes and cat.linked not in codes


def test_public_stats_and_api_count_children_only(app, client: TestClient) -> None:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        scene = build(s)
        s.commit()
    cat = scene.cat
    try:
        params = {"from": FIRST.isoformat(), "to": LAST.isoformat(), "field": cat.field_vi}
        body = client.get("/api/stats", params=params).json()
        assert (body["figures"]["received"], body["figures"]["fees_paid"], body["figures"]["ratings"]) == (
            3,
            150_000,
            1,
        )
        r = client.get("/api/stats", params={**params, "procedure": cat.linked})
        assert r.status_code == 422, r.text
        assert "linked application" in r.text
        page = client.get("/stats", params={**params, "procedure": cat.linked})
        assert page.status_code == 422
        assert "là thủ tục liên thông" in page.text  # the page speaks Vietnamese first
        page = client.get("/stats", params=params)
        assert page.status_code == 200
        assert cat.linked not in page.text  # not offered as a filter
    finally:
        with Session(writer(app.state.engine)) as s:
            for row in reversed(scene.cat.rows):
                s.delete(s.merge(row))
                s.flush()
            s.commit()


def test_the_overdue_sweep_and_lateness_figures_never_count_the_parent(session: Session) -> None:
    cat = lf.catalogue(session)
    today = local_date(utcnow())
    past = today - timedelta(days=3)
    running = DossierStatus.IN_PROCESS
    parent = lf.parent(session, cat, received_at=at(15), official_due_date=past, status=running)
    late = lf.child(session, cat, parent, cat.member_a, received_at=at(15), official_due_date=past, status=running)
    marked = deadline.sweep_overdue(session)
    assert late in marked and parent not in marked  # the member's agency is told; the parent is no agency's
    assert "dossier.overdue" not in lifecycle_factories.push_types(session, parent)
    figures = {
        code: stats.compute(session, StatsQuery(date_from=FIRST, date_to=LAST, agency=code), today=today).figures
        for code in (cat.agency_a, cat.receiving)
    }
    assert (figures[cat.agency_a].overdue_now, figures[cat.receiving].overdue_now) == (1, 0)
    assert stats.compute(session, StatsQuery(FIRST, LAST, field=cat.field_vi), today=today).figures.overdue_now == 1
