"""The public statistics as JSON (no sign-in; in OpenAPI)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
