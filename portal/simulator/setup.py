"""Building the simulated agencies: credentials (given, or development clients) and one simulator each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from portal.kernel.settings import Settings
from portal.simulator.agent import AgencySimulator, Policy
from portal.simulator.api import BackOfficeApi, Credentials, working_credentials
from portal.simulator.credentials import agency_names, dev_client, procedure_names


def pki_folder(settings: Settings) -> Path:
    """Where the portal keeps its development PKI (signing.pki.get_pki): its root is what /verify trusts."""
    return Path(settings.storage_dir) / "pki"


def simulator_for(
    http: httpx.Client,
    settings: Settings,
    agency_code: str,
    credentials: Credentials,
    *,
    policy: Policy,
    agency_name: str | None = None,
    procedures: Mapping[str, tuple[str, str]] | None = None,
) -> AgencySimulator:
    return AgencySimulator(
        BackOfficeApi(http, credentials),
        agency_code=agency_code,
        agency_name=agency_name or f"Cơ quan {agency_code}",
        pki_folder=pki_folder(settings),
        base_url=settings.base_url,
        policy=policy,
        procedures=procedures or {},
    )


def build_simulators(
    http: httpx.Client,
    settings: Settings,
    engine: Engine,
    *,
    policy: Policy,
    agencies: Sequence[str] = (),
) -> list[AgencySimulator]:
    """One simulator per agency (every agency of the catalogue when none is named), each with its development
    client; a stored client that the portal refuses (a reset database) is replaced."""
    names = agency_names(engine)
    procedures = procedure_names(engine)
    simulators = []
    for code in agencies or list(names):
        credentials = working_credentials(BackOfficeApi, http, partial(dev_client, settings, engine, code))
        simulators.append(
            simulator_for(
                http, settings, code, credentials, policy=policy, agency_name=names.get(code), procedures=procedures
            )
        )
    return simulators
