"""Every route of the application, against every kind of caller.

The route table is read from the application itself; a route that is not in MATRIX fails
`test_every_route_is_in_the_matrix`, so a new page or API cannot ship without saying who may use it.
Callers: anonymous, another citizen, the owner (of a personal dossier), a business representative
(acting for the business that owns a business dossier), and partner clients with a bearer token —
of the wrong scope (must get 403 on the API) and of the right one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.routing import Mount

from auth.client_service import create_client
from auth.models import Account
from payments.models import Payment
from portal.dossiers.models import DossierFile
from portal.feedback.codes import new_code
from portal.feedback.models import Feedback
from portal.notifications.service import notify
from tests.conftest import CSRF_RE, csrf, signup
from tests.factories import MARITAL, valid_tax_code
from tests.payments.helpers import pay
from tests.staff_factories import staff_client
from tests.web.flow import fill_marital, start, submit

pytestmark = pytest.mark.db

ACTORS = (
    "anonymous",
    "other",
    "owner",
    "rep",
    "partner_wrong",
    "partner_right",
    "supervisor",
    "officer_right",
    "officer_other",
    "postal_desk",
)
CITIZENS = ("other", "owner", "rep")
# The console's callers (issue 16): the centre's supervisor (whole province), an officer of the world's dossier's
# agency (UBXA), an officer of another agency (STP) and the postal desk (vnpost), each signed in with the second
# factor done. Outside /staff they are visitors without a citizen's session.
STAFF = ("supervisor", "officer_right", "officer_other", "postal_desk")


@dataclass(frozen=True)
class Rule:
    """Who may use a route. `url` fills the path; `ok` are the answers that mean "let through"."""

    # public | citizen | owner | rep | partner:<scope> | client_auth | bearer
    # | staff:all (every staff role, each its own scope) | staff:officers (supervisor and officers; postal desk 403)
    # | staff:agency (the world's agency: supervisor and its officer; another agency's officer 404, postal desk 403)
    # | staff:supervisor (the centre only: officers and postal desk 403) | staff:signin (the console's sign-in pages)
    policy: str
    url: str
    data: dict[str, str] = field(default_factory=dict)
    ok: frozenset[int] = frozenset({200})


def R(policy: str, url: str, ok: tuple[int, ...] = (200,), **data: str) -> Rule:
    return Rule(policy, url, dict(data), frozenset(ok))


D = "/dossiers/{dossier}"
MATRIX: dict[tuple[str, str], Rule] = {
    # public pages and machine-readable health
    ("GET", "/"): R("public", "/"),
    ("GET", "/procedures"): R("public", "/procedures?q=ho+tich"),
    ("GET", "/procedures/{code}"): R("public", f"/procedures/{MARITAL}"),
    ("GET", "/lookup"): R("public", "/lookup?code={code}"),
    ("GET", "/lang/{locale}"): R("public", "/lang/vi?next=/", ok=(303,)),
    ("GET", "/healthz"): R("public", "/healthz"),
    ("GET", "/readyz"): R("public", "/readyz"),
    ("GET", "/forms/wards"): R("public", "/forms/wards?province=37&field=address"),
    ("GET", "/static/{path}"): R("public", "/static/css/portal.css"),
    ("GET", "/api/docs"): R("public", "/api/docs"),
    ("GET", "/api/openapi.json"): R("public", "/api/openapi.json"),
    ("GET", "/docs/oauth2-redirect"): R("public", "/docs/oauth2-redirect"),
    # sign-in and sign-up (answers differ for signed-in visitors, never a refusal of access)
    ("GET", "/signin"): R("public", "/signin", ok=(200, 303)),
    # (a login of the matrix's own: the per-login limit must not count other tests' tries of a shared one)
    ("POST", "/signin"): R("public", "/signin", ok=(401,), login="{nobody}", password="wrong-password"),
    ("GET", "/signup"): R("public", "/signup"),
    ("POST", "/signup"): R("public", "/signup", ok=(422,), login="x", full_name="", password="a", password2="b"),
    ("GET", "/auth/oidc/login"): R("public", "/auth/oidc/login?next=/dossiers", ok=(302,)),
    ("GET", "/auth/oidc/callback"): R("public", "/auth/oidc/callback?code=forged&state=forged", ok=(400,)),
    ("GET", "/auth/oidc/logout"): R("public", "/auth/oidc/logout", ok=(303,)),
    ("POST", "/signout"): R("public", "/signout", ok=(303,)),
    # the development CA (never in production): certificates, CRLs and its timestamp authority are public
    ("GET", "/pki/ca/{name}.cer"): R("public", "/pki/ca/root.cer"),
    ("GET", "/pki/crl/{name}.crl"): R("public", "/pki/crl/people.crl"),
    ("POST", "/pki/tsa"): R("public", "/pki/tsa", ok=(415,)),
    # verifying a signed document needs no account
    ("GET", "/verify"): R("public", "/verify"),
    ("POST", "/verify"): R("public", "/verify", ok=(422,)),
    # the development provider (never in production): public pages, machine endpoints need credentials
    ("GET", "/dev-idp/.well-known/openid-configuration"): R("public", "/dev-idp/.well-known/openid-configuration"),
    ("GET", "/dev-idp/jwks"): R("public", "/dev-idp/jwks"),
    ("GET", "/dev-idp/authorize"): R("public", "/dev-idp/authorize?client_id=nobody", ok=(400,)),
    ("POST", "/dev-idp/authorize"): R("public", "/dev-idp/authorize", ok=(400,), request_id="forged"),
    ("GET", "/dev-idp/logout"): R("public", "/dev-idp/logout"),
    ("POST", "/dev-idp/token"): R("client_auth", "/dev-idp/token", grant_type="authorization_code", code="x"),
    ("GET", "/dev-idp/userinfo"): R("bearer", "/dev-idp/userinfo"),
    ("POST", "/dev-idp/userinfo"): R("bearer", "/dev-idp/userinfo"),
    ("POST", "/oauth/token"): R("client_auth", "/oauth/token", grant_type="client_credentials"),
    # a signed-in citizen, whoever
    ("GET", "/dossiers"): R("citizen", "/dossiers"),
    ("GET", "/businesses"): R("citizen", "/businesses"),
    ("GET", "/businesses/new"): R("citizen", "/businesses/new"),
    ("POST", "/businesses"): R("citizen", "/businesses", ok=(422,), tax_code="abc", name="", address=""),
    ("POST", "/procedures/{code}/start"): R("citizen", f"/procedures/{MARITAL}/start", ok=(303,)),
    ("GET", "/notifications"): R("citizen", "/notifications"),
    # one notification: its addressee only
    ("POST", "/notifications/{notification_id}/read"): R("owner", "/notifications/{notification}/read", ok=(303,)),
    # notification preferences: each account its own; what each channel sent (development only: 404 in production)
    ("GET", "/notifications/preferences"): R("citizen", "/notifications/preferences"),
    ("POST", "/notifications/preferences"): R("citizen", "/notifications/preferences", ok=(422,), language="fr"),
    ("GET", "/dev/notifications"): R("public", "/dev/notifications"),
    # providers' delivery receipts: authenticated by the provider's signature, not by a session (the test app's
    # providers are "log": nothing to receive, 404)
    ("POST", "/api/notifications/sms/{provider}/receipts"): R(
        "public", "/api/notifications/sms/http/receipts", ok=(404,)
    ),
    ("POST", "/api/notifications/zalo/events"): R("public", "/api/notifications/zalo/events", ok=(404,)),
    # public statistics: page, JSON and CSV, no sign-in
    ("GET", "/stats"): R("public", "/stats?from=2026-01-01&to=2026-03-31"),
    ("GET", "/api/stats"): R("public", "/api/stats?from=2026-01-01&to=2026-03-31"),
    ("GET", "/api/stats.csv"): R("public", "/api/stats.csv?from=2026-01-01&to=2026-03-31"),
    # one personal dossier: its applicant only
    ("GET", "/dossiers/{dossier_id}"): R("owner", D),
    ("GET", "/dossiers/{dossier_id}/continue"): R("owner", D + "/continue", ok=(303,)),
    ("GET", "/dossiers/{dossier_id}/steps/{step_id}"): R("owner", D + "/steps/applicant"),
    ("POST", "/dossiers/{dossier_id}/steps/{step_id}"): R("owner", D + "/steps/applicant", ok=(422,), _action="next"),
    ("POST", "/dossiers/{dossier_id}/validate"): R("owner", D + "/validate", ok=(200,), _field="cccd", cccd="1"),
    ("GET", "/dossiers/{dossier_id}/files"): R("owner", D + "/files"),
    ("GET", "/dossiers/{dossier_id}/files/{file_id}"): R("owner", D + "/files/{file}"),
    ("POST", "/dossiers/{dossier_id}/files/{component_id}"): R("owner", D + "/files/to_khai", ok=(422,)),
    ("GET", "/dossiers/{dossier_id}/review"): R("owner", D + "/review"),
    ("GET", "/dossiers/{dossier_id}/sign/{component_id}"): R("owner", D + "/sign/to_khai"),
    ("GET", "/dossiers/{dossier_id}/sign/{component_id}/preview.pdf"): R("owner", D + "/sign/to_khai/preview.pdf"),
    # the owner's account has no identity number yet: signing explains that (409), nobody else gets that far
    ("POST", "/dossiers/{dossier_id}/sign/{component_id}"): R("owner", D + "/sign/to_khai", ok=(409,), _action="setup"),
    ("GET", "/dossiers/{dossier_id}/receipt.pdf"): R("owner", "/dossiers/{submitted}/receipt.pdf"),
    ("POST", "/dossiers/{dossier_id}/files/{file_id}/delete"): R("owner", D + "/files/{file}/delete", ok=(303,)),
    # the personal document store: the signed-in account's own (or its business's) documents only
    ("GET", "/documents"): R("citizen", "/documents"),
    ("GET", "/documents/archive.zip"): R("citizen", "/documents/archive.zip"),
    ("GET", "/documents/{document_id}"): R("owner", "/documents/{document}"),
    ("POST", "/documents/{document_id}/delete"): R("owner", "/documents/{document}/delete", ok=(303,)),
    # a store document for a component of the owner's draft (the marital draft's component has another type: 400)
    ("POST", "/dossiers/{dossier_id}/files/{component_id}/reuse"): R(
        "owner", D + "/files/to_khai/reuse", ok=(303, 400), document_id="{document}"
    ),
    ("POST", "/dossiers/{dossier_id}/files/{file_id}/keep"): R("owner", D + "/files/{file}/keep", ok=(303, 400, 409)),
    ("POST", "/dossiers/{dossier_id}/submit"): R("owner", D + "/submit", ok=(422,), delivery_method="online"),
    # the fee of one dossier: its applicant only
    ("GET", "/dossiers/{dossier_id}/payment"): R("owner", D + "/payment"),
    ("POST", "/dossiers/{dossier_id}/payment"): R("owner", D + "/payment", ok=(422,), gateway="no-such-gateway"),
    ("POST", "/dossiers/{dossier_id}/payment/reduction"): R("owner", D + "/payment/reduction", ok=(422,), category="x"),
    ("GET", "/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf"): R(
        "owner", "/dossiers/{submitted}/payments/{payment}/receipt.pdf"
    ),
    # nothing refunded yet: the refund notice of the owner's payment does not exist (others: 404 as well)
    ("GET", "/dossiers/{dossier_id}/payments/{payment_id}/refunds.pdf"): R(
        "owner", "/dossiers/{submitted}/payments/{payment}/refunds.pdf", ok=(404,)
    ),
    # the dossier's life: no supplement asked, no result, not completed yet — the owner is told so
    ("GET", "/dossiers/{dossier_id}/supplement"): R("owner", "/dossiers/{submitted}/supplement", ok=(303,)),
    ("POST", "/dossiers/{dossier_id}/supplement"): R("owner", "/dossiers/{submitted}/supplement", ok=(409,)),
    ("GET", "/dossiers/{dossier_id}/results/{result_id}"): R("owner", "/dossiers/{submitted}/results/none", ok=(404,)),
    ("POST", "/dossiers/{dossier_id}/rating"): R("owner", "/dossiers/{submitted}/rating", ok=(409, 422)),
    # withdrawing a draft is refused (409) for its owner; nobody else learns it exists
    ("POST", "/dossiers/{dossier_id}/withdraw"): R("owner", D + "/withdraw", ok=(409,)),
    # what payment gateways call: public, believed only when their signature checks (these carry none)
    ("GET", "/payments/return/{gateway_id}"): R("public", "/payments/return/sandbox", ok=(400,)),
    ("GET", "/payments/notify/{gateway_id}"): R("public", "/payments/notify/sandbox", ok=(400,)),
    ("POST", "/payments/notify/{gateway_id}"): R("public", "/payments/notify/sandbox", ok=(400,)),
    # the sandbox bank's page (development and tests only): public, like a bank's
    ("GET", "/sandbox-bank/pay"): R("public", "/sandbox-bank/pay?order=forged", ok=(422,)),
    ("POST", "/sandbox-bank/pay"): R("public", "/sandbox-bank/pay", ok=(422,), order="forged", choice="pay"),
    # one business: its representatives only
    ("GET", "/businesses/{business_id}"): R("rep", "/businesses/{business}"),
    ("POST", "/businesses/{business_id}/representatives"): R(
        "rep", "/businesses/{business}/representatives", ok=(422,), login="nobody-at-all@example.vn"
    ),
    ("POST", "/businesses/{business_id}/representatives/{account_id}/remove"): R(
        "rep", "/businesses/{business}/representatives/{rep_account}/remove", ok=(409,)
    ),
    ("POST", "/acting-as"): R("rep", "/acting-as", ok=(303,), business_id="{business}", next="/dossiers"),
    # partner APIs: a bearer token of the right scope, bound to the dossier's agency
    ("GET", "/api/v1/backoffice/dossiers"): R("partner:backoffice", "/api/v1/backoffice/dossiers"),
    ("GET", "/api/v1/backoffice/dossiers/{code}"): R("partner:backoffice", "/api/v1/backoffice/dossiers/{code}"),
    # the postal operators' API: a bearer token of the scope postal (an unknown order number is a 404)
    ("GET", "/api/v1/postal/orders"): R("partner:postal", "/api/v1/postal/orders"),
    ("GET", "/api/v1/postal/orders/{number}"): R("partner:postal", "/api/v1/postal/orders/none", ok=(404,)),
    ("POST", "/api/v1/postal/orders/{number}/claim"): R(
        "partner:postal", "/api/v1/postal/orders/none/claim", ok=(404,)
    ),
    ("POST", "/api/v1/postal/orders/{number}/events"): R(
        "partner:postal", "/api/v1/postal/orders/none/events", ok=(404,)
    ),
    ("POST", "/api/v1/postal/orders/{number}/delivery"): R(
        "partner:postal", "/api/v1/postal/orders/none/delivery", ok=(404,)
    ),
    ("GET", "/api/v1/postal/orders/{number}/label.pdf"): R(
        "partner:postal", "/api/v1/postal/orders/none/label.pdf", ok=(404,)
    ),
    ("GET", "/api/v1/postal/orders/{number}/proof"): R("partner:postal", "/api/v1/postal/orders/none/proof", ok=(404,)),
    ("GET", "/api/v1/postal/cod-statements/{day}"): R("partner:postal", "/api/v1/postal/cod-statements/2026-12-01"),
    ("GET", "/api/v1/postal/cod-statements/{day}.csv"): R(
        "partner:postal", "/api/v1/postal/cod-statements/2026-12-01.csv"
    ),
    # the choice of delivery and pickup (and its change after submission)
    ("GET", "/dossiers/{dossier_id}/delivery"): R("owner", D + "/delivery"),
    ("POST", "/dossiers/{dossier_id}/delivery"): R("owner", D + "/delivery", ok=(422,), method="drone"),
    ("GET", "/dossiers/{dossier_id}/parcels/{number}/proof"): R(
        "owner", "/dossiers/{submitted}/parcels/none/proof", ok=(404,)
    ),
    # visits to the centre and the kiosk
    ("GET", "/dossiers/{dossier_id}/visit"): R("owner", "/dossiers/{submitted}/visit"),
    ("POST", "/dossiers/{dossier_id}/visit"): R(
        "owner", "/dossiers/{submitted}/visit", ok=(409,), day="2026-06-01", slot="08:00"
    ),
    ("GET", "/dossiers/{dossier_id}/visits/{visit_id}"): R("owner", "/dossiers/{submitted}/visits/none", ok=(404,)),
    ("POST", "/dossiers/{dossier_id}/visits/{visit_id}/cancel"): R(
        "owner", "/dossiers/{submitted}/visits/none/cancel", ok=(404,)
    ),
    ("GET", "/kiosk"): R("public", "/kiosk"),
    ("GET", "/kiosk/lookup"): R("public", "/kiosk/lookup?q={code}"),
    ("POST", "/kiosk/check-in"): R("public", "/kiosk/check-in", ok=(404,), token="forged"),
    ("GET", "/api/v1/backoffice/visits"): R("partner:backoffice", "/api/v1/backoffice/visits"),
    ("POST", "/api/v1/backoffice/visits/call-next"): R(
        "partner:backoffice", "/api/v1/backoffice/visits/call-next", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/visits/{visit_id}/served"): R(
        "partner:backoffice", "/api/v1/backoffice/visits/none/served", ok=(404, 422)
    ),
    ("POST", "/api/v1/backoffice/visits/{visit_id}/missed"): R(
        "partner:backoffice", "/api/v1/backoffice/visits/none/missed", ok=(404, 422)
    ),
    ("GET", "/api/v1/backoffice/dossiers/{code}/payments"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/payments"
    ),
    # a submitted dossier that is not rejected: refunding it is refused (409) even to its agency
    # a refund's body is optional JSON (an amount): the form-encoded call of the matrix is refused as invalid
    ("POST", "/api/v1/backoffice/dossiers/{code}/refund"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/refund", ok=(422,)
    ),
    # rejecting needs a JSON body: the form-encoded call of the matrix is refused as invalid (422)
    ("POST", "/api/v1/backoffice/dossiers/{code}/reject"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/reject", ok=(422,)
    ),
    ("GET", "/api/v1/backoffice/payments/report"): R(
        "partner:backoffice", "/api/v1/backoffice/payments/report?day=2026-12-01"
    ),
    ("GET", "/api/v1/backoffice/changes"): R("partner:backoffice", "/api/v1/backoffice/changes"),
    ("GET", "/api/v1/backoffice/dossiers/{code}/files/{file_id}"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/files/{file}", ok=(404,)
    ),
    ("GET", "/api/v1/backoffice/dossiers/{code}/receipt.pdf"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/receipt.pdf"
    ),
    ("GET", "/api/v1/backoffice/dossiers/{code}/results/{result_id}"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/results/none", ok=(404,)
    ),
    # the transitions take JSON (or multipart): the matrix's form-encoded call is refused as invalid
    ("POST", "/api/v1/backoffice/dossiers/{code}/receive"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/receive", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/start-processing"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/start-processing", ok=(409, 422)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/sub-status"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/sub-status", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/request-supplement"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/request-supplement", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/result"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/result", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/apologise"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/apologise", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/dossiers/{code}/complete"): R(
        "partner:backoffice", "/api/v1/backoffice/dossiers/{code}/complete", ok=(422,)
    ),
    ("POST", "/api/v1/backoffice/intake"): R("partner:backoffice", "/api/v1/backoffice/intake", ok=(422,)),
    # feedback and complaints: filed and followed by anyone, no sign-in (a filing without content is refused: 422)
    ("GET", "/feedback/new"): R("public", "/feedback/new"),
    ("POST", "/feedback/new"): R("public", "/feedback/new", ok=(422,), kind="complaint", about="agency"),
    ("GET", "/feedback/lookup"): R("public", "/feedback/lookup"),
    ("GET", "/feedback/public"): R("public", "/feedback/public"),
    ("GET", "/feedback/{code}"): R("public", "/feedback/{feedback_code}"),
    # the console's sign-in: open to anyone (a wrong password is refused: 401; the code page without a password
    # first sends back to the sign-in; the provider's callback without its state is refused: 400)
    ("GET", "/staff/login"): R("staff:signin", "/staff/login", ok=(200, 303)),
    ("POST", "/staff/login"): R(
        "staff:signin", "/staff/login", ok=(401,), username="{nobody}", password="wrong-password"
    ),
    ("GET", "/staff/totp"): R("staff:signin", "/staff/totp", ok=(200, 303)),
    ("POST", "/staff/totp"): R("staff:signin", "/staff/totp", ok=(303, 422), code="000000"),
    ("GET", "/staff/oidc/login"): R("staff:signin", "/staff/oidc/login", ok=(302, 303)),
    ("GET", "/staff/oidc/callback"): R("staff:signin", "/staff/oidc/callback?code=forged&state=forged", ok=(400, 403)),
    ("POST", "/staff/logout"): R("staff:signin", "/staff/logout", ok=(303,)),
    # the console: each staff role its own scope; citizens 403, signed-out visitors to the console's sign-in
    ("GET", "/staff"): R("staff:all", "/staff"),
    ("GET", "/staff/dossiers"): R("staff:all", "/staff/dossiers"),
    ("GET", "/staff/dossiers.csv"): R("staff:all", "/staff/dossiers.csv"),
    ("GET", "/staff/dossiers/{dossier_id}"): R("staff:agency", "/staff/dossiers/{submitted}"),
    ("GET", "/staff/dossiers/{dossier_id}/files/{file_id}"): R(
        "staff:agency", "/staff/dossiers/{submitted}/files/{submitted_file}"
    ),
    ("GET", "/staff/stats"): R("staff:officers", "/staff/stats"),
    ("GET", "/staff/payments"): R("staff:officers", "/staff/payments"),
    ("GET", "/staff/payments.csv"): R("staff:officers", "/staff/payments.csv"),
    ("GET", "/staff/feedback"): R("staff:officers", "/staff/feedback"),
    ("GET", "/staff/feedback/{item_id}"): R("staff:agency", "/staff/feedback/{feedback}"),
    ("GET", "/staff/feedback/{item_id}/attachment"): R("staff:agency", "/staff/feedback/{feedback}/attachment"),
    # an answer without text is refused (422) to whoever may answer
    ("POST", "/staff/feedback/{item_id}/answer"): R("staff:agency", "/staff/feedback/{feedback}/answer", ok=(422,)),
    ("GET", "/staff/outbox"): R("staff:supervisor", "/staff/outbox"),
    ("POST", "/staff/outbox/{message_id}/replay"): R("staff:supervisor", "/staff/outbox/none/replay", ok=(404,)),
    # the world's dossier has no result waiting for the centre's check: the centre is told so (404)
    ("GET", "/staff/checks"): R("staff:supervisor", "/staff/checks"),
    ("GET", "/staff/checks/{dossier_id}"): R("staff:supervisor", "/staff/checks/{submitted}", ok=(200, 404)),
    ("GET", "/staff/checks/{dossier_id}/results/{result_id}"): R(
        "staff:supervisor", "/staff/checks/{submitted}/results/none", ok=(404,)
    ),
    ("POST", "/staff/checks/{dossier_id}/confirm"): R(
        "staff:supervisor", "/staff/checks/{submitted}/confirm", ok=(404, 409)
    ),
    ("POST", "/staff/checks/{dossier_id}/send-back"): R(
        "staff:supervisor", "/staff/checks/{submitted}/send-back", ok=(404, 409, 422)
    ),
}


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the application answers, read from its router."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # an included router (FastAPI ≥ 0.16x keeps them unflattened)
            for context in contexts():
                found |= {(m, context.path) for m in context.methods - {"HEAD"}}
        elif isinstance(route, Mount):
            found.add(("GET", f"{route.path}/{{path}}"))
        else:
            path = str(getattr(route, "path", ""))
            found |= {(m, path) for m in (getattr(route, "methods", None) or set()) - {"HEAD"}}
    return found


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    routes = route_table(app)
    missing = sorted(routes - MATRIX.keys())
    assert not missing, f"routes without an authorization rule in {__file__}: {missing}"
    stale = sorted(MATRIX.keys() - routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


# --------------------------------------------------------------------------- the world the callers live in


@dataclass
class World:
    clients: dict[str, TestClient]
    ids: dict[str, str]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def world(app: FastAPI) -> Iterator[World]:
    def browser() -> TestClient:
        return TestClient(app, follow_redirects=False)

    owner, other, rep = browser(), browser(), browser()
    owner_login = signup(owner, name="Chủ Hồ Sơ")
    signup(other, name="Người Khác")
    rep_login = signup(rep, name="Người Đại Diện")
    draft = fill_marital(owner)
    submitted = fill_marital(owner)
    assert submit(owner, submitted).status_code == 303
    payment_reference = pay(owner, app, submitted)
    r = rep.post(
        "/businesses",
        data={
            "csrf_token": csrf(rep, "/businesses/new"),
            "tax_code": valid_tax_code(),
            "name": "Công ty TNHH Ma Trận",
            "address": "Số 1, Phường Hoa Lư, Tỉnh Ninh Bình",
        },
    )
    assert r.status_code == 303, r.text
    business = r.headers["location"].rsplit("/", 1)[-1]
    business_dossier = start(rep)
    with Session(app.state.engine) as db:
        file_id = db.exec(select(DossierFile.id).where(DossierFile.dossier_id == draft)).first()
        rep_account = db.exec(select(Account.id).where(Account.email == rep_login)).one()
        owner_account = db.exec(select(Account.id).where(Account.email == owner_login)).one()
        notification = notify(
            db,
            account_id=owner_account,
            kind="dossier.submitted",
            dedupe_key=f"matrix:{submitted}",
            subject="{amount} VND refunded",
            body="{amount} VND of payment {reference} was refunded through the payment gateway.",
            params={"amount": "1.000", "reference": "MATRIX"},
            link=f"/dossiers/{submitted}",
        )
        assert notification is not None
        notification_id = notification.id
        from portal.documents.models import StoredDocument
        from portal.dossiers.models import Dossier

        kept = db.get(DossierFile, file_id)
        assert kept is not None
        document = StoredDocument(
            account_id=owner_account,
            source="upload",
            doc_type="can_cuoc",
            name_vi="Căn cước của Chủ Hồ Sơ",
            name_en="Identity card",
            issued_on=date.today(),
            filename=kept.filename,
            storage_key=kept.storage_key,
            sha256=kept.sha256,
            size=kept.size,
            pages=kept.pages,
        )
        db.add(document)
        db.flush()
        document_id = document.id

        code = db.get(Dossier, submitted).code  # type: ignore[union-attr]
        payment_id = db.exec(select(Payment.id).where(Payment.reference == payment_reference)).one()
        submitted_file = db.exec(select(DossierFile.id).where(DossierFile.dossier_id == submitted)).first()
        feedback_code = new_code(date.today())
        attachment = b"%PDF-1.4 matrix attachment"
        feedback = Feedback(
            code=feedback_code,
            kind="complaint",
            about="agency",
            agency_code="UBXA",
            title="Phản ánh của ma trận",
            body="Nội dung phản ánh dùng cho ma trận phân quyền.",
            name="Người Phản Ánh Ma Trận",
            email="phan-anh-ma-tran@example.vn",
            due_on=date.today(),
            attachment_name="phan-anh.pdf",
            attachment_key=app.state.storage.put(attachment, prefix="feedback/matrix", suffix=".pdf"),
            attachment_type="application/pdf",
            attachment_size=len(attachment),
        )
        db.add(feedback)
        db.flush()
        feedback_id = feedback.id
        backoffice, bo_secret = create_client(db, name="Một cửa UBXA", scope="backoffice", agency_code="UBXA")
        postal, po_secret = create_client(db, name="Bưu điện", scope="postal", postal_operator="vnpost")
        clients = [("backoffice", backoffice.id, bo_secret), ("postal", postal.id, po_secret)]
        db.commit()
    assert file_id and code
    tokens = {}
    machine = browser()
    for scope, client_id, secret in clients:
        r = machine.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert r.status_code == 200, r.text
        tokens[scope] = r.json()["access_token"]
    assert submitted_file
    yield World(
        clients={
            "anonymous": browser(),
            "other": other,
            "owner": owner,
            "rep": rep,
            "partner_wrong": browser(),
            "partner_right": browser(),
            "supervisor": staff_client(app, role="supervisor"),
            "officer_right": staff_client(app, role="officer", agency_code="UBXA"),
            "officer_other": staff_client(app, role="officer", agency_code="STP"),
            "postal_desk": staff_client(app, role="postal", postal_operator="vnpost"),
        },
        ids={
            "dossier": draft,
            "submitted": submitted,
            "file": file_id,
            "code": code,
            "business": business,
            "business_dossier": business_dossier,
            "rep_account": rep_account,
            "notification": notification_id,
            "payment": payment_id,
            "document": document_id,
            "submitted_file": submitted_file,
            "feedback": feedback_id,
            "feedback_code": feedback_code,
            "nobody": f"nobody-{secrets.token_hex(4)}@example.vn",
        },
        tokens=tokens,
    )


def _fill(text: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], text)


def _token_for(actor: str, policy: str, world: World) -> str | None:
    if not actor.startswith("partner"):
        return None
    wanted = policy.split(":", 1)[1] if policy.startswith("partner:") else "backoffice"
    other = "postal" if wanted == "backoffice" else "backoffice"
    return world.tokens[wanted if actor == "partner_right" else other]


def _call(world: World, actor: str, method: str, rule: Rule) -> Any:
    client = world.clients[actor]
    url = _fill(rule.url, world.ids)
    headers: dict[str, str] = {}
    token = _token_for(actor, rule.policy, world)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if method == "GET":
        return client.get(url, headers=headers)
    data = {k: _fill(v, world.ids) for k, v in rule.data.items()}
    page = client.get("/signin") if actor not in CITIZENS else client.get("/dossiers")
    match = CSRF_RE.search(page.text)
    if match:  # every browser caller sends its own session's CSRF token: the rule under test is access
        data["csrf_token"] = match.group(1)
    return client.post(url, data=data, headers=headers)


def _expected_staff(actor: str, policy: str) -> str:
    """The console: citizens 403, visitors without a staff session to its sign-in, staff by role and scope."""
    if actor in CITIZENS:
        return "403"
    if actor not in STAFF:
        return "staff_signin"
    kind = policy.split(":", 1)[1]
    if actor == "supervisor" or kind == "all":
        return "ok"
    if kind == "supervisor":
        return "403"
    if actor == "postal_desk":
        return "403" if kind == "officers" else "refused"  # an item: refused by role (403) or by scope (404)
    if kind == "officers" or actor == "officer_right":
        return "ok"
    return "404"  # another agency's item: it does not exist for them


def _expected(actor: str, rule: Rule) -> str:
    """'ok', 'signin', 'staff_signin', 'refused', '404', '401' or '403' for this caller under this rule."""
    policy = rule.policy
    if policy in ("public", "staff:signin"):
        return "ok"
    if policy.startswith("staff:"):
        return _expected_staff(actor, policy)
    if policy in ("client_auth", "bearer"):
        return "401"
    if policy.startswith("partner:"):
        return {"partner_wrong": "403", "partner_right": "ok"}.get(actor, "401")
    if actor in ("anonymous", "partner_wrong", "partner_right", *STAFF):
        return "signin"
    if policy == "citizen":
        return "ok"
    return "ok" if actor == policy else "404"


# Routes that change what they act on run last, each caller's refusal first and the allowed caller last.
ORDER = sorted(
    MATRIX, key=lambda k: (k[1].endswith(("/delete", "/submit", "/remove", "/signout", "/logout", "/withdraw")), k)
)
# What only the world's dossier's owner, its agency and the centre may read; staff of another scope must not see it
# in any list or export either.
SECRETS = ("Chủ Hồ Sơ", "Công ty TNHH Ma Trận", "Người Phản Ánh Ma Trận", "phan-anh-ma-tran@example.vn")
SEES_SECRETS = ("owner", "rep", "supervisor", "officer_right")


@pytest.mark.parametrize(("method", "path"), ORDER, ids=[f"{m} {p}" for m, p in ORDER])
def test_route_against_every_caller(world: World, method: str, path: str) -> None:
    rule = MATRIX[(method, path)]
    order = sorted(ACTORS, key=lambda a: _expected(a, rule) == "ok")
    for actor in order:
        if path == "/signout" and actor in CITIZENS:
            continue  # signing the shared callers out would end the matrix; tests/auth covers sign-out
        if path == "/staff/logout" and actor in STAFF:
            continue  # the same for the console's callers; tests/staff covers signing out
        expected = _expected(actor, rule)
        r = _call(world, actor, method, rule)
        what = f"{method} {path} as {actor}: {r.status_code} {r.headers.get('location', '')}"
        if expected == "ok":
            assert r.status_code in rule.ok, f"{what}, expected one of {sorted(rule.ok)}\n{r.text[:600]}"
        elif expected == "signin":
            assert r.status_code == 303 and r.headers["location"].startswith("/signin"), what
        elif expected == "staff_signin":
            assert r.status_code == 303 and r.headers["location"].startswith("/staff/login"), what
        elif expected == "refused":
            assert r.status_code in (403, 404), f"{what}, expected 403 or 404\n{r.text[:400]}"
        else:
            assert r.status_code == int(expected), f"{what}, expected {expected}\n{r.text[:400]}"
        if expected != "ok" or (rule.policy.startswith("staff:") and actor not in SEES_SECRETS):
            for secret in SECRETS:
                assert secret not in r.text or actor in SEES_SECRETS, f"{what} leaks {secret!r}"
