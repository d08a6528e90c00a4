"""What every `/api/v1` route shares: the partner dependencies, the route class and the idempotency check."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from auth.bearer import Partner, PartnerAPIRoute, require_partner
from portal.api import idempotency
from portal.api.idempotency import HEADER, KEY_PATTERN, REPLAYED_HEADER, Idempotency, Replayed
from portal.audit.access import act_as, partner_actor
from portal.kernel.db import SessionDep

# One dependency per scope, shared by the routes and their idempotency check (FastAPI runs it once a request).
backoffice_partner = require_partner("backoffice")
postal_partner = require_partner("postal")


def _acting(partner: Partner, session: Session, purpose: str | None) -> Partner:
    """Name the client as the request's actor: its reads and the status changes it makes are audited under it."""
    act_as(
        session,
        partner_actor(
            session,
            client_id=partner.client_id,
            scope=partner.scope,
            agency_code=partner.agency_code,
            postal_operator=partner.postal_operator,
            purpose=purpose,
            name=partner.name,
        ),
    )
    return partner


# The partner is a default, not in `Annotated[...]`: with postponed annotations FastAPI could not see it.
def acting_backoffice(session: SessionDep, partner: Partner = Depends(backoffice_partner)) -> Partner:
    return _acting(partner, session, "processing")


def acting_postal(session: SessionDep, partner: Partner = Depends(postal_partner)) -> Partner:
    return _acting(partner, session, None)  # pickup or delivery: each read names the order's


BackOffice = Annotated[Partner, Depends(acting_backoffice)]
PostalOperator = Annotated[Partner, Depends(acting_postal)]


class PartnerRoute(PartnerAPIRoute):
    """A partner route (problem details for every refusal) that also sends kept answers of repeated POSTs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def replaying_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Replayed as exc:
                record = exc.record
                return JSONResponse(
                    idempotency.replay_body(record),
                    status_code=record.status_code,
                    media_type=record.content_type,
                    headers={REPLAYED_HEADER: "true", "Cache-Control": "no-store"},
                )

        return replaying_handler


def partner_idempotency(partner_dependency: Callable[..., Partner], scope: str) -> Callable[..., Idempotency]:
    """The idempotency of a partner POST of one scope, scoped to the calling client."""

    # The partner is a default, not in `Annotated[...]`: with postponed annotations FastAPI could not see it.
    def dependency(
        request: Request,
        session: SessionDep,
        request_hash: Annotated[str, Depends(idempotency.fingerprint)],
        key: Annotated[
            str | None,
            Header(
                alias=HEADER,
                pattern=KEY_PATTERN,
                description="Optional. A unique key per intended action (a UUID): a retry with the same key and "
                "the same request gets the first answer again (header `Idempotent-Replayed: true`); the same key "
                "with another request is 422.",
            ),
        ] = None,
        partner: Partner = Depends(partner_dependency),
    ) -> Idempotency:
        return idempotency.begin(
            session,
            principal=partner.client_id,
            key=key,
            request_hash=request_hash,
            method=request.method,
            path=request.url.path,
        )

    dependency.__name__ = f"{scope}_idempotency"
    return dependency


backoffice_idempotency = partner_idempotency(backoffice_partner, "backoffice")
postal_idempotency = partner_idempotency(postal_partner, "postal")
IdempotencyDep = Annotated[Idempotency, Depends(backoffice_idempotency)]
PostalIdempotencyDep = Annotated[Idempotency, Depends(postal_idempotency)]
