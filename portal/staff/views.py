"""(being written: see /work/team/ISSUE16.md)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
