"""The citizen's notification preferences page, and the development page of what each channel sent."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
