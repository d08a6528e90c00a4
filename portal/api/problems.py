"""The error shape of `/api/v1` in the OpenAPI document: RFC 9457 problem details, one schema for every 4xx.

`auth.bearer.PartnerAPIRoute` renders the errors; this module only describes them, so that a client
generated from `/api/openapi.json` knows the body of each refusal a route can give.
"""

from __future__ import annotations

from typing import Any

from portal.kernel.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    FieldError,
    ProblemDetails,
    inlined_schema,
)

__all__ = [
    "CHANGE",
    "COMMON",
    "DOSSIER",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SCHEMA",
    "FieldError",
    "ProblemDetails",
    "inlined_schema",
    "problem",
    "problems",
]

_WHEN: dict[int, str] = {
    400: "A body that cannot be read (a broken multipart, text that is not UTF-8)",
    401: "No, an invalid, an expired or a revoked access token",
    403: "The token lacks the scope of this route",
    404: "No such dossier (or file) for this client: another agency's dossier is a 404 too",
    409: "The dossier's state does not allow it, or a request with the same Idempotency-Key is in progress",
    413: "A file larger than the portal accepts for one document",
    415: "A file that is not a PDF, JPEG or PNG (judged by its content)",
    422: "Invalid parameters or body, or an Idempotency-Key reused with another request",
    429: "Too many requests from this address (see Retry-After)",
}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of one error status."""
    return {
        "description": description or _WHEN[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of these error statuses, each with the problem-details schema."""
    return {status: problem(status) for status in statuses}


# What every partner route can answer: a refused token, a missing scope, bad input, too many requests.
COMMON = problems(401, 403, 422, 429)
# A route about one dossier adds 404; one that changes it adds 409, and 400 for a body that cannot be parsed.
DOSSIER = problems(404)
CHANGE = problems(400, 404, 409)
