"""Every table, imported in one place for Alembic and the app."""

from auth.models import Account
from forms.models import FormVersion
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierEvent, DossierFile, DossierSequence
from portal.kernel.outbox import OutboxMessage

__all__ = [
    "Account",
    "Agency",
    "Dossier",
    "DossierEvent",
    "DossierFile",
    "DossierSequence",
    "FormVersion",
    "OutboxMessage",
    "Procedure",
]
