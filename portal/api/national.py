"""The national status codes, for the partner API (the mapping lives in portal/national/codes.py, below the
dossier domain, so that the national reporting can use it too)."""

from __future__ import annotations

from portal.national.codes import (
    DONE,
    IN_PROCESS,
    NOT_RECEIVED,
    RECEIVED,
    RETURNED,
    STOPPED,
    SUBMITTED,
    SUPPLEMENT,
    WITHDRAWN,
    NationalStatus,
    national_status,
    table,
)

__all__ = [
    "DONE",
    "IN_PROCESS",
    "NOT_RECEIVED",
    "RECEIVED",
    "RETURNED",
    "STOPPED",
    "SUBMITTED",
    "SUPPLEMENT",
    "WITHDRAWN",
    "NationalStatus",
    "national_status",
    "table",
]
