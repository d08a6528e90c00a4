"""Amounts of money as the portal prints them: whole đồng, grouped the Vietnamese way."""

from __future__ import annotations

__all__ = ["format_vnd"]


def format_vnd(amount: int) -> str:
    """Format an amount of đồng the Vietnamese way: 1234567 → "1.234.567 đồng"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,} đồng".replace(",", ".")
