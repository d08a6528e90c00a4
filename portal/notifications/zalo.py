"""The zalo channel's plugins and its provider's delivery-status callback (issue 14)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
