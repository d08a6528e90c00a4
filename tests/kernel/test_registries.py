"""Every kernel registry registers, refuses a second owner, names what it does not know, and can be reset.

Each test builds a fresh registry of its kind; the last ones check that ``isolated()`` on the application's
own registries forgets what a test registered and restores what the application had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine, select

import portal.wiring  # noqa: F401  (the application's registrations)
from payments.events import PaymentSucceeded
from portal.kernel import documents, events, outbox
from portal.kernel.documents import DocumentLookups, IssuedDocument
from portal.kernel.events import EventBus
from portal.kernel.hooks import Provided
from portal.kernel.outbox import OutboxMessage, OutboxPayload, OutboxRegistry, WorkerContext, drain, enqueue
from portal.kernel.plugins import Registry
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.notifications.channels import registry as notifiers

# --------------------------------------------------------------------------- plugins


class WidgetOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = 1


class Widget:
    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = WidgetOptions

    def __init__(self, options: WidgetOptions) -> None:
        self.options = options


class OtherWidget(Widget):
    pass


def test_plugin_registry_registers_refuses_duplicates_and_unknown_ids() -> None:
    widgets: Registry[Widget] = Registry("widget")
    assert widgets.ids() == ()
    widgets.register("small")(Widget)
    widgets.register("small")(Widget)  # the same class again (a module imported twice) is harmless
    assert widgets.ids() == ("small",) and Widget.id == "small"
    assert widgets.create("small", {"size": 3}).options.size == 3
    with pytest.raises(ValueError, match="two widgets registered as 'small'"):
        widgets.register("small")(OtherWidget)
    with pytest.raises(ValueError, match=r"unknown widget 'big' \(known: small\)"):
        widgets.create("big")
    with pytest.raises(ValueError):
        widgets.validate_id("big")
    with pytest.raises(ValidationError):
        widgets.create("small", {"colour": "red"})

    widgets.reset()
    assert widgets.ids() == ()
    with pytest.raises(ValueError, match="unknown widget"):
        widgets.plugin_class("small")


def test_plugin_registry_isolated_forgets_what_was_registered_inside() -> None:
    widgets: Registry[Widget] = Registry("widget")
    widgets.register("small")(Widget)
    with widgets.isolated(empty=True) as fresh:
        assert fresh is widgets and widgets.ids() == ()
        widgets.register("small")(OtherWidget)  # no clash with the saved registration
        assert widgets.plugin_class("small") is OtherWidget
    assert widgets.ids() == ("small",) and widgets.plugin_class("small") is Widget


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Happened:
    what: str


@dataclass(frozen=True)
class HappenedAgain(Happened):
    pass


@dataclass(frozen=True)
class Ignored:
    pass


def test_event_bus_dispatches_by_event_class() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []

    @bus.subscribe(Happened)
    def first(session: Session, event: Happened) -> None:
        seen.append(("first", event.what))

    bus.subscribe(Happened)(first)  # subscribing twice still calls it once

    @bus.subscribe(HappenedAgain)
    def again(session: Session, event: HappenedAgain) -> None:
        seen.append(("again", event.what))

    session = Session()
    bus.publish(session, Happened("a"))
    bus.publish(session, Ignored())  # nobody subscribed: nothing happens
    bus.publish(session, HappenedAgain("b"))  # its own subscribers first, then those of its base class
    assert seen == [("first", "a"), ("again", "b"), ("first", "b")]

    bus.reset()
    bus.publish(session, Happened("c"))
    assert seen[-1] == ("first", "b") and bus.subscribers(Happened) == []


def test_event_bus_subscriber_errors_reach_the_publisher() -> None:
    bus = EventBus()

    @bus.subscribe(Happened)
    def refuse(session: Session, event: Happened) -> None:
        raise RuntimeError(f"refused {event.what}")

    with pytest.raises(RuntimeError, match="refused x"):  # so the caller's transaction rolls back
        bus.publish(Session(), Happened("x"))


def test_event_bus_isolated_restores_subscribers() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(Happened)(lambda session, event: seen.append("kept"))
    with bus.isolated(empty=True):
        bus.subscribe(Happened)(lambda session, event: seen.append("temporary"))
        bus.publish(Session(), Happened("a"))
    bus.publish(Session(), Happened("b"))
    assert seen == ["temporary", "kept"]


# --------------------------------------------------------------------------- outbox handlers and periodic jobs


class Ping(OutboxPayload):
    topic: ClassVar[str] = "test.ping"

    n: int


class PingAgain(OutboxPayload):
    topic: ClassVar[str] = "test.ping"

    n: int


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        secret_key="k" * 48,
        database_url="sqlite://",
        storage_dir=tmp_path / "files",
        _env_file=None,  # type: ignore[call-arg]
    )


def test_outbox_registry_validates_payloads_and_refuses_a_second_handler(tmp_path: Path) -> None:
    registry = OutboxRegistry()
    ctx = WorkerContext(settings=_settings(tmp_path), storage=LocalStorage(tmp_path / "files"))
    got: list[Ping] = []

    @registry.handler(Ping)
    def on_ping(session: Session, payload: Ping, ctx: WorkerContext) -> None:
        got.append(payload)

    registry.handler(Ping)(on_ping)  # the same function again is harmless
    assert registry.topics() == ("test.ping",)
    with pytest.raises(ValueError, match=r"two handlers for test\.ping"):
        registry.handler(PingAgain)(lambda session, payload, ctx: None)

    session = Session()
    registry.dispatch(session, "test.ping", {"n": 1, "added_later": True}, ctx)  # unknown keys of old rows pass
    assert got == [Ping(n=1)]
    with pytest.raises(ValidationError):
        registry.dispatch(session, "test.ping", {"n": "one"}, ctx)
    with pytest.raises(LookupError, match=r"no handler for topic test\.unknown"):
        registry.dispatch(session, "test.unknown", {}, ctx)
    with pytest.raises(ValidationError):  # frozen: a handler cannot change the message it was given
        got[0].n = 2

    def job(engine: Any, ctx: WorkerContext) -> None:
        return None

    registry.periodic("test.job", lambda settings: 60.0)(job)
    registry.periodic("test.job", lambda settings: 60.0)(job)
    with pytest.raises(ValueError, match=r"two periodic jobs named test\.job"):
        registry.periodic("test.job", lambda settings: 60.0)(lambda engine, ctx: None)
    assert list(registry.jobs()) == ["test.job"]

    registry.reset()
    assert registry.topics() == () and registry.jobs() == {}
    with pytest.raises(LookupError):
        registry.dispatch(session, "test.ping", {"n": 1}, ctx)


def test_outbox_drains_through_a_fresh_registry(tmp_path: Path) -> None:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    OutboxMessage.__table__.create(engine)  # type: ignore[attr-defined]
    ctx = WorkerContext(settings=_settings(tmp_path), storage=LocalStorage(tmp_path / "files"))
    registry = OutboxRegistry()
    got: list[int] = []
    registry.handler(Ping)(lambda session, payload, ctx: got.append(payload.n))
    with Session(engine) as session:
        enqueue(session, Ping(n=7))
        session.commit()
    assert drain(engine, ctx, handlers=registry) == 1
    assert got == [7]
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert row.topic == "test.ping" and row.payload == {"n": 7} and row.processed_at is not None
    engine.dispose()


def test_outbox_isolated_restores_the_application_handlers() -> None:
    before = outbox.registry.topics()
    assert {"dossier.submitted", "notification.send", "payment.receipt", "payment.refund"} <= set(before)
    assert "payments.reconcile" in outbox.registry.jobs()
    with outbox.registry.isolated(empty=True):
        assert outbox.registry.topics() == ()
        outbox.handler(Ping)(lambda session, payload, ctx: None)
    assert outbox.registry.topics() == before


def test_outbox_payloads_keep_the_stored_json_shape() -> None:
    """Rows written before the payloads were typed hold the same topics and keys."""
    from payments.outbox import ExecuteRefund, IssueEReceipt
    from portal.dossiers.outbox import DossierSubmitted
    from portal.notifications.outbox import SendNotification

    stored = {
        "payment.receipt": {"payment_id": "p1"},
        "payment.refund": {"refund_id": "r1"},
        "dossier.submitted": {"dossier_id": "d1"},
        "notification.send": {"id": "n1"},
    }
    for model in (IssueEReceipt, ExecuteRefund, DossierSubmitted, SendNotification):
        payload = stored[model.topic]
        assert model.model_validate(payload).model_dump(mode="json") == payload


# --------------------------------------------------------------------------- issued documents


def _found(reference: str) -> IssuedDocument:
    return IssuedDocument(reference=reference, kind="receipt", issued_at=None, title={"vi": "x", "en": "x"})


def test_document_lookups_register_once_and_reset() -> None:
    engine = create_engine("sqlite://")
    lookups = DocumentLookups()
    assert lookups.find(engine, "ab" * 32) == []  # nothing registered: nothing found

    def receipts(session: Session, sha256: str, limit: int) -> Iterable[IssuedDocument]:
        return [_found(f"R{i}") for i in range(5)] if sha256 == "ab" * 32 else []

    lookups.register(receipts)
    lookups.register(receipts)  # twice: asked once
    assert [d.reference for d in lookups.find(engine, "ab" * 32, limit=2)] == ["R0", "R1"]
    assert lookups.find(engine, "cd" * 32) == []

    with lookups.isolated(empty=True):
        assert lookups.find(engine, "ab" * 32) == []
    assert len(lookups.find(engine, "ab" * 32)) == 5
    lookups.reset()
    assert lookups.find(engine, "ab" * 32) == []
    engine.dispose()


def test_application_document_lookups_are_restored() -> None:
    before = documents.issued_documents.snapshot()
    assert before  # the dossier workflow registered its lookups
    with documents.issued_documents.isolated(empty=True):
        assert documents.issued_documents.snapshot() == []
    assert documents.issued_documents.snapshot() == before


# --------------------------------------------------------------------------- provided hooks


def test_provided_hook_default_provide_reset_and_isolated() -> None:
    greet: Provided[[str], str] = Provided("greet", lambda name: f"default {name}")
    assert greet("An") == "default An" and not greet.is_provided
    greet.provide(lambda name: f"first {name}")
    greet.provide(lambda name: f"second {name}")  # the last one provided wins
    assert greet("An") == "second An" and greet.is_provided
    with greet.isolated():
        greet.provide(lambda name: f"test {name}")
        assert greet("An") == "test An"
    assert greet("An") == "second An"
    with greet.isolated(empty=True):
        assert greet("An") == "default An"
    greet.reset()
    assert greet("An") == "default An" and not greet.is_provided


def test_application_registries_are_isolated_per_kind() -> None:
    from auth.deps import represented_by

    known = notifiers.ids()
    assert {"log", "smtp"} <= set(known) and represented_by.is_provided
    with notifiers.isolated(), events.bus.isolated(empty=True), represented_by.isolated(empty=True):
        notifiers.register("test-pigeon")(Widget)
        assert "test-pigeon" in notifiers.ids() and not represented_by.is_provided
        assert events.bus.subscribers(PaymentSucceeded) == []
    assert notifiers.ids() == known and represented_by.is_provided
    assert events.bus.subscribers(PaymentSucceeded)  # the dossier workflow's subscribers are back


# --------------------------------------------------------------------------- order kinds of payments


def test_order_kinds_register_refuse_a_second_describer_and_restore() -> None:
    from payments.models import Payment
    from payments.service import OrderInfo, OrderKinds, order_kinds

    info = OrderInfo(
        code="X-1",
        title="Thủ tục",
        payer_name="An",
        payer_id_number=None,
        payer_address=None,
        page="/x",
        collector_name="UBND",
        collector_address="",
    )

    def describe(session: Any, order_id: str) -> OrderInfo:
        return info

    kinds = OrderKinds()
    kinds.register("parcel", describe)
    kinds.register("parcel", describe)  # the same describer again changes nothing
    with pytest.raises(ValueError, match="parcel"):
        kinds.register("parcel", lambda session, order_id: info)
    payment = Payment.model_construct(order_kind="parcel", order_id="o1")
    assert kinds.describe(None, payment) is info  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="unknown"):
        kinds.describe(None, Payment.model_construct(order_kind="unknown", order_id="o1"))  # type: ignore[arg-type]
    kinds.reset()
    with pytest.raises(LookupError):
        kinds.describe(None, payment)  # type: ignore[arg-type]

    before = order_kinds.snapshot()
    assert "dossier" in before  # the dossier workflow registered itself
    with order_kinds.isolated(empty=True):
        assert order_kinds.snapshot() == {}
    assert order_kinds.snapshot() == before
