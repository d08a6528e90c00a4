"""Assurance levels: a level-1 sign-in cannot start or submit a level-2 procedure, and loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.app import create_app
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.settings import Settings
from tests.conftest import csrf, signup
from tests.factories import MARITAL
from tests.web.flow import fill_marital

pytestmark = pytest.mark.db
PARTIAL = "1.000894"  # marriage registration: partial online, level 1 is enough


@pytest.fixture()
def level1(settings: Settings) -> Iterator[TestClient]:
    """The default of a real portal: a portal account signs in at level 1."""
    app = create_app(settings.model_copy(update={"local_account_level": 1}))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_full_online_procedure_needs_level_2(level1: TestClient) -> None:
    signup(level1)
    page = level1.get(f"/procedures/{MARITAL}")
    assert 'id="level-notice"' in page.text
    r = level1.post(f"/procedures/{MARITAL}/start", data={"csrf_token": csrf(level1, f"/procedures/{MARITAL}")})
    assert r.status_code == 403
    assert 'id="step-up"' in r.text and 'action="/auth/oidc/login"' in r.text
    assert 'name="level" value="2"' in r.text and f'value="/procedures/{MARITAL}"' in r.text
    # The way forward is a real SSO request for level 2, coming back to the procedure.
    go = level1.get("/auth/oidc/login", params={"level": 2, "next": f"/procedures/{MARITAL}"})
    query = parse_qs(urlsplit(go.headers["location"]).query)
    assert query["acr_values"] == ["urn:dvc:loa:2"] and query["prompt"] == ["login"]


def test_htmx_start_is_sent_to_the_step_up_sign_in(level1: TestClient) -> None:
    signup(level1)
    token = csrf(level1, f"/procedures/{MARITAL}")
    r = level1.post(f"/procedures/{MARITAL}/start", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 204
    assert r.headers["hx-redirect"].startswith("/signin?level=2&next=")


def test_partial_procedure_is_open_at_level_1(level1: TestClient) -> None:
    signup(level1)
    page = level1.get(f"/procedures/{PARTIAL}")
    assert page.status_code == 200 and 'id="level-notice"' not in page.text
    r = level1.post(f"/procedures/{PARTIAL}/start", data={"csrf_token": csrf(level1, f"/procedures/{PARTIAL}")})
    assert r.status_code == 303


def test_submit_below_the_level_keeps_the_draft_and_the_delivery_choice(
    app: object, settings: Settings, db: Session
) -> None:
    # A draft started at level 2 (the shared test app's portal accounts are level 2) ...
    strong = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    login = signup(strong)
    dossier_id = fill_marital(strong)
    # ... then the same account signs in on a portal that gives portal accounts level 1 only.
    weak_app = create_app(settings.model_copy(update={"local_account_level": 1}))
    with TestClient(weak_app, follow_redirects=False) as weak:
        token = csrf(weak, "/signin")
        r = weak.post("/signin", data={"csrf_token": token, "login": login, "password": "mat-khau-rat-dai-2026"})
        assert r.status_code == 303
        r = weak.post(
            f"/dossiers/{dossier_id}/submit",
            data={"csrf_token": csrf(weak, f"/dossiers/{dossier_id}/review"), "delivery_method": "online"},
        )
        assert r.status_code == 403 and 'id="step-up"' in r.text
        assert f'value="/dossiers/{dossier_id}/review"' in r.text
        assert weak.get(f"/dossiers/{dossier_id}/review").status_code == 200
    db.rollback()
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None
    assert dossier.status == DossierStatus.DRAFT and dossier.code is None
    assert dossier.delivery_method == "online" and dossier.data  # nothing entered is lost
