"""`portal audit verify` and `portal audit export --day` (docs/AUDIT.md)."""

from __future__ import annotations

import click


@click.group()
def audit() -> None:
    """The tamper-evident audit trail."""
