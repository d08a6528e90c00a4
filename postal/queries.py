"""Read-side queries of postal orders: the operators' paged listing of open orders."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from postal.models import PostalOrder


@dataclass(frozen=True)
class Page:
    """One page of orders and the opaque cursor of the next page (None at the end)."""

    orders: list[PostalOrder]
    next_cursor: str | None


def open_orders(
    session: Session,
    *,
    operator: str,
    kind: str | None = None,
    status: str | None = None,
    province: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    raise NotImplementedError
