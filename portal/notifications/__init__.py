"""Notifications to citizens: one row per event (deduplicated), sent once by the outbox worker."""
