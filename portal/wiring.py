"""Every module that registers something on import: outbox handlers, periodic jobs, event subscribers,
lookups and the functions the domains provide to the packages below them.

The composition root (the app, the worker and the CLI) imports this module once; nothing else needs to
remember which module registers what.
"""

from __future__ import annotations

# Outbox handlers and the reconciliation job.
import payments.tasks

# The purge of expired Idempotency-Key answers (periodic).
import portal.api.idempotency

# The daily seal of the audit chain (periodic).
import portal.audit.seal

# Provides to auth the businesses an account represents.
import portal.businesses.service

# Provides to auth the agency check of back-office clients.
import portal.catalog.service

# Every status change of a dossier is an audit event (who moved it, from what to what).
import portal.dossiers.audit_trail

# Registers the dossier as an order kind of payments.
import portal.dossiers.billing

# The overdue job (periodic).
import portal.dossiers.deadline

# Lookups of issued documents for /verify.
import portal.dossiers.issued

# Linked applications: children created at submission, dependents released by results, the parent following.
import portal.dossiers.linked

# Subscribers of the postal events; postal orders made at submission and when the result is ready.
import portal.dossiers.parcels

# Subscribers of the payment events.
import portal.dossiers.payment_events

# The event types pushed to back-offices (their payload models, for the OpenAPI `webhooks` section).
import portal.dossiers.pushes

# Results and kept uploads go into the personal document store.
import portal.dossiers.store_links

# Outbox handlers.
import portal.dossiers.tasks

# Cancels the visits of a dossier withdrawn, rejected or handed over online or by post.
import portal.dossiers.visit_links

# Reports of status changes and ratings to the national portal (outbox handlers).
import portal.national.tasks

# Outbox handlers.
import portal.notifications.tasks

# Provides to auth the unread count shown in the page header.
import portal.notifications.views

# The statistics' daily roll-up (periodic) and the days it marks when a pickup changes.
import portal.stats.rollup
import portal.webhooks.tasks

# Postal operators served by push: orders posted through the outbox, tracking polled (periodic).
import postal.tasks

__all__ = ["payments", "portal", "postal"]
