"""Stored form definitions: every version stays, so drafts keep the version they started on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class FormVersion(SQLModel, table=True):
    """One version of one form definition, as loaded from forms/definitions/."""

    form_id: str = Field(primary_key=True, max_length=80)
    version: int = Field(primary_key=True)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    sha256: str = Field(max_length=64)
