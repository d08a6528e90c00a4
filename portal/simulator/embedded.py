"""The simulators inside the development server (PORTAL_SIMULATOR, on by default in development): a daemon
thread that waits for the server to answer, then plays every agency of the catalogue through the HTTP API,
and another that plays the postal operators served by pull (VNPost by default) through the operator API.

Its pace is a demo's: one step per dossier every few seconds, and a supplement asked for every other
dossier, so that the citizen sees each status of the life on their dossier page; a parcel moves one step
every few seconds too (claimed, picked up, in transit, a failed attempt, delivered with proof).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
from sqlalchemy.engine import Engine

from portal.kernel.settings import Settings
from portal.simulator.agent import AgencySimulator, Policy, Supplement, run_forever
from portal.simulator.api import ApiError
from portal.simulator.postal import PostalSimulator, build_postal_simulators, run_postal_forever
from portal.simulator.setup import build_simulators

log = logging.getLogger(__name__)

DEMO_POLICY = Policy(supplement=Supplement.ALTERNATE, pace_seconds=8.0)
POLL_SECONDS = 3.0
READY_TIMEOUT_SECONDS = 120.0
POSTAL_PACE_SECONDS = 4.0  # between two steps of one parcel: quick, yet each one shows on the dossier page


class EmbeddedSimulator:
    """The thread and its stop switch (and, with `postal`, the postal operators' thread beside it)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        policy: Policy = DEMO_POLICY,
        poll_seconds: float = POLL_SECONDS,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
        only: Callable[[str], bool] | None = None,
        postal: EmbeddedPostalSimulator | None = None,
    ) -> None:
        self.postal = postal
        self.settings = settings
        self.engine = engine
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.ready_timeout = ready_timeout
        self.only = only
        self.simulators: list[AgencySimulator] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="backoffice-simulator", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if self.postal:
            self.postal.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.postal:
            self.postal.stop_event.set()
        self.thread.join(timeout=10)
        if self.postal:
            self.postal.stop()

    def _run(self) -> None:
        base_url = self.settings.base_url.rstrip("/")
        with httpx.Client(base_url=base_url, timeout=30) as http:
            if not self._wait_until_ready(http):
                log.warning("simulator: %s/readyz did not answer 200: the simulator does not start", base_url)
                return
            simulators: list[AgencySimulator] = []
            while not simulators and not self.stop_event.is_set():
                try:
                    simulators = build_simulators(http, self.settings, self.engine, policy=self.policy)
                except (httpx.TransportError, ApiError, OSError) as exc:
                    log.warning("simulator: cannot start yet (%s)", exc)
                    self.stop_event.wait(self.poll_seconds)
            for simulator in simulators:
                simulator.only = self.only
            self.simulators = simulators
            if simulators:
                log.info("simulator: playing %s at %s", ", ".join(s.agency_code for s in simulators), base_url)
                run_forever(simulators, poll_seconds=self.poll_seconds, stop=self.stop_event)

    def _wait_until_ready(self, http: httpx.Client) -> bool:
        return _wait_until_ready(http, self.stop_event, self.ready_timeout)


class EmbeddedPostalSimulator:
    """The postal operators' thread: every operator served by pull, one step per parcel per `pace_seconds`."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        pace_seconds: float = POSTAL_PACE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
        only: Callable[[dict[str, object]], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.pace_seconds = pace_seconds
        self.poll_seconds = poll_seconds
        self.ready_timeout = ready_timeout
        self.only = only
        self.simulators: list[PostalSimulator] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="postal-simulator", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        base_url = self.settings.base_url.rstrip("/")
        with httpx.Client(base_url=base_url, timeout=30) as http:
            if not _wait_until_ready(http, self.stop_event, self.ready_timeout):
                if not self.stop_event.is_set():
                    log.warning("postal simulator: %s/readyz did not answer 200: it does not start", base_url)
                return
            simulators: list[PostalSimulator] = []
            while not simulators and not self.stop_event.is_set():
                try:
                    simulators = build_postal_simulators(
                        http, self.settings, self.engine, pace_seconds=self.pace_seconds
                    )
                except (httpx.TransportError, ApiError, OSError) as exc:
                    log.warning("postal simulator: cannot start yet (%s)", exc)
                    self.stop_event.wait(self.poll_seconds)
                    continue
                if not simulators:
                    log.info("postal simulator: no operator is served by pull: nothing to play")
                    return
            for simulator in simulators:
                simulator.only = self.only
            self.simulators = simulators
            if simulators:
                log.info("postal simulator: playing %s at %s", ", ".join(s.operator for s in simulators), base_url)
                run_postal_forever(simulators, poll_seconds=self.poll_seconds, stop=self.stop_event)


def _wait_until_ready(http: httpx.Client, stop: threading.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if http.get("/readyz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        stop.wait(0.5)
    return False


def start_embedded(settings: Settings, engine: Engine) -> EmbeddedSimulator | None:
    """Start the simulator threads (back-office and postal) when PORTAL_SIMULATOR is on in development; None
    otherwise."""
    if settings.environment != "development" or not getattr(settings, "simulator", False):
        return None
    simulator = EmbeddedSimulator(settings, engine, postal=EmbeddedPostalSimulator(settings, engine))
    simulator.start()
    return simulator
