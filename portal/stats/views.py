"""The public statistics page /stats (no sign-in), its CSV export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
