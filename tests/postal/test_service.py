"""Postal orders through the service: create, claim, operator events (out of order, replays), proof, COD."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.events import bus, subscribe
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from postal import service
from postal.events import ParcelEvent
from postal.models import ParcelKind, ParcelStatus, PostalEvent, PostalOrder
from postal.numbers import is_s10
from tests.factories import jpeg_bytes, png_bytes, zip_as_png
from tests.postal import postal_factories as pf

pytestmark = pytest.mark.db

S = ParcelStatus


@pytest.fixture()
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


@pytest.fixture()
def published() -> Iterator[list[ParcelEvent]]:
    """The ParcelEvents published during the test (the bus is restored after it)."""
    seen: list[ParcelEvent] = []
    state = bus.snapshot()

    @subscribe(ParcelEvent)
    def remember(session: Session, event: ParcelEvent) -> None:
        seen.append(event)

    try:
        yield seen
    finally:
        bus.restore(state)


def record(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    order: PostalOrder,
    report: service.TrackingReport,
    proof: service.Proof | None = None,
) -> service.Recorded:
    return service.record_event(
        session=session,
        settings=settings,
        storage=storage,
        operator=order.operator,
        order=order,
        report=report,
        proof=proof,
    )


# -- create, claim


def test_create_numbers_and_publishes(session: Session, settings: Settings, published: list[ParcelEvent]) -> None:
    a = pf.order(session, settings)
    b = pf.order(session, settings)
    assert a.number != b.number and a.number.startswith("BC")
    assert a.status == S.CREATED and a.operator == "vnpost" and a.province_code == "01"
    assert a.recipient["phone"] == "0912345678"
    assert [e.status for e in service.events_of(session, a.id)] == [S.CREATED]
    assert [(e.order_id, e.status, e.changed) for e in published] == [(a.id, S.CREATED, True), (b.id, S.CREATED, True)]
    assert service.orders_of(session, a.owner_id, owner_kind=pf.OWNER_KIND) == [a]
    assert service.orders_of(session, a.owner_id) == []
    assert service.order_by_number(session, a.number) is a
    with pytest.raises(NotFound):
        service.order_by_number(session, a.number, operator="another")


def test_create_refuses_bad_input(session: Session, settings: Settings) -> None:
    with pytest.raises(Invalid):
        pf.order(session, settings, applicant={**pf.APPLICANT, "ward": "14362"})  # ward of Ninh Bình
    with pytest.raises(Invalid):
        pf.order(session, settings, applicant={**pf.APPLICANT, "phone": "+33 1 23 45 67 89"})
    with pytest.raises(Invalid):
        pf.order(session, settings, weight_class="crate")
    with pytest.raises(Invalid):
        pf.order(session, settings, fee=-1)
    with pytest.raises(Invalid):
        pf.order(session, settings, kind=ParcelKind.PICKUP, cod_amount=50000)
    with pytest.raises(Invalid):
        pf.order(session, settings, province_code="37")  # not the applicant's province


def test_claim_issues_s10_and_second_claim_conflicts(
    session: Session, settings: Settings, published: list[ParcelEvent]
) -> None:
    order = pf.order(session, settings)
    service.claim(session=session, order=order, operator="vnpost", tracking_number=None)
    assert order.status == S.CLAIMED and order.claimed_at is not None
    assert order.tracking_number is not None and is_s10(order.tracking_number)
    assert published[-1].status == S.CLAIMED and published[-1].tracking_number == order.tracking_number
    with pytest.raises(Conflict):
        service.claim(session=session, order=order, operator="vnpost", tracking_number="EB123456785VN")
    assert order.tracking_number is not None and is_s10(order.tracking_number)
    other = pf.order(session, settings)
    with pytest.raises(NotFound):
        service.claim(session=session, order=other, operator="another", tracking_number=None)


def test_claim_with_own_tracking_number(session: Session, settings: Settings) -> None:
    a, b = pf.order(session, settings), pf.order(session, settings)
    service.claim(session=session, order=a, operator="vnpost", tracking_number=" eb123456785vn ")
    assert a.tracking_number == "EB123456785VN"
    with pytest.raises(Conflict):
        service.claim(session=session, order=b, operator="vnpost", tracking_number="EB123456785VN")
    with pytest.raises(Invalid):
        service.claim(session=session, order=b, operator="vnpost", tracking_number="no spaces allowed")
    assert b.status == S.CREATED


def test_cancel_and_change_only_while_created(
    session: Session, settings: Settings, published: list[ParcelEvent]
) -> None:
    order = pf.order(session, settings)
    moved = {**pf.APPLICANT, "province": "79", "ward": "27316", "street": "1 Nguyễn Huệ"}
    service.change_recipient(
        session=session, settings=settings, order=order, recipient=moved, province_code="79", fee=38000
    )
    assert order.recipient["province"] == "79" and order.province_code == "79" and order.fee == 38000
    with pytest.raises(Invalid):  # the province must be the address's
        service.change_recipient(
            session=session, settings=settings, order=order, recipient=moved, province_code="01", fee=38000
        )
    service.cancel(session=session, order=order, reason="Công dân đổi sang nhận trực tuyến", by="citizen")
    assert order.status == S.CANCELLED
    assert published[-1].status == S.CANCELLED and published[-1].reason
    with pytest.raises(Conflict):
        service.cancel(session=session, order=order, reason="again", by="citizen")
    claimed = pf.claimed(session, settings)
    with pytest.raises(Conflict):
        service.cancel(session=session, order=claimed, reason="late", by="citizen")
    with pytest.raises(Conflict):
        service.change_recipient(
            session=session, settings=settings, order=claimed, recipient=pf.APPLICANT, province_code="01", fee=1
        )


def test_change_of_a_pickup_changes_where_it_is_collected(session: Session, settings: Settings) -> None:
    order = pf.order(session, settings, kind=ParcelKind.PICKUP)
    moved = {**pf.APPLICANT, "street": "99 Hàng Bài"}
    service.change_recipient(
        session=session, settings=settings, order=order, recipient=moved, province_code="01", fee=1
    )
    assert order.sender["street"] == "99 Hàng Bài" and order.recipient["province"] == "37"


# -- operator events


def test_happy_path_with_proof(
    session: Session, settings: Settings, storage: LocalStorage, published: list[ParcelEvent]
) -> None:
    order = pf.claimed(session, settings, cod_amount=135000)
    t0 = utcnow() - timedelta(hours=3)
    for i, status in enumerate([S.PICKED_UP, S.IN_TRANSIT]):
        rec = record(session, settings, storage, order, pf.report(status, at=t0 + timedelta(hours=i)))
        assert rec.changed and not rec.replayed and order.status == status
    delivered_at = t0 + timedelta(hours=2)
    rec = record(
        session,
        settings,
        storage,
        order,
        pf.report(S.DELIVERED, at=delivered_at, cod_collected=135000),
        pf.proof(at=delivered_at, relation="family", recipient_name="Trần Văn Nam"),
    )
    assert rec.changed and order.status == S.DELIVERED and order.delivered_at == delivered_at
    proof = service.proof_of(session, order.id)
    assert proof is not None and proof.relation == "family" and proof.media_type == "image/jpeg"
    assert storage.get(proof.file_key)[:3] == b"\xff\xd8\xff"
    last = published[-1]
    assert (last.status, last.previous_status, last.cod_collected) == (S.DELIVERED, S.IN_TRANSIT, 135000)
    assert (last.recipient_name, last.relation) == ("Trần Văn Nam", "family")


def test_out_of_order_never_goes_backwards(
    session: Session, settings: Settings, storage: LocalStorage, published: list[ParcelEvent]
) -> None:
    order = pf.claimed(session, settings)
    t0 = utcnow() - timedelta(hours=5)
    record(session, settings, storage, order, pf.report(S.IN_TRANSIT, at=t0 + timedelta(hours=2), location="Hà Nội"))
    late = record(session, settings, storage, order, pf.report(S.PICKED_UP, at=t0))
    assert not late.changed and not late.event.applied and order.status == S.IN_TRANSIT
    assert published[-1].status == S.PICKED_UP and published[-1].changed is False
    # Same rank: an older transit event does not move it, a newer one does.
    older = record(session, settings, storage, order, pf.report(S.IN_TRANSIT, at=t0 + timedelta(hours=1)))
    assert not older.changed and order.status_at == t0 + timedelta(hours=2)
    newer = record(session, settings, storage, order, pf.report(S.DELIVERY_ATTEMPTED, at=t0 + timedelta(hours=3)))
    assert newer.changed and order.status == S.DELIVERY_ATTEMPTED and order.attempts == 1
    # The timeline is by event time, not by arrival.
    times = [e.occurred_at for e in service.events_of(session, order.id)]
    assert times == sorted(times)
    # A final status stays.
    record(session, settings, storage, order, pf.report(S.DELIVERED, at=t0 + timedelta(hours=4)), pf.proof())
    after = record(session, settings, storage, order, pf.report(S.IN_TRANSIT, at=t0 + timedelta(hours=4, minutes=5)))
    assert not after.changed and order.status == S.DELIVERED


def test_replay_and_conflicting_replay(
    session: Session, settings: Settings, storage: LocalStorage, published: list[ParcelEvent]
) -> None:
    order = pf.claimed(session, settings)
    at = utcnow() - timedelta(minutes=30)
    report = pf.report(S.PICKED_UP, at=at, event_id="vn-1", location="Bưu cục Ba Đình")
    first = record(session, settings, storage, order, report)
    count = len(published)
    again = record(session, settings, storage, order, report)
    assert again.replayed and not again.changed and again.event.id == first.event.id
    assert len(published) == count  # a replay is not published again
    with pytest.raises(Conflict):
        record(session, settings, storage, order, pf.report(S.IN_TRANSIT, at=at, event_id="vn-1"))
    other = pf.claimed(session, settings)
    with pytest.raises(Conflict):  # the same id on another order of the operator
        record(session, settings, storage, other, report)
    assert len([e for e in service.events_of(session, order.id) if e.event_id == "vn-1"]) == 1


def test_replay_of_delivered_with_proof(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings)
    report, proof = pf.report(S.DELIVERED), pf.proof()
    record(session, settings, storage, order, report, proof)
    assert record(session, settings, storage, order, report, proof).replayed
    with pytest.raises(Conflict):  # same id, another image
        record(session, settings, storage, order, report, pf.proof(content=png_bytes()))


def test_event_time_checks(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings)
    with pytest.raises(Invalid, match="future"):
        record(session, settings, storage, order, pf.report(S.PICKED_UP, at=utcnow() + timedelta(hours=1)))
    with pytest.raises(Invalid, match="before the order"):
        record(session, settings, storage, order, pf.report(S.PICKED_UP, at=order.created_at - timedelta(hours=1)))
    # A little clock skew is allowed.
    assert record(session, settings, storage, order, pf.report(S.PICKED_UP, at=utcnow() + timedelta(minutes=1))).changed


def test_status_and_operator_checks(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings)
    for status in ("created", "claimed", "cancelled", "lost"):
        with pytest.raises(Invalid):
            record(session, settings, storage, order, pf.report(status))
    with pytest.raises(NotFound):
        service.record_event(
            session=session,
            settings=settings,
            storage=storage,
            operator="another",
            order=order,
            report=pf.report(S.PICKED_UP),
        )
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.PICKED_UP, event_id="has space"))
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.DELIVERY_ATTEMPTED, reason="  "))
    unclaimed = pf.order(session, settings)
    with pytest.raises(Conflict):
        record(session, settings, storage, unclaimed, pf.report(S.PICKED_UP))
    assert [e.status for e in service.events_of(session, order.id)] == [S.CREATED, S.CLAIMED]


def test_delivered_needs_a_good_proof(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings)
    with pytest.raises(Invalid, match="needs proof"):
        record(session, settings, storage, order, pf.report(S.DELIVERED))
    with pytest.raises(Invalid, match="JPEG or PNG"):
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(content=zip_as_png()))
    with pytest.raises(Invalid, match="JPEG or PNG"):
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(content=b"%PDF-1.7 not an image"))
    with pytest.raises(Invalid):  # a JPEG cut short
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(content=jpeg_bytes()[:400]))
    small = settings.model_copy(update={"postal_proof_max_bytes": 1000})
    with pytest.raises(Invalid) as too_big:
        record(session, small, storage, order, pf.report(S.DELIVERED), pf.proof(content=jpeg_bytes((800, 600))))
    assert too_big.value.status_code == 413
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(recipient_name=" "))
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(relation="neighbour"))
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.IN_TRANSIT), pf.proof())
    assert order.status == S.CLAIMED and service.proof_of(session, order.id) is None
    rec = record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof(content=png_bytes()))
    assert rec.changed and service.proof_of(session, order.id).media_type == "image/png"  # type: ignore[union-attr]


def test_cod_amount_must_match(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings, cod_amount=135000)
    with pytest.raises(Invalid, match="differs"):
        record(session, settings, storage, order, pf.report(S.DELIVERED, cod_collected=130000), pf.proof())
    with pytest.raises(Invalid, match="required"):
        record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof())
    with pytest.raises(Invalid):
        record(session, settings, storage, order, pf.report(S.IN_TRANSIT, cod_collected=135000))
    plain = pf.claimed(session, settings)
    with pytest.raises(Invalid):
        record(session, settings, storage, plain, pf.report(S.DELIVERED, cod_collected=5000), pf.proof())
    assert record(session, settings, storage, plain, pf.report(S.DELIVERED, cod_collected=0), pf.proof()).changed
    assert order.status == S.CLAIMED


def test_failed_attempts_return_the_parcel(
    session: Session, settings: Settings, storage: LocalStorage, published: list[ParcelEvent]
) -> None:
    assert settings.postal_max_attempts == 3
    order = pf.claimed(session, settings)
    t0 = utcnow() - timedelta(hours=4)
    for i in range(2):
        record(session, settings, storage, order, pf.report(S.DELIVERY_ATTEMPTED, at=t0 + timedelta(hours=i)))
    assert order.status == S.DELIVERY_ATTEMPTED and order.attempts == 2
    record(session, settings, storage, order, pf.report(S.DELIVERY_ATTEMPTED, at=t0 + timedelta(hours=2)))
    assert order.status == S.RETURNED and order.attempts == 3
    assert [(e.status, e.previous_status, e.attempts) for e in published[-2:]] == [
        (S.DELIVERY_ATTEMPTED, S.DELIVERY_ATTEMPTED, 3),
        (S.RETURNED, S.DELIVERY_ATTEMPTED, 3),
    ]
    returned = [e for e in service.events_of(session, order.id) if e.status == S.RETURNED]
    assert len(returned) == 1 and returned[0].operator == service.PORTAL and returned[0].applied
    assert returned[0].reason == service.AUTO_RETURN_REASON.format(attempts=3)
    assert returned[0].occurred_at == order.status_at == t0 + timedelta(hours=2)
    late = record(session, settings, storage, order, pf.report(S.DELIVERED), pf.proof())
    assert not late.changed and order.status == S.RETURNED


def test_events_are_unique_per_operator(session: Session, settings: Settings, storage: LocalStorage) -> None:
    order = pf.claimed(session, settings)
    # Unique in the run: event ids are unique per operator, and tests that commit share the database.
    rec = record(session, settings, storage, order, pf.report(S.PICKED_UP, event_id=f"same-{order.number}"))
    stored = session.get(PostalEvent, rec.event.id)
    assert stored is not None and stored.content_hash and stored.operator == "vnpost"
