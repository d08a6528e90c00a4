"""The token endpoint and /api/v1 over HTTP: credentials, scopes, bindings, refusals and their audit trail."""

from __future__ import annotations

import secrets
import time
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlmodel import Session, col, select

from auth.client_service import create_client, issue_access_token, revoke, rotate_secret
from auth.clients import ApiClient
from auth.models import Account
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.audit import AuditEvent
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.ratelimit import make_limiter

pytestmark = pytest.mark.db

UBXA_PROC = "1.001193"  # Đăng ký khai sinh, UBXA (delivery online/centre/post)
STC_PROC = "2.001610"  # Đăng ký doanh nghiệp tư nhân, STC


def new_client(app, scope: str = "backoffice", *, agency: str = "UBXA", operator: str = "vnpost") -> tuple[str, str]:
    with Session(writer(app.state.engine)) as s:
        row, secret = create_client(
            s,
            name=f"test {scope}",
            scope=scope,
            agency_code=agency if scope == "backoffice" else None,
            postal_operator=operator if scope == "postal" else None,
        )
        s.commit()
        return row.id, secret


def make_dossier(
    app,
    *,
    procedure: str = UBXA_PROC,
    agency: str = "UBXA",
    status: str = DossierStatus.SUBMITTED,
    delivery: str = "centre",
    applicant: str = "Trần Văn Bình",
    files: int = 0,
) -> Dossier:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        account = Account(full_name=applicant, email=f"{secrets.token_hex(6)}@example.vn")
        s.add(account)
        s.flush()
        submitted = status != DossierStatus.DRAFT
        dossier = Dossier(
            procedure_code=procedure,
            agency_code=agency,
            applicant_id=account.id,
            status=status,
            form_id="test-form",
            form_version=1,
            data={"full_name": applicant, "child_name": "Trần Thị An"},
            delivery_method=delivery,
            code=f"{agency}-T-{secrets.token_hex(5)}" if submitted else None,
            submitted_at=utcnow() if submitted else None,
            due_date=date(2031, 3, 14) if submitted else None,
        )
        s.add(dossier)
        s.flush()
        for i in range(files):
            s.add(
                DossierFile(
                    dossier_id=dossier.id,
                    component_id="to-khai",
                    filename=f"to-khai-{i}.pdf",
                    storage_key=f"dossiers/{dossier.id}/{i}.pdf",
                    sha256="ab" * 32,
                    original_media_type="application/pdf",
                    size=1234 + i,
                    pages=1,
                )
            )
        s.commit()
        return dossier


def get_token(client: TestClient, client_id: str, secret: str, **form: str) -> str:
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", **form}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit(app, kind: str, client_id: str) -> list[AuditEvent]:
    with Session(app.state.engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(col(AuditEvent.kind) == kind, col(AuditEvent.client_id) == client_id)
                .order_by(col(AuditEvent.id))
            )
        )


def get_row(app, client_id: str) -> ApiClient:
    with Session(app.state.engine) as s:
        row = s.get(ApiClient, client_id)
        assert row is not None
        return row


# -- the token endpoint ---------------------------------------------------------------------------------


def test_token_with_basic_auth(client: TestClient, app, settings) -> None:
    client_id, secret = new_client(app)
    before = int(time.time())
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "backoffice"
    assert body["expires_in"] == settings.partner_token_minutes * 60 == 600
    assert r.headers["cache-control"] == "no-store"
    # A JWT anyone can read (it holds nothing secret); only the portal can sign one.
    payload = _unverified_claims(body["access_token"])
    assert payload["iss"] == "http://testserver" and payload["aud"] == "http://testserver/api/v1"
    assert payload["sub"] == client_id and payload["scope"] == "backoffice" and payload["agency"] == "UBXA"
    assert "postal_operator" not in payload and payload["jti"]
    assert before <= payload["iat"] and payload["exp"] - payload["iat"] == 600
    [entry] = audit(app, "partner.token", client_id)
    assert entry.outcome == "ok" and entry.detail["jti"] == payload["jti"] and entry.ip == "testclient"
    assert secret not in str(entry.detail) and body["access_token"] not in str(entry.detail)


def _unverified_claims(token: str) -> dict[str, Any]:
    import base64
    import json

    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_token_with_post_auth_and_explicit_scope(client: TestClient, app) -> None:
    client_id, secret = new_client(app, "postal")
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "postal"},
    )
    assert r.status_code == 200, r.text
    claims = _unverified_claims(r.json()["access_token"])
    assert claims["postal_operator"] == "vnpost" and "agency" not in claims


def test_wrong_secret_is_401_and_nothing_is_issued(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret + "x"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client" and "access_token" not in r.json()
    assert r.headers["www-authenticate"].startswith("Basic ")
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    entries = audit(app, "partner.token", client_id)
    assert [(e.outcome, e.detail["reason"]) for e in entries] == [("refused", "wrong_secret")] * 2


def test_unknown_client(client: TestClient, app) -> None:
    claimed = f"bo-ubxa-{secrets.token_hex(4)}"
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(claimed, "whatever"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    [entry] = audit(app, "partner.token", claimed)
    assert entry.outcome == "refused" and entry.detail["reason"] == "unknown_client"


def test_no_credentials(client: TestClient, app) -> None:
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_revoked_client_gets_no_token_and_its_tokens_stop_working(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    token = get_token(client, client_id, secret)
    assert client.get("/api/v1/backoffice/dossiers", headers=bearer(token)).status_code == 200
    with Session(writer(app.state.engine)) as s:
        revoke(s, client_id)
        s.commit()
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client.get("/api/v1/backoffice/dossiers", headers=bearer(token))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert audit(app, "partner.token", client_id)[-1].detail["reason"] == "revoked"
    refused = audit(app, "partner.api", client_id)
    assert refused[-1].outcome == "refused" and refused[-1].detail["reason"] == "revoked"


def test_rotation_refuses_the_old_secret_at_once(client: TestClient, app) -> None:
    client_id, old = new_client(app)
    issued_before = get_token(client, client_id, old)
    with Session(writer(app.state.engine)) as s:
        new = rotate_secret(s, client_id)
        s.commit()
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, old))
    assert r.status_code == 401
    token = get_token(client, client_id, new)
    assert client.get("/api/v1/backoffice/dossiers", headers=bearer(token)).status_code == 200
    # Documented: a token issued before the rotation stays valid until it expires.
    assert client.get("/api/v1/backoffice/dossiers", headers=bearer(issued_before)).status_code == 200


def test_wrong_grant_type(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    r = client.post(
        "/oauth/token", data={"grant_type": "password", "username": "a", "password": "b"}, auth=(client_id, secret)
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = client.post("/oauth/token", data={}, auth=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    reasons = [e.detail["reason"] for e in audit(app, "partner.token", client_id)]
    assert reasons == ["unsupported_grant_type", "unsupported_grant_type"]


@pytest.mark.parametrize(
    ("scope", "reason"),
    [("postal", "scope_not_allowed"), ("admin", "unknown_scope"), ("backoffice postal", "scope_not_allowed")],
)
def test_scope_not_allowed(client: TestClient, app, scope: str, reason: str) -> None:
    client_id, secret = new_client(app)
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope}, auth=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    [entry] = audit(app, "partner.token", client_id)
    assert entry.outcome == "refused" and entry.detail["reason"] == reason


def test_body_that_is_not_a_form(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    r = client.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = client.post("/oauth/token", files={"f": ("a.txt", b"x")}, auth=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_token_requests_are_rate_limited_per_ip(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    # The shared test settings lift the per-address limits; this test puts back a small one. (Not with
    # monkeypatch: it cannot restore an attribute of Starlette's `State`, which lives outside `__dict__`.)
    shared = app.state.limiter
    app.state.limiter = make_limiter("", {"token:ip": "2/60"})
    try:
        for _ in range(2):
            r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert r.status_code == 200
        r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    finally:
        app.state.limiter = shared
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["error"] == "rate_limited" and r.headers["cache-control"] == "no-store"
    assert [e.outcome for e in audit(app, "partner.token", client_id)] == ["ok", "ok"]


# -- bearer tokens on /api/v1 ---------------------------------------------------------------------------


def test_no_token_is_401_with_a_challenge(client: TestClient, app) -> None:
    r = client.get("/api/v1/backoffice/dossiers")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer realm=")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401 and r.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic YTpi",
        "Bearer a b",
        "Bearer ©".encode("latin-1"),
        "bearer not.a.jwt",
        "Bearer e30.e30.e30",
    ],
)
def test_malformed_authorization_header(client: TestClient, header: str | bytes) -> None:
    r = client.get("/api/v1/backoffice/dossiers", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.headers["content-type"].startswith("application/problem+json")


def test_expired_token(client: TestClient, app, settings) -> None:
    client_id, _ = new_client(app)
    old = issue_access_token(get_row(app, client_id), settings, now=utcnow() - timedelta(hours=1))
    r = client.get("/api/v1/backoffice/dossiers", headers=bearer(old.access_token))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"] and "expired" in r.json()["detail"]
    [entry] = audit(app, "partner.api", client_id)
    assert entry.outcome == "refused" and entry.detail["reason"] == "expired"
    # Within the 30 s leeway a just-expired token still passes.
    recent = issue_access_token(
        get_row(app, client_id), settings, now=utcnow() - timedelta(minutes=settings.partner_token_minutes, seconds=-5)
    )
    assert client.get("/api/v1/backoffice/dossiers", headers=bearer(recent.access_token)).status_code == 200


def _claims(app, client_id: str, settings, **over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.base_url,
        "aud": settings.base_url + "/api/v1",
        "sub": client_id,
        "scope": "backoffice",
        "agency": "UBXA",
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_hex(8),
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def test_token_signed_with_another_key(client: TestClient, app, settings) -> None:
    client_id, _ = new_client(app)
    forged = jwt.encode(
        {"alg": "HS256", "typ": "at+jwt"}, _claims(app, client_id, settings), OctKey.import_key(secrets.token_bytes(32))
    )
    r = client.get("/api/v1/backoffice/dossiers", headers=bearer(forged))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.parametrize(
    "over",
    [
        {"iss": "http://evil.example"},
        {"aud": "http://testserver/other"},
        {"exp": None},
        {"sub": None},
        {"scope": None},
    ],
)
def test_tokens_with_wrong_claims(client: TestClient, app, settings, over: dict[str, object]) -> None:
    from auth.client_service import access_token_key

    client_id, _ = new_client(app)
    token = jwt.encode(
        {"alg": "HS256", "typ": "at+jwt"}, _claims(app, client_id, settings, **over), access_token_key(settings)
    )
    r = client.get("/api/v1/backoffice/dossiers", headers=bearer(token))
    assert r.status_code == 401


def test_a_jwt_of_another_kind_is_refused(client: TestClient, app, settings) -> None:
    from auth.client_service import access_token_key

    client_id, _ = new_client(app)
    token = jwt.encode({"alg": "HS256"}, _claims(app, client_id, settings), access_token_key(settings))  # typ JWT
    assert client.get("/api/v1/backoffice/dossiers", headers=bearer(token)).status_code == 401


def test_postal_token_on_a_backoffice_route_is_403(client: TestClient, app) -> None:
    client_id, secret = new_client(app, "postal")
    token = get_token(client, client_id, secret)
    r = client.get("/api/v1/backoffice/dossiers", headers=bearer(token))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert 'scope="backoffice"' in r.headers["www-authenticate"]
    assert r.json()["error"] == "insufficient_scope"
    [entry] = audit(app, "partner.api", client_id)
    assert entry.outcome == "refused" and entry.detail == {
        "reason": "insufficient_scope",
        "path": "/api/v1/backoffice/dossiers",
    }
    backoffice_id, backoffice_secret = new_client(app)
    token = get_token(client, backoffice_id, backoffice_secret)
    assert client.get("/api/v1/postal/orders", headers=bearer(token)).status_code == 403


# -- what each client sees ------------------------------------------------------------------------------


def test_backoffice_sees_only_its_agency(client: TestClient, app) -> None:
    start = utcnow()  # dossiers of earlier tests (made a moment ago) are not in the list
    mine = make_dossier(app, files=2)
    older = make_dossier(app, status=DossierStatus.RECEIVED)
    theirs = make_dossier(app, procedure=STC_PROC, agency="STC")
    draft = make_dossier(app, status=DossierStatus.DRAFT)
    client_id, secret = new_client(app, agency="UBXA")
    token = get_token(client, client_id, secret)

    r = client.get("/api/v1/backoffice/dossiers", params={"since": start.isoformat()}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    page = r.json()
    codes = [d["code"] for d in page["items"]]
    assert codes == [older.code, mine.code]  # newest first
    assert page["total"] == 2 and page["page"] == 1
    assert {d["agency_code"] for d in page["items"]} == {"UBXA"}
    first = page["items"][1]
    assert first["applicant_name"] == "Trần Văn Bình" and first["procedure_code"] == UBXA_PROC
    assert first["status"] == "submitted" and first["due_date"] == "2031-03-14" and first["business_id"] is None
    assert "answers" not in first

    r = client.get(
        "/api/v1/backoffice/dossiers",
        params={"since": start.isoformat(), "status": "received"},
        headers=bearer(token),
    )
    assert [d["code"] for d in r.json()["items"]] == [older.code]
    r = client.get(
        "/api/v1/backoffice/dossiers",
        params={"since": start.isoformat(), "page_size": 1, "page": 2},
        headers=bearer(token),
    )
    assert [d["code"] for d in r.json()["items"]] == [mine.code] and r.json()["total"] == 2

    r = client.get(f"/api/v1/backoffice/dossiers/{mine.code}", headers=bearer(token))
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["answers"] == {"full_name": "Trần Văn Bình", "child_name": "Trần Thị An"}
    assert [(f["component"], f["filename"], f["size"]) for f in detail["files"]] == [
        ("to-khai", "to-khai-0.pdf", 1234),
        ("to-khai", "to-khai-1.pdf", 1235),
    ]
    assert detail["files"][0]["sha256"] == "ab" * 32
    assert "storage_key" not in detail["files"][0]

    for hidden in (theirs.code, "NO-SUCH-CODE"):
        r = client.get(f"/api/v1/backoffice/dossiers/{hidden}", headers=bearer(token))
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "There is no dossier with this code."
    assert client.get(f"/api/v1/backoffice/dossiers/{draft.id}", headers=bearer(token)).status_code == 404


@pytest.mark.parametrize(
    "params", [{"page_size": "101"}, {"page": "0"}, {"status": "nope"}, {"status": "draft"}, {"since": "yesterday"}]
)
def test_bad_query_parameters_are_422_problems(client: TestClient, app, params: dict[str, str]) -> None:
    client_id, secret = new_client(app)
    r = client.get("/api/v1/backoffice/dossiers", params=params, headers=bearer(get_token(client, client_id, secret)))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_postal_clients_see_only_their_operators_orders(client: TestClient, app) -> None:
    """The listing itself is tests/api/test_postal_api.py's; here: the binding of a postal client."""
    for operator in ("vnpost", "viettelpost"):
        client_id, secret = new_client(app, "postal", operator=operator)
        r = client.get("/api/v1/postal/orders", headers=bearer(get_token(client, client_id, secret)))
        assert r.status_code == 200, r.text
        assert {o["operator"] for o in r.json()["items"]} <= {operator} and r.json()["next_cursor"]


def test_openapi_documents_the_partner_api(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["partnerToken"]
    assert scheme["type"] == "oauth2" and scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    op = spec["paths"]["/api/v1/backoffice/dossiers"]["get"]
    assert op["security"] == [{"partnerToken": ["backoffice"]}]
    assert spec["paths"]["/api/v1/postal/orders"]["get"]["security"] == [{"partnerToken": ["postal"]}]
    assert "DossierDetail" in spec["components"]["schemas"] and "OrderPage" in spec["components"]["schemas"]
    assert "/oauth/token" in spec["paths"]
