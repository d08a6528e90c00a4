"""Numbers of postal orders and the tracking numbers the portal issues (UPU S10: "RP123456785VN").

Both come from `PostalCounter` rows, incremented by one statement (INSERT … ON CONFLICT DO UPDATE …
RETURNING): on PostgreSQL the row stays locked until the transaction ends, so two transactions never get
the same value; on SQLite the writer holds the database's lock.
"""

from __future__ import annotations

import re

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from portal.kernel.clock import local, utcnow
from postal.models import PostalCounter

__all__ = [
    "ORDER_PREFIX",
    "S10_COUNTRY",
    "S10_SERVICE",
    "is_s10",
    "next_order_number",
    "next_tracking_number",
    "next_value",
    "s10_check_digit",
    "s10_number",
]

# Orders: "BC" (bưu chính), the two digits of the local year, seven digits: BC260000123.
ORDER_PREFIX = "BC"
# Tracking numbers the portal issues: service indicator "RP" (registered, issued by the portal), "VN".
S10_SERVICE = "RP"
S10_COUNTRY = "VN"
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
S10_SERIES = "s10"
S10_MAX_SERIAL = 99_999_999
_S10 = re.compile(r"[A-Z]{2}([0-9]{8})([0-9])[A-Z]{2}")


def next_value(session: Session, series: str) -> int:
    """The next value of a counter (1 for a new series); concurrent callers never get the same value."""
    table = PostalCounter.__table__  # type: ignore[attr-defined]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(table)
        .values(series=series, value=1)
        .on_conflict_do_update(index_elements=["series"], set_={"value": table.c.value + 1})
        .returning(table.c.value)
    )
    return int(session.execute(stmt).scalar_one())


def next_order_number(session: Session) -> str:
    """The portal's number for a new order: "BC" + local year (2 digits) + 7 digits, e.g. BC260000123."""
    year = f"{local(utcnow()):%y}"
    return f"{ORDER_PREFIX}{year}{next_value(session, f'order-{year}'):07d}"


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number (weights 8 6 4 2 3 5 9 7, modulo 11)."""
    if not re.fullmatch(r"[0-9]{8}", serial):
        raise ValueError(f"an S10 serial number has 8 digits: {serial!r}")
    check = 11 - sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_number(serial: int, *, service: str = S10_SERVICE, country: str = S10_COUNTRY) -> str:
    """The S10 identifier of a serial number: service indicator, 8 digits, check digit, country code."""
    if not 0 <= serial <= S10_MAX_SERIAL:
        raise ValueError(f"an S10 serial number is 0..{S10_MAX_SERIAL}: {serial}")
    digits = f"{serial:08d}"
    return f"{service}{digits}{s10_check_digit(digits)}{country}"


def is_s10(value: str) -> bool:
    """Whether a string is a well-formed S10 identifier with a correct check digit."""
    match = _S10.fullmatch(value)
    return bool(match) and s10_check_digit(match.group(1)) == int(match.group(2))  # type: ignore[union-attr]


def next_tracking_number(session: Session) -> str:
    """A new tracking number issued by the portal (for an operator that claims without its own)."""
    serial = next_value(session, S10_SERIES)
    if serial > S10_MAX_SERIAL:
        raise RuntimeError("the portal's S10 tracking numbers are exhausted")
    return s10_number(serial)
