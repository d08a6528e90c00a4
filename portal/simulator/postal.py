"""A postal operator simulator: plays an operator (VNPost by default) through the portal's real operator API.

For demos, for the embedded default (`make run` shows a result returned by post with no external system) and
for the journey tests. It only speaks HTTP to `/oauth/token` and `/api/v1/postal/…`, like an operator's
system would: it lists its open orders, claims each one, reports it picked up and in transit, on a delivery
one failed attempt (with a reason), then delivers it with proof (the recipient's name, "self", a generated
signature image, and the cash collected when the order says so). Development and tests only.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from portal.simulator.agent import PassReport, run_forever
from portal.simulator.api import ApiError, Credentials, Moved, working_credentials
from portal.simulator.credentials import dev_postal_client
from portal.simulator.postal_api import PostalApi

log = logging.getLogger(__name__)

OPEN = ("created", "claimed", "picked_up", "in_transit", "delivery_attempted")
PICKED_UP_AT = "Bưu cục nhận gửi (mô phỏng)"
IN_TRANSIT_AT = "Trung tâm khai thác chia chọn (mô phỏng)"
DELIVERY_AT = "Bưu cục phát (mô phỏng)"
PICKED_UP_NOTE = "Bưu tá đã nhận bưu gửi."
IN_TRANSIT_NOTE = "Bưu gửi đang được chuyển đến bưu cục phát."
ATTEMPT_REASON = "Người nhận vắng nhà; bưu tá đã để lại giấy báo và sẽ phát lại."
DELIVERED_NOTE = "Đã phát thành công."
RELATION = "self"
MAX_STEPS = 8  # steps tried on one order in one pass (a 409 makes it look again)
MIN_GAP = timedelta(milliseconds=5)  # two events of one order never share a time (same rank: the later wins)


@dataclass(frozen=True)
class Step:
    """What to report next on an order: `claim`, or an operator status."""

    kind: str
    attempt: int = 0  # the number of the failed attempt, on delivery_attempted


def next_step(order: dict[str, Any], *, fail_first: bool = True, attempted: int = 0) -> Step | None:
    """What the operator does next with the order as the API shows it; None when there is nothing to do.

    `attempted`: failed attempts this simulator already reported (the order's own count may lag behind a
    lost answer)."""
    status = str(order.get("status", ""))
    attempts = max(_int(order.get("attempts")), attempted)
    if status == "created":
        return Step("claim")
    if status == "claimed":
        return Step("picked_up")
    if status == "picked_up":
        return Step("in_transit")
    if status == "in_transit":
        if fail_first and order.get("kind") == "delivery" and attempts == 0:
            return Step("delivery_attempted", attempt=1)
        return Step("delivered")
    if status == "delivery_attempted":
        return Step("delivered")  # the courier comes back the next round and finds the recipient in
    return None


def event_id(order: dict[str, Any], step: Step) -> str:
    """The operator's id of the event: one per order and step, so that a replay is recognised as one."""
    suffix = f"-{step.attempt}" if step.attempt else ""
    return f"sim-{order.get('number')}-{step.kind}{suffix}"


def signature_png(name: str, *, width: int = 160, height: int = 48) -> bytes:
    """A small black-on-white PNG of a scribble that differs with the name: the recipient's "signature"."""
    seed = zlib.crc32(name.encode())
    rows = [bytearray(b"\xff" * width) for _ in range(height)]
    y = height // 2
    for x in range(8, width - 8):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        y = min(height - 6, max(5, y + (seed >> 16) % 5 - 2))
        for dy in (-1, 0, 1):
            rows[y + dy][x] = 0
    raw = b"".join(b"\x00" + bytes(row) for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


PostalPassReport = PassReport  # what one pass did: steps made (order number, step), orders followed, errors


class PostalSimulator:
    """Claims and carries one operator's open orders, one step per order per `pace_seconds`."""

    def __init__(
        self,
        api: PostalApi,
        *,
        operator: str,
        pace_seconds: float = 0.0,
        fail_first: bool = True,
        only: Callable[[dict[str, Any]], bool] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.api = api
        self.operator = operator
        self.pace_seconds = pace_seconds
        self.fail_first = fail_first
        self.only = only  # which orders to play (tests and demos sharing a portal); all without it
        self.now = now
        self.following: dict[str, float] = {}  # order number -> monotonic time of its next step
        self.refused: dict[str, str] = {}  # order number -> the status it was refused in (not tried again there)
        self._attempted: dict[str, int] = {}
        self._last_time: dict[str, datetime] = {}
        # Event id -> what was sent: an event tried again (a lost answer, a 5xx) is sent as it was the first time.
        self._sent: dict[str, dict[str, Any]] = {}
        self._deliveries: dict[str, tuple[dict[str, str], tuple[str, bytes, str]]] = {}

    @property
    def name(self) -> str:
        return self.operator

    def open_orders(self) -> list[dict[str, Any]]:
        orders = [o for o in self.api.all_orders() if str(o.get("status", "")) in OPEN and o.get("number")]
        return [o for o in orders if self.only is None or self.only(o)]

    def run_once(self) -> PostalPassReport:
        """One pass: every open order that is due is taken one step (as far as it goes without a pace)."""
        report = PostalPassReport()
        now = time.monotonic()
        orders = {str(o["number"]): o for o in self.open_orders()}
        for number in list(self.following):
            if number not in orders:
                self.following.pop(number)  # delivered, returned, cancelled, or no longer ours
        for number, order in sorted(orders.items()):
            if self.refused.get(number) == order.get("status"):
                continue
            due = self.following.setdefault(number, now)
            if due > time.monotonic():
                continue
            try:
                keep = self.advance(order, report)
            except ApiError as exc:
                report.errors.append(str(exc))
                log.warning("postal simulator %s: %s", self.operator, exc)
                if exc.status < 500:  # a refusal would be refused again: not tried until the order moves
                    self.refused[number] = str(order.get("status"))
                keep = exc.status >= 500
            if not keep:
                self.following.pop(number, None)
        report.following = set(self.following)
        return report

    def advance(self, order: dict[str, Any], report: PostalPassReport) -> bool:
        """Move one order on until it ends (False) or until the pace makes it wait (True)."""
        number = str(order["number"])
        for _ in range(MAX_STEPS):
            step = next_step(order, fail_first=self.fail_first, attempted=self._attempted.get(number, 0))
            if step is None:
                return False
            try:
                answer = self.perform(order, step)
            except Moved as exc:
                log.info("postal simulator %s: %s moved meanwhile (%s); looking again", self.operator, number, exc)
                order = self.api.order(number)
                continue
            report.done.append((number, step.kind))
            log.info("postal simulator %s: %s %s", self.operator, number, step.kind)
            order = {**order, **answer} if answer.get("status") else self.api.order(number)
            if step.kind == "delivery_attempted":
                self._attempted[number] = step.attempt
            if self.pace_seconds > 0:
                self.following[number] = time.monotonic() + self.pace_seconds
                attempted = self._attempted.get(number, 0)
                return next_step(order, fail_first=self.fail_first, attempted=attempted) is not None
        return True

    def _occurred_at(self, order: dict[str, Any]) -> datetime:
        """Now, but after the order's last event and after the last one sent here (two events never tie)."""
        moment = self.now()
        number = str(order["number"])
        for earlier in (_time(order.get("status_at")), _time(order.get("claimed_at")), self._last_time.get(number)):
            if earlier is not None and moment <= earlier:
                moment = earlier + MIN_GAP
        self._last_time[number] = moment
        return moment

    def perform(self, order: dict[str, Any], step: Step) -> dict[str, Any]:
        number = str(order["number"])
        if step.kind == "claim":
            return self.api.claim(number)
        eid = event_id(order, step)
        if step.kind == "delivered":
            fields, proof = self._deliveries.get(eid) or self._delivery(order, eid)
            self._deliveries[eid] = (fields, proof)
            return self.api.delivery(number, fields, proof)
        event = self._sent.get(eid) or self._event(order, step, eid)
        self._sent[eid] = event
        return self.api.event(number, event)

    def _event(self, order: dict[str, Any], step: Step, eid: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": eid,
            "status": step.kind,
            "occurred_at": self._occurred_at(order).isoformat(),
        }
        if step.kind == "picked_up":
            event.update(location=PICKED_UP_AT, note=PICKED_UP_NOTE)
        elif step.kind == "in_transit":
            event.update(location=IN_TRANSIT_AT, note=IN_TRANSIT_NOTE)
        elif step.kind == "delivery_attempted":
            event.update(location=DELIVERY_AT, reason=ATTEMPT_REASON)
        return event

    def _delivery(self, order: dict[str, Any], eid: str) -> tuple[dict[str, str], tuple[str, bytes, str]]:
        recipient = order.get("recipient") if isinstance(order.get("recipient"), dict) else {}
        name = str((recipient or {}).get("name") or "Người nhận")
        fields = {
            "event_id": eid,
            "occurred_at": self._occurred_at(order).isoformat(),
            "recipient_name": name,
            # A pickup is signed for at the agency by an officer on the applicant's behalf.
            "relation": RELATION if order.get("kind") != "pickup" else "authorised",
            "location": DELIVERY_AT,
            "note": DELIVERED_NOTE,
        }
        cod = _int(order.get("cod_amount"))
        if cod:
            fields["cod_collected"] = str(cod)
        return fields, (f"chu-ky-{order.get('number')}.png", signature_png(name), "image/png")

    def run_until_idle(self, *, timeout: float = 600.0) -> PostalPassReport:
        """Passes until no open order is left to move (waiting out the pace between steps); the reports merged."""
        total = PostalPassReport()
        deadline = time.monotonic() + timeout
        while True:
            report = self.run_once()
            total.done.extend(report.done)
            total.errors.extend(report.errors)
            total.following = report.following
            if not self.following or time.monotonic() > deadline:
                return total
            wait = min(self.following.values()) - time.monotonic()
            time.sleep(min(max(wait, 0.05), max(deadline - time.monotonic(), 0.0)))


def pull_operators(settings: Settings) -> list[str]:
    """The operators that fetch their orders through the API (the ones a simulator can play)."""
    return [op for op, conf in settings.postal_operators.items() if str((conf or {}).get("plugin", "pull")) == "pull"]


def build_postal_simulators(
    http: httpx.Client,
    settings: Settings,
    engine: Engine,
    *,
    operators: list[str] | tuple[str, ...] = (),
    pace_seconds: float = 0.0,
    fail_first: bool = True,
) -> list[PostalSimulator]:
    """One simulator per operator (every pull operator of the settings when none is named), each with its
    development client; a stored client that the portal refuses (a reset database) is replaced."""
    simulators = []
    for operator in operators or pull_operators(settings):
        credentials = working_credentials(PostalApi, http, partial(dev_postal_client, settings, engine, operator))
        simulators.append(postal_simulator_for(http, operator, credentials, pace_seconds, fail_first))
    return simulators


def postal_simulator_for(
    http: httpx.Client, operator: str, credentials: Credentials, pace_seconds: float = 0.0, fail_first: bool = True
) -> PostalSimulator:
    return PostalSimulator(
        PostalApi(http, credentials), operator=operator, pace_seconds=pace_seconds, fail_first=fail_first
    )


def run_postal_forever(
    simulators: list[PostalSimulator], *, poll_seconds: float, stop: threading.Event | None = None
) -> None:
    """Pass after pass until `stop` is set; a portal that does not answer (yet) is waited for."""
    run_forever(simulators, poll_seconds=poll_seconds, stop=stop, label="postal simulator")
