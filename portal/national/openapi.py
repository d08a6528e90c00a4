"""The national report in the OpenAPI document's `webhooks` section: what the portal posts to the national
portal's receiver (docs/NATIONAL_REPORTING.md), so that a receiver can be generated from the document."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import Response

from portal.national.wire import Report

NAME = "national.report"

HEADERS = {
    "authorization": (
        "authorization",
        "`Bearer <token>` when the options give a token (PORTAL_NATIONAL_OPTIONS `token`).",
    ),
    "idempotency_key": (
        "idempotency-key",
        "The report's id (`MaBaoCao`): the same on every retry. Store each report once by it.",
    ),
    "x_dvc_timestamp": (
        "x-dvc-timestamp",
        "When this try was sent, in seconds since 1970-01-01 UTC (with an HMAC secret only).",
    ),
    "x_dvc_signature": (
        "x-dvc-signature",
        '`v1=` and the hex HMAC-SHA256, keyed with the shared secret, of `"{timestamp}.{MaBaoCao}."` followed by '
        "the raw body (with an HMAC secret only).",
    ),
}

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx: the report is taken (a report already stored answers 2xx too)."},
    "default": {
        "description": "A 4xx refuses the report, a 5xx, a redirect (never followed) or no answer within the timeout "
        "fails the try: the same report is sent again later, in order per dossier, and after the last try it is "
        "kept as a dead outbox message that an operator replays (`portal outbox replay ID`). Never dropped."
    },
}


def _receiver() -> Any:
    """A do-nothing endpoint whose signature is the report's request, for FastAPI to document."""

    def receive(**_: Any) -> None:
        return None

    parameters = [
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Report),
        *(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[str | None, Header(alias=alias, description=description)],
            )
            for name, (alias, description) in HEADERS.items()
        ),
    ]
    receive.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    return receive


def document_national_report(app: FastAPI) -> None:
    """Add the report posted to the national portal to the `webhooks` section."""
    app.webhooks.add_api_route(
        NAME,
        _receiver(),
        methods=["POST"],
        summary="Report to the National Public Service Portal",
        description="A dossier's status change or rating, posted through the outbox to the national portal's "
        "receiver (docs/NATIONAL_REPORTING.md). Not a back-office push: the national portal is the receiver.",
        name=f"webhook:{NAME}",
        operation_id="national_report_webhook",
        response_class=Response,
        tags=["national reporting"],
        responses=RESPONSES,
        status_code=200,
    )
