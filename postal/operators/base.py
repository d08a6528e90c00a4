"""The postal operator contract: a Protocol, the values that cross it, its errors and the registry of plugins.

An operator is served in one of two ways:

* ``pull``: the operator's system uses the portal's API (``/api/v1/postal``): it lists open orders, claims
  them and posts tracking events. The plugin has nothing to do (`postal.operators.pull`).
* ``push``: the portal posts each order to the operator's own API (through the outbox) and polls the
  operator's tracking on a schedule (`postal.tasks`). The plugin speaks the operator's protocol
  (`postal.operators.vnpost`).

A plugin knows nothing of the database: `postal.tasks` hands it an :class:`OrderData` (a frozen copy of the
order, so the call can run outside any transaction) and records what it answers through `postal.service`.
Plugins never import `postal.service` (which chooses operators through this package).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel

from portal.kernel.clock import as_utc
from portal.kernel.plugins import Registry
from postal.models import PostalOrder

Mode = Literal["pull", "push"]


class OperatorError(Exception):
    """The operator could not be reached or answered nonsense (timeout, 5xx, bad JSON): try again later."""


class OperatorRefused(Exception):
    """The operator refused the request for good (4xx: a field it does not accept, an unknown item, a bad token).

    Trying the same request again would get the same answer; ``reason`` is a short English text for the logs
    and the audit trail, with the operator's own code when it gives one.
    """

    def __init__(self, reason: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.code = code


class OperatorConfigError(Exception):
    """The operators' settings cannot work (no operator, an unknown plugin, bad options): stops the start."""


@dataclass(frozen=True)
class OrderData:
    """What a plugin is told about one order: a detached copy of the `PostalOrder` row."""

    id: str
    number: str  # the portal's order number: the operator's client order number for push operators
    kind: str  # a ParcelKind
    operator: str
    reference: str  # the dossier code, printed on the label
    province_code: str
    sender: Mapping[str, Any]  # a PostalAddress as a dict
    recipient: Mapping[str, Any]
    contents: tuple[Mapping[str, Any], ...]
    weight_class: str  # a WeightClass
    fee: int
    cod_amount: int  # đồng to collect from the recipient (0: none)
    created_at: datetime
    tracking_number: str | None = None
    operator_ref: str | None = None

    @classmethod
    def from_order(cls, order: PostalOrder) -> OrderData:
        return cls(
            id=order.id,
            number=order.number,
            kind=str(order.kind),
            operator=order.operator,
            reference=order.reference,
            province_code=order.province_code,
            sender=dict(order.sender),
            recipient=dict(order.recipient),
            contents=tuple(dict(item) for item in order.contents),
            weight_class=str(order.weight_class),
            fee=order.fee,
            cod_amount=order.cod_amount,
            created_at=as_utc(order.created_at),
            tracking_number=order.tracking_number,
            operator_ref=order.operator_ref,
        )


@dataclass(frozen=True)
class SubmittedOrder:
    """The operator's answer to a new order: its tracking number (the item code) and its own id of the order."""

    tracking_number: str
    operator_ref: str | None = None


@dataclass(frozen=True)
class OperatorProof:
    """Who signed for a delivered parcel, as the operator's tracking says, with the image it keeps (if any).

    ``content`` is the signature or photo as the operator served it (JPEG or PNG), or None when the operator
    keeps no image for this delivery.
    """

    recipient_name: str
    relation: str  # a RecipientRelation
    delivered_at: datetime  # aware, UTC
    content: bytes | None = None
    filename: str = ""


@dataclass(frozen=True)
class OperatorReport:
    """One tracking event, mapped onto the portal's statuses (fields as `postal.service.TrackingReport`)."""

    event_id: str  # stable: the same event read twice has the same id (and the same content)
    status: str  # a ParcelStatus in OPERATOR_STATUSES
    occurred_at: datetime  # aware, UTC
    location: str = ""
    note: str = ""
    reason: str = ""  # why a delivery attempt failed
    cod_collected: int | None = None  # on delivered COD orders: what the courier collected
    proof: OperatorProof | None = None  # on delivered
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the operator's event, for the logs


class PostalOperatorPlugin(Protocol):
    """One way to serve a postal operator; the operator's id (a key of PORTAL_POSTAL_OPERATORS) is stored on
    every order, the plugin's id in the operator's settings.

    Instances are built once per settings from validated options and kept (`postal.operators.plugin_for`):
    they may hold HTTP clients. Methods are synchronous, called from worker threads, never on the event loop.
    """

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]
    # Shown to back-office staff and in the docs ({"vi": ..., "en": ...}).
    label: ClassVar[Mapping[str, str]]
    mode: ClassVar[Mode]

    def __init__(self, options: Any) -> None: ...

    def check_config(self) -> None:
        """Raise OperatorConfigError if the options cannot work (run at startup)."""
        ...

    def submit_order(self, order: OrderData) -> SubmittedOrder:
        """Give the order to the operator (push); OperatorError to retry, OperatorRefused when refused.

        Must be safe to repeat: the operator knows the order by ``order.number`` and answers a second
        submission of the same order with the first one's tracking number.
        """
        ...

    def fetch_tracking(self, order: OrderData) -> list[OperatorReport]:
        """Every event the operator reports for the order so far (push); OperatorError when it cannot answer."""
        ...

    def cancel_order(self, order: OrderData, *, reason: str) -> None:
        """Withdraw an order given to the operator (push); OperatorRefused when it is too late."""
        ...

    def close(self) -> None:
        """Release what the plugin holds (HTTP connections)."""
        ...


registry: Registry[PostalOperatorPlugin] = Registry("postal operator plugin")
register = registry.register
