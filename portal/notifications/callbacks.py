"""Delivery-status callbacks of the SMS and Zalo providers (each plugin module has its router)."""

from __future__ import annotations

from fastapi import APIRouter

from portal.notifications import sms, zalo

router = APIRouter()
router.include_router(sms.router)
router.include_router(zalo.router)
