"""Domain errors carry their HTTP status and a translatable message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """A user-facing refusal: rendered as a page, an HTMX fragment or RFC 9457 JSON."""

    status_code = 400
    title = "Request refused"

    def __init__(self, msgid: str, params: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = dict(params or {})
        if status_code is not None:
            self.status_code = status_code


class NotFound(DomainError):
    status_code = 404
    title = "Not found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"


class Invalid(DomainError):
    status_code = 422
    title = "Invalid input"


class Forbidden(DomainError):
    status_code = 403
    title = "Forbidden"


class SignInRequired(Exception):
    """Raised by dependencies when a page needs a signed-in account."""
