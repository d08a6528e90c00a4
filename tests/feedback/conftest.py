"""An app of its own for the feedback tests: every test request comes from one address, so the per-address limits
of filing and lookup are raised here (tests/feedback/test_filing.py checks the limit on an app with a low one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.app import create_app
from portal.kernel.settings import Settings

RAISED = {"feedback:ip": "1000000/60", "feedback_lookup:ip": "1000000/60", "signup:ip": "1000000/60"}


@pytest.fixture(scope="module")
def fb_app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, **RAISED}}))
    with TestClient(application):
        yield application


@pytest.fixture()
def fb_client(fb_app: FastAPI) -> TestClient:
    return TestClient(fb_app, follow_redirects=False)


@pytest.fixture()
def fb_db(fb_app: Any) -> Iterator[Session]:
    with Session(fb_app.state.engine) as session:
        yield session
