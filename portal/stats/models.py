"""The daily roll-up of the statistics: additive counts per local day, agency and procedure.

`/stats` over a year reads a few thousand of these rows instead of a million dossiers (docs/STATISTICS.md,
"The daily roll-up"). Only settled days are rolled up (before yesterday); a day whose data changed since it was
built is read from the dossiers again until the worker builds it anew.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from portal.kernel.types import UTCDateTime

# The additive measures of one day, agency and procedure, in this order everywhere (rollup.MEASURES).
MEASURE_COLUMNS = (
    "received",
    "received_online",
    "received_pickup",
    "received_counter",
    "supplemented",
    "resolved",
    "early",
    "on_time",
    "late",
    "rejected",
    "withdrawn",
    "by_post",
    "fees_paid",
    "fees_refunded",
    "ratings",
    "reception_sum",
    "reception_n",
    "guidance_sum",
    "guidance_n",
    "result_correct_sum",
    "result_correct_n",
    "on_time_sum",
    "on_time_n",
    "fees_as_announced_sum",
    "fees_as_announced_n",
)


class StatsDay(SQLModel, table=True):
    """One local day's counts for one agency and procedure (rows only where something happened)."""

    day: date = Field(primary_key=True)
    agency_code: str = Field(primary_key=True, max_length=10)
    procedure_code: str = Field(primary_key=True, max_length=20)
    received: int = 0  # by the local day of reception, as the four below
    received_online: int = 0
    received_pickup: int = 0
    received_counter: int = 0
    supplemented: int = 0  # received that day and asked for a supplement (then or later)
    resolved: int = 0  # by the local day of the result, as early, on time and late
    early: int = 0
    on_time: int = 0
    late: int = 0
    rejected: int = 0  # by the day of the event
    withdrawn: int = 0
    by_post: int = 0  # completed that day with a handover by post
    fees_paid: int = Field(default=0, sa_type=BigInteger)  # đồng settled that day
    fees_refunded: int = Field(default=0, sa_type=BigInteger)
    ratings: int = 0  # ratings given that day, and per criterion the sum of scores and how many scored it
    reception_sum: int = 0
    reception_n: int = 0
    guidance_sum: int = 0
    guidance_n: int = 0
    result_correct_sum: int = 0
    result_correct_n: int = 0
    on_time_sum: int = 0
    on_time_n: int = 0
    fees_as_announced_sum: int = 0
    fees_as_announced_n: int = 0


class StatsDayState(SQLModel, table=True):
    """Whether a day's roll-up rows are current: `built` equals `changes` (a change to the day's data since bumps
    `changes`, and the day is read from the dossiers until it is built again)."""

    day: date = Field(primary_key=True)
    changes: int = 0
    built: int | None = None
    built_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
