"""Reporting upward to the National Public Service Portal: status changes and ratings through the outbox."""
