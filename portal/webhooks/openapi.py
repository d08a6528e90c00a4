"""The OpenAPI document's `webhooks` section (OpenAPI 3.1): one operation per pushed event type, whose body is
the envelope {"type", "timestamp", "data"} with the event's registered payload model as `data`, and the three
Standard Webhooks headers. An integrator can generate a receiver from it."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from fastapi.responses import Response
from pydantic import BaseModel, Field, create_model

from portal.webhooks.events import EventType, event_types

HEADERS = {
    "webhook_id": (
        "webhook-id",
        "The event's id (msg_…): the same on every retry of this event. Deduplicate on it: a push may arrive "
        "more than once.",
    ),
    "webhook_timestamp": (
        "webhook-timestamp",
        "When this try was sent, in seconds since 1970-01-01 UTC. Refuse a timestamp more than 5 minutes "
        "away from your clock.",
    ),
    "webhook_signature": (
        "webhook-signature",
        "Space-separated `v1,<base64>` signatures: HMAC-SHA256, keyed with the base64-decoded part of your "
        "`whsec_` secret after the prefix, over `{webhook-id}.{webhook-timestamp}.{raw body}`. One signature per "
        "active secret (two during a rotation): accept the request if any one matches.",
    ),
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx answer acknowledges the event (its body is ignored)."},
    "default": {
        "description": "Any other answer, a redirect (never followed) or no answer within the timeout: the event "
        "is sent again later with the same webhook-id, with exponential back-off, then dead-lettered."
    },
}


def _model_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split(".")) + "Event"


def envelope_model(event: EventType) -> type[BaseModel]:
    """The body pushed for `event`: its type, when it happened and its data."""
    model: type[BaseModel] = create_model(
        _model_name(event.name),
        __doc__=event.description,
        type=(Literal[event.name], Field(description="The event type.")),  # type: ignore[arg-type]
        timestamp=(datetime, Field(description="When the event happened (RFC 3339, UTC).")),
        data=(event.model, Field(description="The event's data.")),
    )
    return model


def _receiver(event: EventType) -> Any:
    """A do-nothing endpoint whose signature is the webhook's request, for FastAPI to document."""

    def receive(**_: Any) -> None:
        return None

    parameters = [
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=envelope_model(event)),
        *(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str, Header(alias=alias, description=description)],
            )
            for name, (alias, description) in HEADERS.items()
        ),
    ]
    receive.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    return receive


def document_webhooks(app: FastAPI, events: list[EventType] | None = None) -> None:
    """Add one `webhooks` entry per registered event type (call after the domains registered theirs)."""
    for event in event_types() if events is None else events:
        app.webhooks.add_api_route(
            event.name,
            _receiver(event),
            methods=["POST"],
            summary=event.name,
            description=event.description,
            name=f"webhook:{event.name}",
            operation_id=event.name.replace(".", "_") + "_webhook",
            response_class=Response,
            tags=["webhooks"],
            responses=RESPONSES,
            status_code=200,
        )
