"""Every table, imported in one place for Alembic and the app."""

import portal.stats.query  # noqa: F401  (declares the statistics indexes on the dossier tables, for Alembic)
from auth.clients import ApiClient
from auth.models import Account, ExternalIdentity, UserSession
from auth.staff_models import StaffMember, StaffSession
from forms.models import FormVersion
from payments.models import Payment, PaymentEvent, PaymentReceipt, ReceiptSequence, Refund
from portal.businesses.models import Business, Representative
from portal.catalog.models import Agency, Procedure
from portal.documents.models import StoredDocument
from portal.dossiers.models import (
    Dossier,
    DossierApology,
    DossierChangeCounter,
    DossierEvent,
    DossierFile,
    DossierPause,
    DossierRating,
    DossierResult,
    DossierSequence,
    SupplementRequest,
)
from portal.feedback.models import Feedback
from portal.kernel.audit import AuditEvent, AuditHead, AuditSeal
from portal.kernel.idempotency import IdempotencyRecord
from portal.kernel.outbox import OutboxMessage
from portal.notifications.models import Notification, NotificationDelivery, NotificationPreference, ProviderCallback
from portal.stats.models import StatsDay, StatsDayState
from portal.visits.models import Visit, VisitCounter
from portal.webhooks.models import WebhookAttempt, WebhookEndpoint
from postal.models import DeliveryProof, PostalCounter, PostalEvent, PostalOrder
from signing.models import SigningCredential

__all__ = [
    "Account",
    "Agency",
    "ApiClient",
    "AuditEvent",
    "AuditHead",
    "AuditSeal",
    "Business",
    "DeliveryProof",
    "Dossier",
    "DossierApology",
    "DossierChangeCounter",
    "DossierEvent",
    "DossierFile",
    "DossierPause",
    "DossierRating",
    "DossierResult",
    "DossierSequence",
    "ExternalIdentity",
    "Feedback",
    "FormVersion",
    "IdempotencyRecord",
    "Notification",
    "NotificationDelivery",
    "NotificationPreference",
    "OutboxMessage",
    "Payment",
    "PaymentEvent",
    "PaymentReceipt",
    "PostalCounter",
    "PostalEvent",
    "PostalOrder",
    "Procedure",
    "ProviderCallback",
    "ReceiptSequence",
    "Refund",
    "Representative",
    "SigningCredential",
    "StaffMember",
    "StaffSession",
    "StatsDay",
    "StatsDayState",
    "StoredDocument",
    "SupplementRequest",
    "UserSession",
    "Visit",
    "VisitCounter",
    "WebhookAttempt",
    "WebhookEndpoint",
]
