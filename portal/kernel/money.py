"""Amounts of money as the portal prints them: whole đồng, grouped the Vietnamese way."""

from __future__ import annotations

__all__ = ["NBSP", "format_vnd", "group_thousands"]

# Between a number and its unit: a line never breaks there ("15.000" at the end of one line and
# "đồng" at the start of the next reads as two things).
NBSP = "\u00a0"


def group_thousands(amount: int) -> str:
    """An amount grouped the Vietnamese way, without a unit: 1234567 → "1.234.567"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,}".replace(",", ".")


def format_vnd(amount: int) -> str:
    """Format an amount of đồng the Vietnamese way: 1234567 → "1.234.567 đồng" (a no-break space)."""
    return f"{group_thousands(amount)}{NBSP}đồng"
