"""The error shape of `/api/v1` in the OpenAPI document: RFC 9457 problem details, one schema for every 4xx.

`auth.bearer.PartnerAPIRoute` renders the errors; this module only describes them, so that a client
generated from `/api/openapi.json` knows the body of each refusal a route can give.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One invalid parameter or body field of a 422."""

    loc: list[str | int] = Field(description="Where: query, path, header or body, then the field names.")
    msg: str | None = None
    type: str | None = None


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: English texts, never cached (`Cache-Control: no-store`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(default="about:blank", description="Always about:blank: `status` and `title` say what it is.")
    title: str = Field(description="The kind of refusal: Unauthorized, Not found, Conflict, Invalid request, …")
    status: int = Field(description="The HTTP status, repeated.")
    detail: str | None = Field(default=None, description="What went wrong, for a person reading the log.")
    error: str | None = Field(
        default=None, description="401/403 only: the OAuth error code (invalid_token, insufficient_scope)."
    )
    errors: list[FieldError] | None = Field(default=None, description="422 of invalid input only: each bad field.")


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


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` put in place (a response schema cannot point at them)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


def inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema without `$defs`, for places that cannot point into components."""
    return _inlined(model.model_json_schema())


# Inline, titled ProblemDetails: FastAPI would also document a `model=` response as application/json,
# which these answers never are.
PROBLEM_SCHEMA = _inlined(ProblemDetails.model_json_schema())


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
