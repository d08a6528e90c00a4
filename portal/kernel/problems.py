"""RFC 9457 problem details in OpenAPI: the one schema every documented 4xx of the portal's machine routes uses.

The responses themselves are rendered elsewhere (`auth.bearer.problem_response`, the app's DomainError
handler); this module only describes them, and sits in the kernel so that any layer's routes can.
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
