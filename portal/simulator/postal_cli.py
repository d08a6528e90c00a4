"""`portal postal simulate`: play a postal operator against a running portal (development)."""

from __future__ import annotations

import sys

import click
import httpx

from portal.simulator.api import Credentials
from portal.simulator.cli import base_url_option, client_options, echo_reports, portal_settings, refused
from portal.simulator.credentials import NotInDevelopment
from portal.simulator.postal import (
    PostalSimulator,
    build_postal_simulators,
    postal_simulator_for,
    run_postal_forever,
)


@click.group()
def postal() -> None:
    """The postal operators' side of the operator API, for development and demos."""


@postal.command("simulate")
@base_url_option
@click.option(
    "--operator",
    "operators",
    multiple=True,
    help="Operator to play, e.g. vnpost (repeatable; default: every operator served by pull).",
)
@click.option(
    "--order", "orders", multiple=True, help="Play only this order number or dossier code (repeatable; default: all)."
)
@client_options("PORTAL_POSTAL_SIMULATOR", "An existing postal client (`portal client create --scope postal`)")
@click.option("--once", is_flag=True, help="Carry every open order to its end, then exit.")
@click.option(
    "--step-delay",
    default=None,
    type=click.FloatRange(min=0),
    help="Seconds between two steps on one order, so a watcher sees each [default: 0 with --once, else 5].",
)
@click.option(
    "--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds between two passes."
)
@click.option("--no-failed-attempt", is_flag=True, help="Deliver at the first attempt (no failed attempt first).")
def simulate(
    base_url: str | None,
    operators: tuple[str, ...],
    orders: tuple[str, ...],
    client_id: str | None,
    client_secret: str | None,
    once: bool,
    step_delay: float | None,
    interval: float,
    no_failed_attempt: bool,
) -> None:
    """Claim each open order, report it picked up and in transit, one failed delivery attempt on deliveries,
    then deliver it with proof (recipient, relation "self", a signature image, the cash on delivery).

    Without --client-id, a development client is created for each operator (and kept under the storage
    folder); outside production only.
    """
    from portal.kernel.db import make_engine

    settings = portal_settings(base_url)
    pace = step_delay if step_delay is not None else (0.0 if once else 5.0)
    fail_first = not no_failed_attempt
    engine = make_engine(settings)
    with httpx.Client(base_url=settings.base_url.rstrip("/"), timeout=60) as http:
        simulators: list[PostalSimulator]
        if client_id:
            if len(operators) != 1 or not client_secret:
                raise click.UsageError("--client-id needs --client-secret and exactly one --operator")
            credentials = Credentials(client_id, client_secret)
            simulators = [postal_simulator_for(http, operators[0], credentials, pace, fail_first)]
        else:
            try:
                simulators = build_postal_simulators(
                    http, settings, engine, operators=operators, pace_seconds=pace, fail_first=fail_first
                )
            except NotInDevelopment as exc:
                refused(exc)
        if orders:
            wanted = set(orders)
            for simulator in simulators:
                simulator.only = lambda o: o.get("number") in wanted or o.get("reference") in wanted
        if not simulators:
            click.echo("no operator to play: none is served by pull (PORTAL_POSTAL_OPERATORS)", err=True)
            sys.exit(2)
        if not once:
            click.echo(f"simulating {', '.join(s.operator for s in simulators)} at {settings.base_url}", err=True)
            run_postal_forever(simulators, poll_seconds=interval)
            return
        failed = echo_reports((s.operator, s.run_until_idle()) for s in simulators)
    engine.dispose()
    if failed:
        sys.exit(1)
