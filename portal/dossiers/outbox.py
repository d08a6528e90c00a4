"""The dossier workflow's outbox messages: the JSON each topic stores, as a typed model."""

from __future__ import annotations

from typing import ClassVar

from portal.kernel.outbox import OutboxPayload


class DossierSubmitted(OutboxPayload):
    """A dossier was submitted: build and store its receipt."""

    topic: ClassVar[str] = "dossier.submitted"

    dossier_id: str
