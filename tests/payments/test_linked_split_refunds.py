"""Refunds of one member of a linked application, told apart by `Refund.member` even when two members are one
agency's: what each member still keeps, the statistics of each member procedure, and the agency's own refund of
its member's fee (`billing.refund_member_by_agency`: within what the member paid).

Rows written directly in the rolled-back `session` (tests/payments/test_linked_split.py's application, member C
being agency B's here).
"""

from __future__ import annotations

import pytest
from sqlmodel import Session

from payments import service as payments
from payments.models import Refund
from portal.dossiers import billing
from portal.kernel.errors import Conflict
from portal.kernel.settings import Settings
from portal.stats import query as stats
from portal.stats import rollup
from portal.stats.figures import StatsQuery
from tests.payments.test_linked_split import linked_application, paid, settle, today

pytestmark = pytest.mark.db


def test_two_members_of_one_agency_are_refunded_and_counted_apart(session: Session, settings: Settings) -> None:
    app = linked_application(session, c_of_b=True, c_refundable=True)
    assert app.agency_c == app.agency_b
    payment = paid(session, app, settings)
    child_b, child_c = app.children[app.member_b], app.children[app.member_c]
    assert billing.paid_towards(session, child_b) == 25_000 and billing.paid_towards(session, child_c) == 15_000

    [refund] = billing.refund_member(session, child_c, "rejected")
    assert (refund.agency_code, refund.member, refund.amount) == (app.agency_b, app.member_c, 15_000)
    assert session.get(Refund, refund.id).member == app.member_c  # type: ignore[union-attr]
    assert payments.member_refunds(session, payment, app.member_c) == [refund]
    assert payments.member_refunds(session, payment, app.member_b) == []
    settle(session, [refund])
    # Member B of the same agency still keeps its fee, and can still be refunded all of it.
    assert billing.paid_towards(session, child_b) == 25_000 and billing.paid_towards(session, child_c) == 0
    assert [left for _, left in billing.member_left(session, child_b)] == [25_000]
    assert [left for _, left in billing.member_left(session, child_c)] == [0]

    # The statistics count the refund for member C's procedure, not for B's (the first of the agency's bill).
    def refunded(procedure: str) -> int:
        query = StatsQuery(date_from=today(), date_to=today(), procedure=procedure)
        return stats.compute(session, query, today=today()).figures.fees_refunded

    assert (refunded(app.member_c), refunded(app.member_b)) == (15_000, 0)
    lines = payment.lines
    assert rollup.refund_share(15_000, app.agency_b, lines, app.member_c, app.agency_b, app.member_c) == 15_000
    assert rollup.refund_share(15_000, app.agency_b, lines, app.member_b, app.agency_b, app.member_c) == 0
    assert rollup.refund_share(15_000, app.agency_b, lines, app.member_b, app.agency_b) == 15_000  # no member: first


def test_the_agency_refunds_its_members_fee_within_what_it_paid(session: Session, settings: Settings) -> None:
    app = linked_application(session, c_of_b=True)
    payment = paid(session, app, settings)
    child_b, child_c = app.children[app.member_b], app.children[app.member_c]
    with pytest.raises(Conflict) as too_much:
        billing.refund_member_by_agency(session, child_b, amount=25_001)
    assert "can still be refunded" in too_much.value.msgid
    assert too_much.value.params == {"left": "25.000\u00a0đồng", "amount": "25.001\u00a0đồng"}
    [part] = billing.refund_member_by_agency(session, child_b, amount=5_000)
    assert (part.amount, part.reason, part.agency_code, part.member) == (5_000, "agency", app.agency_b, app.member_b)
    [rest] = billing.refund_member_by_agency(session, child_b)
    assert rest.amount == 20_000
    with pytest.raises(Conflict) as nothing:
        billing.refund_member_by_agency(session, child_b)
    assert nothing.value.msgid == "Nothing paid for this procedure is left to refund."
    # Member C's procedure is not refundable by rule, but its agency may give its fee back; member A's stays.
    [c] = billing.refund_member_by_agency(session, child_c)
    assert (c.amount, c.member) == (15_000, app.member_c)
    assert payments.kept_amount(session, app.parent.id) == 8_000
    assert payment.amount == 48_000
