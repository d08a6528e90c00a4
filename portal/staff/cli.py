"""`portal staff add|list|disable|reset-totp`: staff accounts made by the operator (docs/STAFF.md)."""

from __future__ import annotations

import click


@click.group()
def staff() -> None:
    """Staff accounts of the console."""
