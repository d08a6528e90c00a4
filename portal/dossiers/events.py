"""What the dossier workflow announces in the transaction that made the change (`portal.kernel.events`).

Modules that react to a step without the step knowing them subscribe to these: the postal orders made at
submission and when the result is ready (`parcels.py`), the visits cancelled when the dossier closes
(`visit_links.py`), which `service.py` and `lifecycle.py` cannot import (those modules import them:
import-linter keeps the modules of one package acyclic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portal.dossiers.models import Dossier, DossierResult


@dataclass(frozen=True)
class Submitted:
    """A draft was submitted online (once: it has its code now)."""

    dossier: Dossier


@dataclass(frozen=True)
class ResultIssued:
    """The agency issued the dossier's result documents: the dossier is RESULT_READY (once)."""

    dossier: Dossier
    results: Sequence[DossierResult]


@dataclass(frozen=True)
class Closed:
    """The dossier left the workflow (once): withdrawn, rejected, or completed with its `handover` (online,
    centre, post). The visits it still had booked are cancelled (`visit_links.py`)."""

    dossier: Dossier
    status: str  # a DossierStatus: WITHDRAWN, REJECTED or COMPLETED
    handover: str | None = None


@dataclass(frozen=True)
class Moved:
    """The dossier's status changed (`service.move_status`, once per change): a linked application's parent
    follows its children (`linked.py`)."""

    dossier: Dossier
    previous: str  # the DossierStatus it left
