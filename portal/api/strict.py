"""Strict parsing of dates, instants and statuses in `/api/v1`: one spelling each, as documented.

pydantic's lax mode takes `0` as a date (the epoch) and `0.5` as an instant; a partner sending those has a bug
that should surface as 422, not as a silently wrong filter.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator

from portal.dossiers.models import DossierStatus

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339 §5.6 date-time: a time zone is required (Z or ±hh:mm).
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


# Dates outside these bounds mean nothing here, and a day's local bounds or the next day would overflow.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9998, 12, 31)


def _strict_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("a date must be written YYYY-MM-DD")
    else:
        parsed = date.fromisoformat(value)
    if not MIN_DATE <= parsed <= MAX_DATE:
        raise ValueError(f"a date must be between {MIN_DATE} and {MAX_DATE}")
    return parsed


def _strict_instant(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None and MIN_DATE <= value.date() <= MAX_DATE:
        return value
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise ValueError("an instant must be RFC 3339 with a time zone, e.g. 2026-01-05T08:00:00+07:00 or …Z")
    fraction = re.search(r"\.(\d+)", value)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds
        value = value.replace(fraction.group(0), "." + fraction.group(1)[:6], 1)
    parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    if not MIN_DATE <= parsed.date() <= MAX_DATE:
        raise ValueError(f"an instant must be between {MIN_DATE} and {MAX_DATE}")
    return parsed


StrictDate = Annotated[date, BeforeValidator(_strict_date)]
StrictInstant = Annotated[datetime, BeforeValidator(_strict_instant)]


class PartnerStatus(StrEnum):
    """The statuses a back-office can see (a draft never leaves the applicant's hands; a linked member waiting
    for another member's result is not filed with its agency yet)."""

    SUBMITTED = DossierStatus.SUBMITTED.value
    RECEIVED = DossierStatus.RECEIVED.value
    IN_PROCESS = DossierStatus.IN_PROCESS.value
    SUPPLEMENT_REQUESTED = DossierStatus.SUPPLEMENT_REQUESTED.value
    RESULT_CHECK = DossierStatus.RESULT_CHECK.value
    RESULT_READY = DossierStatus.RESULT_READY.value
    COMPLETED = DossierStatus.COMPLETED.value
    REJECTED = DossierStatus.REJECTED.value
    WITHDRAWN = DossierStatus.WITHDRAWN.value
