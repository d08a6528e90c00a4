"""Outbox handlers of the national reporting."""

from __future__ import annotations
