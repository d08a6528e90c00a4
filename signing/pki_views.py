"""HTTP face of the development PKI: RFC 3161 timestamps, CRLs and CA certificates (never in production).

Machines call these routes (pyHanko, Adobe Reader, validators), so POST /pki/tsa is CSRF-exempt: the app
lists "/pki/" in CSRF_EXEMPT_PREFIXES. In production the province's CA and TSA serve all of this.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from portal.kernel.deps import SettingsDep
from signing.pki import CA_NAMES, get_pki
from signing.tsa import DevTimeStamper

MAX_QUERY_BYTES = 16 * 1024  # a TimeStampReq is about 100 bytes; anything this large is not one


async def development_only(settings: SettingsDep) -> None:
    """The dev PKI's routes do not exist in production."""
    if settings.environment == "production":
        raise HTTPException(status_code=404)


router = APIRouter(prefix="/pki", include_in_schema=False, dependencies=[Depends(development_only)])


@router.post("/tsa")
async def timestamp(request: Request) -> Response:
    """RFC 3161 over HTTP: a DER TimeStampReq in, a TimeStampResp out (400 with a rejection for a bad query)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/timestamp-query":
        return PlainTextResponse("Content-Type must be application/timestamp-query\n", status_code=415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_QUERY_BYTES:
            return PlainTextResponse("A timestamp query is at most 16 KiB\n", status_code=413)
    pki = await run_in_threadpool(get_pki, request.app)
    reply = await run_in_threadpool(DevTimeStamper(pki).reply, bytes(body))
    return Response(
        reply.der,
        status_code=200 if reply.granted else 400,
        media_type="application/timestamp-reply",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/crl/{name}.crl")
def crl(name: str, request: Request) -> Response:
    """A fresh CRL of one CA (root, people, services)."""
    if name not in CA_NAMES:
        raise HTTPException(status_code=404)
    der = get_pki(request.app).crl_der(name)
    # Short caching: a revocation shows within a minute, yet a burst of validations costs one signature.
    return Response(der, media_type="application/pkix-crl", headers={"Cache-Control": "public, max-age=60"})


@router.get("/ca/{name}.cer")
def ca_certificate(name: str, request: Request) -> Response:
    """A CA certificate, DER (what certificates' AIA caIssuers points at)."""
    if name not in CA_NAMES:
        raise HTTPException(status_code=404)
    der = get_pki(request.app).ca_der(name)
    return Response(der, media_type="application/pkix-cert", headers={"Cache-Control": "public, max-age=3600"})
