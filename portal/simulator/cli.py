"""`portal backoffice simulate`: play an agency's back-office against a running portal (development)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import click
import httpx

from portal.kernel.settings import Settings, get_settings
from portal.simulator.agent import AgencySimulator, PassReport, Policy, Supplement, run_forever
from portal.simulator.api import Credentials
from portal.simulator.credentials import NotInDevelopment, agency_names, procedure_names
from portal.simulator.setup import build_simulators, simulator_for

F = TypeVar("F", bound=Callable[..., Any])


base_url_option = click.option("--base-url", default=None, help="The portal's address (default: PORTAL_BASE_URL).")


def client_options(envvar_prefix: str, existing: str) -> Callable[[F], F]:
    """--client-id and --client-secret (also `<envvar_prefix>_CLIENT_ID` / `_CLIENT_SECRET`)."""

    def decorate(command: F) -> F:
        for option in reversed(
            (
                click.option(
                    "--client-id",
                    envvar=f"{envvar_prefix}_CLIENT_ID",
                    default=None,
                    help=f"{existing}; also {envvar_prefix}_CLIENT_ID.",
                ),
                click.option(
                    "--client-secret",
                    envvar=f"{envvar_prefix}_CLIENT_SECRET",
                    default=None,
                    help=f"Its secret; also {envvar_prefix}_CLIENT_SECRET.",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


def portal_settings(base_url: str | None) -> Settings:
    """The settings, at `base_url` when given; httpx told to log one line per step, not one per request."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    return settings.model_copy(update={"base_url": base_url}) if base_url else settings


def refused(exc: NotInDevelopment) -> NoReturn:
    click.echo(f"refused: {exc}; give --client-id and --client-secret", err=True)
    sys.exit(2)


def echo_reports(reports: Iterable[tuple[str, PassReport]]) -> bool:
    """Each (simulator's name, report of its run) echoed, a line per step and per error; True when one failed."""
    failed = False
    for name, report in reports:
        for key, step in report.done:
            click.echo(f"{name} {key} {step}")
        for error in report.errors:
            click.echo(f"{name} error: {error}", err=True)
        failed = failed or bool(report.errors)
    return failed


@click.group()
def backoffice() -> None:
    """The agency side of the partner API, for development and demos."""


@backoffice.command("simulate")
@base_url_option
@click.option(
    "--agency", "agencies", multiple=True, help="Agency code to play, e.g. UBXA (repeatable; default: every agency)."
)
@click.option("--dossier", "dossiers", multiple=True, help="Play only this dossier code (repeatable; default: all).")
@client_options("PORTAL_SIMULATOR", "An existing back-office client (`portal client create`)")
@click.option("--once", is_flag=True, help="One pass over the change feed, then exit.")
@click.option("--supplement", is_flag=True, help="Ask for a supplement on each dossier before deciding.")
@click.option(
    "--supplement-target", default=None, help="What to ask for: component:<id> or field:<name> (default: picked)."
)
@click.option("--late", is_flag=True, help="Hold dossiers until they are overdue, apologise with a new date, finish.")
@click.option("--pace", default=0.0, show_default=True, type=float, help="Seconds between two steps on a dossier.")
@click.option("--poll", default=2.0, show_default=True, type=float, help="Seconds between two passes.")
def simulate(
    base_url: str | None,
    agencies: tuple[str, ...],
    dossiers: tuple[str, ...],
    client_id: str | None,
    client_secret: str | None,
    once: bool,
    supplement: bool,
    supplement_target: str | None,
    late: bool,
    pace: float,
    poll: float,
) -> None:
    """Receive, process, optionally ask for a supplement, issue a signed result and complete each dossier.

    Without --client-id, a development client is created for each agency (and kept under the storage
    folder); outside production only.
    """
    from portal.kernel.db import make_engine

    settings = portal_settings(base_url)
    if supplement_target and not supplement_target.startswith(("component:", "field:")):
        raise click.BadParameter("write component:<id> or field:<name>", param_hint="--supplement-target")
    policy = Policy(
        supplement=Supplement.ALWAYS if supplement else Supplement.NEVER,
        supplement_target=supplement_target,
        late=late,
        pace_seconds=pace,
    )
    engine = make_engine(settings)
    with httpx.Client(base_url=settings.base_url.rstrip("/"), timeout=60) as http:
        simulators: list[AgencySimulator]
        if client_id:
            if len(agencies) != 1 or not client_secret:
                raise click.UsageError("--client-id needs --client-secret and exactly one --agency")
            credentials = Credentials(client_id, client_secret)
            name = agency_names(engine).get(agencies[0])
            simulators = [
                simulator_for(
                    http,
                    settings,
                    agencies[0],
                    credentials,
                    policy=policy,
                    agency_name=name,
                    procedures=procedure_names(engine),
                )
            ]
        else:
            try:
                simulators = build_simulators(http, settings, engine, policy=policy, agencies=agencies)
            except NotInDevelopment as exc:
                refused(exc)
        if dossiers:
            wanted = set(dossiers)
            for simulator in simulators:
                simulator.only = wanted.__contains__
        if not once:
            click.echo(f"simulating {', '.join(s.agency_code for s in simulators)} at {settings.base_url}", err=True)
            run_forever(simulators, poll_seconds=poll)
            return
        failed = echo_reports((s.agency_code, s.run_once()) for s in simulators)
    engine.dispose()
    if failed:
        sys.exit(1)
