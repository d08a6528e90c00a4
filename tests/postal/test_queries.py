"""The operators' listing of open orders: filters and a stable keyset cursor."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session

from portal.kernel.errors import Invalid
from portal.kernel.settings import Settings
from postal import service
from postal.models import ParcelKind, ParcelStatus, PostalOrder
from postal.queries import decode_cursor, encode_cursor, open_orders
from tests.postal import postal_factories as pf

pytestmark = pytest.mark.db


@pytest.fixture()
def own(settings: Settings) -> Settings:
    """Settings with an operator of the test's own (other tests' committed orders are not in its listing)."""
    operator = f"op-{secrets.token_hex(4)}"
    return settings.model_copy(update={"postal_operators": {operator: {"plugin": "pull", "provinces": ["*"]}}})


def operator_of(settings: Settings) -> str:
    return next(iter(settings.postal_operators))


def test_pages_are_stable(session: Session, own: Settings) -> None:
    op = operator_of(own)
    orders = [pf.order(session, own, age=timedelta(minutes=10 - i)) for i in range(5)]
    first = open_orders(session, operator=op, limit=2)
    assert first.orders == orders[:2] and first.next_cursor
    # An order created meanwhile goes at the end; nothing is skipped or repeated.
    newest = pf.order(session, own, age=timedelta(0))
    second = open_orders(session, operator=op, cursor=first.next_cursor, limit=2)
    third = open_orders(session, operator=op, cursor=second.next_cursor, limit=2)
    assert second.orders == orders[2:4]
    assert third.orders == [orders[4], newest] and third.next_cursor is None


def test_listed_in_the_order_of_their_numbers(session: Session, own: Settings) -> None:
    """The keyset is the number (given in commit order), not the creation time an order was stamped with."""
    op = operator_of(own)
    orders = [pf.order(session, own, age=timedelta(minutes=m)) for m in (1, 30, 5)]
    seen: list[PostalOrder] = []
    cursor = None
    while True:
        page = open_orders(session, operator=op, cursor=cursor, limit=1)
        seen += page.orders
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == orders == sorted(orders, key=lambda o: o.number)


def test_filters(session: Session, own: Settings) -> None:
    op = operator_of(own)
    delivery = pf.order(session, own)
    pickup = pf.order(session, own, kind=ParcelKind.PICKUP)
    saigon = pf.order(session, own, applicant={**pf.APPLICANT, "province": "79", "ward": "27316"})
    claimed = pf.claimed(session, own)
    cancelled = pf.order(session, own)
    service.cancel(session=session, order=cancelled, reason="test", by="test")
    everything = open_orders(session, operator=op).orders
    assert cancelled not in everything and len(everything) == 4
    assert open_orders(session, operator=op, kind="pickup").orders == [pickup]
    assert open_orders(session, operator=op, status="claimed").orders == [claimed]
    assert open_orders(session, operator=op, status="cancelled").orders == [cancelled]
    assert open_orders(session, operator=op, province="79").orders == [saigon]
    assert delivery in open_orders(session, operator=op, kind="delivery", status=ParcelStatus.CREATED).orders
    assert open_orders(session, operator="nobody").orders == []


def test_bad_cursor_and_filters(session: Session, own: Settings) -> None:
    op = operator_of(own)
    for cursor in ("!!", "bm90IGpzb24", encode_cursor(pf.order(session, own))[:-3]):
        with pytest.raises(Invalid):
            open_orders(session, operator=op, cursor=cursor)
    with pytest.raises(Invalid):
        open_orders(session, operator=op, kind="crate")
    with pytest.raises(Invalid):
        open_orders(session, operator=op, status="lost")
    for limit in (0, 201):
        with pytest.raises(Invalid):
            open_orders(session, operator=op, limit=limit)


def test_cursor_round_trip(session: Session, own: Settings) -> None:
    order = pf.order(session, own)
    assert decode_cursor(encode_cursor(order)) == order.number
    start = PostalOrder(number="", kind="", operator="", owner_id="", reference="", province_code="", weight_class="")
    assert open_orders(session, operator=operator_of(own), cursor=encode_cursor(start)).orders == [order]
