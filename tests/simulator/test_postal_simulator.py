"""The postal operator simulator: its decisions, its signature image, and orders carried to their end by the
command against the test app served over a socket (the real operator API: token, list, claim, events,
delivery with proof), idempotent when run again; the embedded thread of the development server."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from portal.kernel.db import writer
from portal.kernel.settings import get_settings
from portal.simulator.agent import Policy, next_action
from portal.simulator.embedded import EmbeddedPostalSimulator, EmbeddedSimulator, start_embedded
from portal.simulator.postal import (
    ATTEMPT_REASON,
    RELATION,
    PostalSimulator,
    Step,
    build_postal_simulators,
    event_id,
    next_step,
    signature_png,
)
from portal.simulator.postal_cli import postal
from postal import service
from postal.models import DeliveryProof, ParcelKind, PostalEvent, PostalOrder
from tests.simulator import test_simulator as simulator_tests

OWNER_KIND = "simtest"  # not a dossier: the dossier domain's reactions leave these orders alone
CENTRE = {
    "name": "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
    "phone": "02293871234",
    "province": "37",
    "ward": "13579",
    "street": "Số 1, đường Lê Hoàn",
}
APPLICANT = {
    "name": "Nguyễn Văn An",
    "phone": "0912345678",
    "province": "01",
    "ward": "00004",
    "street": "25 Phan Đình Phùng",
    "notes": "Gọi trước khi giao",
}
DELIVERY_STEPS = ["claim", "picked_up", "in_transit", "delivery_attempted", "delivered"]


# -- decisions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "attempts", "step"),
    [
        ("created", "delivery", 0, "claim"),
        ("claimed", "delivery", 0, "picked_up"),
        ("picked_up", "pickup", 0, "in_transit"),
        ("in_transit", "delivery", 0, "delivery_attempted"),
        ("in_transit", "delivery", 1, "delivered"),
        ("in_transit", "pickup", 0, "delivered"),  # no failed attempt on a pickup of originals
        ("delivery_attempted", "delivery", 1, "delivered"),
        ("delivered", "delivery", 1, None),
        ("returned", "delivery", 3, None),
        ("cancelled", "pickup", 0, None),
    ],
)
def test_next_step(status: str, kind: str, attempts: int, step: str | None) -> None:
    found = next_step({"status": status, "kind": kind, "attempts": attempts})
    assert (found.kind if found else None) == step


def test_no_failed_attempt_when_asked_and_the_simulators_own_count_wins() -> None:
    order = {"status": "in_transit", "kind": "delivery", "attempts": 0}
    assert next_step(order, fail_first=False) == Step("delivered")
    assert next_step(order, attempted=1) == Step("delivered")  # the portal's answer to the attempt was lost


@pytest.mark.parametrize(
    ("parcels", "kind"),
    [
        ([], "complete"),  # no postal order made: handed over by post as before
        ([{"kind": "pickup", "status": "delivered"}], "complete"),
        ([{"kind": "delivery", "status": "created"}], "wait"),  # the delivery with proof completes the dossier
        ([{"kind": "delivery", "status": "delivery_attempted"}], "wait"),
        ([{"kind": "delivery", "status": "returned"}], "hold"),  # back at the centre: for a person
        ([{"kind": "delivery", "status": "cancelled"}], "complete"),
    ],
)
def test_the_agency_leaves_a_result_going_by_post_to_the_postal_operator(parcels: list[Any], kind: str) -> None:
    dossier = {"code": "CAT-261207-0001", "status": "result_ready", "delivery_method": "post", "parcels": parcels}
    action = next_action(dossier, Policy(), date(2026, 12, 7))
    assert action.kind == kind
    if kind == "complete":
        assert action.args == {"handover": "post"}


def test_event_ids_are_one_per_order_and_step() -> None:
    order = {"number": "BP2612000017"}
    assert event_id(order, Step("picked_up")) == "sim-BP2612000017-picked_up"
    assert event_id(order, Step("delivery_attempted", attempt=1)) == "sim-BP2612000017-delivery_attempted-1"


def test_signature_is_a_small_png_that_differs_by_name() -> None:
    data = signature_png("Nguyễn Văn An")
    image = Image.open(io.BytesIO(data))
    image.verify()
    assert image.format == "PNG" and image.size == (160, 48)
    assert len(data) < 4096
    assert signature_png("Lê Thị Mai") != data


# -- against the served app ------------------------------------------------------------------------------


served = simulator_tests.served  # the test app served by uvicorn on a free port


def _order(app: Any, settings: Any, *, kind: ParcelKind = ParcelKind.DELIVERY, cod: int = 0) -> PostalOrder:
    """A new order for vnpost (the one pull operator of the test settings), committed."""
    reference = f"SIM-{time.monotonic_ns() % 10**9:09d}"
    delivery = kind is ParcelKind.DELIVERY
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        order = service.create_order(
            session=s,
            settings=settings,
            kind=kind,
            owner_id=reference.lower().replace("-", ""),
            owner_kind=OWNER_KIND,
            reference=reference,
            sender=CENTRE if delivery else APPLICANT,
            recipient=APPLICANT if delivery else CENTRE,
            province_code=APPLICANT["province"],
            contents=[{"id": "ket_qua", "name_vi": "Giấy phép lái xe", "name_en": "Driving licence"}],
            weight_class="document",
            fee=30000,
            cod_amount=cod,
        )
        s.commit()
        return order


def _reload(app: Any, number: str) -> tuple[PostalOrder, list[PostalEvent], DeliveryProof | None]:
    with Session(app.state.engine) as s:
        order = s.exec(select(PostalOrder).where(PostalOrder.number == number)).one()
        events = list(s.exec(select(PostalEvent).where(PostalEvent.order_id == order.id)))
        return order, events, s.get(DeliveryProof, order.id)


def _env(settings: Any) -> dict[str, str]:
    # The command reads the process-wide settings (cached): the next read takes this environment.
    get_settings.cache_clear()
    return {
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_STORAGE_DIR": str(settings.storage_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_BASE_URL": settings.base_url,
    }


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()  # not the commands' environment for the tests after these


@pytest.mark.db
def test_simulate_command_claims_and_delivers_with_proof_then_does_nothing_again(app, settings, served: str) -> None:
    delivery = _order(app, settings, cod=135000)
    pickup = _order(app, settings, kind=ParcelKind.PICKUP)
    args = ["simulate", "--once", "--operator", "vnpost", "--base-url", served]
    args += ["--order", delivery.number, "--order", pickup.reference]  # by number or by dossier code
    result = CliRunner().invoke(postal, args, env=_env(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if delivery.number in line] == [
        f"vnpost {delivery.number} {step}" for step in DELIVERY_STEPS
    ]
    assert [line for line in lines if pickup.number in line] == [
        f"vnpost {pickup.number} {step}" for step in ("claim", "picked_up", "in_transit", "delivered")
    ]

    order, events, proof = _reload(app, delivery.number)
    assert order.status == "delivered" and order.tracking_number and order.attempts == 1
    assert [e.status for e in sorted(events, key=lambda e: e.occurred_at)][-4:] == DELIVERY_STEPS[1:]
    [attempt] = [e for e in events if e.status == "delivery_attempted"]
    assert attempt.reason == ATTEMPT_REASON
    [delivered] = [e for e in events if e.status == "delivered"]
    assert delivered.cod_collected == 135000
    assert proof is not None
    assert proof.recipient_name == APPLICANT["name"] and proof.relation == RELATION
    assert proof.media_type == "image/png" and proof.delivered_at == order.delivered_at
    assert _reload(app, pickup.number)[0].status == "delivered"

    # Run again: the orders are delivered, nothing is sent, nothing changes.
    again = CliRunner().invoke(postal, args, env=_env(settings), catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert len(_reload(app, delivery.number)[1]) == len(events)


def test_the_command_refuses_half_given_credentials(settings) -> None:
    refused = CliRunner().invoke(postal, ["simulate", "--once", "--client-id", "x"], env=_env(settings))
    assert refused.exit_code == 2 and "--client-id needs --client-secret and exactly one --operator" in refused.output


@pytest.mark.db
def test_an_event_whose_answer_is_lost_is_sent_again_as_it_was(app, settings) -> None:
    """The portal records "picked up" and the answer never comes back: the same event (id, time) is sent again
    and answered as a replay; the order goes on to be delivered, with one event per step."""
    import httpx

    order = _order(app, settings)
    http = TestClient(app)
    [simulator] = build_postal_simulators(http, settings, app.state.engine, operators=["vnpost"])
    simulator.only = lambda o: o.get("number") == order.number
    sent: list[tuple[str, bytes]] = []
    real_request = http.request

    def lossy(method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = real_request(method, url, **kwargs)
        if method == "POST" and str(url).endswith("/events"):
            sent.append((str(url), response.request.content if response.request else b""))
            if len(sent) == 1:
                raise httpx.ReadError("connection reset")
        return response

    http.request = lossy  # type: ignore[method-assign]
    report = simulator.run_once()
    assert not report.errors, report.errors
    assert [step for _, step in report.done] == DELIVERY_STEPS
    assert sent[0] == sent[1]  # the same event, byte for byte
    final, events, proof = _reload(app, order.number)
    assert final.status == "delivered" and proof is not None
    assert [e.status for e in events].count("picked_up") == 1


@pytest.mark.db
def test_a_pace_moves_one_step_per_order_per_pace(app, settings) -> None:
    order = _order(app, settings)
    http = TestClient(app)
    [simulator] = build_postal_simulators(http, settings, app.state.engine, operators=["vnpost"], pace_seconds=0.3)
    simulator.only = lambda o: o.get("number") == order.number
    assert [s for _, s in simulator.run_once().done] == ["claim"]
    assert simulator.run_once().done == []  # not yet
    assert order.number in simulator.following
    report = simulator.run_until_idle(timeout=60)
    assert [s for _, s in report.done] == DELIVERY_STEPS[1:]
    assert not report.errors and not simulator.following
    assert _reload(app, order.number)[0].status == "delivered"


@pytest.mark.db
def test_a_claim_answered_409_is_taken_as_news(app, settings) -> None:
    """Between the simulator's list and its claim, another client of the operator claims the order: the 409
    makes it read the order again and carry it on from where it is."""
    order = _order(app, settings)
    http = TestClient(app)
    [simulator] = build_postal_simulators(http, settings, app.state.engine, operators=["vnpost"])
    simulator.only = lambda o: o.get("number") == order.number
    listed = simulator.open_orders()
    simulator.open_orders = lambda: listed  # type: ignore[method-assign]  # the list read before the other claim
    other = PostalSimulator(simulator.api, operator="vnpost")
    other.api.claim(order.number)
    report = simulator.run_once()
    assert not report.errors, report.errors
    assert [s for _, s in report.done] == DELIVERY_STEPS[1:]


def test_embedded_postal_only_in_development(settings) -> None:
    assert start_embedded(settings, None) is None  # type: ignore[arg-type]  # a test environment


@pytest.mark.db
def test_embedded_postal_simulator_delivers_on_the_served_portal(app, settings, served: str) -> None:
    order = _order(app, settings, cod=50000)
    embedded = EmbeddedPostalSimulator(
        settings.model_copy(update={"base_url": served}),
        app.state.engine,
        pace_seconds=0.1,
        poll_seconds=0.2,
        only=lambda o: o.get("number") == order.number,
    )
    outer = EmbeddedSimulator(
        settings.model_copy(update={"base_url": served}),
        app.state.engine,
        poll_seconds=0.2,
        only=lambda c: False,  # the back-office side plays nothing here
        postal=embedded,
    )
    outer.start()
    try:
        deadline = time.monotonic() + 60
        while _reload(app, order.number)[0].status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        outer.stop()
    final, _, proof = _reload(app, order.number)
    assert final.status == "delivered" and proof is not None
    assert not embedded.thread.is_alive() and not outer.thread.is_alive()
    assert [s.operator for s in embedded.simulators] == ["vnpost"]
