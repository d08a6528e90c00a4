"""What the journeys with simulated partners share: the citizen's browser page and sign-in, a new dossier's
first step, and the back-office simulator run off the main thread."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.engine import Engine

import portal.wiring  # noqa: F401  (the providers the simulators' development clients need: the agency check)
from e2e.conftest import VIEWPORTS, check_axe
from e2e.test_journey import _sso_login
from portal.kernel.db import make_engine
from portal.kernel.settings import Settings
from portal.simulator.agent import AgencySimulator, Policy
from portal.simulator.setup import build_simulators

STEP_URL = r"/dossiers/([0-9a-f]{32})/steps/"

T = TypeVar("T")


def start_page(new_context: Callable[..., BrowserContext], *, timeout_ms: int) -> Page:
    """A desktop page with JavaScript on; Playwright's and `expect`'s waits set to `timeout_ms`."""
    context = new_context(java_script_enabled=True, viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    expect.set_options(timeout=timeout_ms)
    return page


def visitor(page: Page, shot: Callable[[Page, str], Path], journey: str) -> Callable[[str], None]:
    """`visit(name)`: the page as it is checked with axe-core (under `journey/name`) and its screenshot taken."""

    def visit(name: str) -> None:
        check_axe(page, f"{journey}/{name}")
        shot(page, name)

    return visit


def sign_in(page: Page, shot: Callable[[Page, str], Path]) -> None:
    """The citizen signs in with VNeID (level 2) and lands on their dossiers."""
    page.goto("/")
    page.get_by_role("banner").get_by_role("link", name="Đăng nhập").click()
    page.wait_for_url("**/signin*")
    page.get_by_role("button", name="Đăng nhập bằng VNeID").click()
    _sso_login(page, shot, account="citizen-an", acr="urn:dvc:loa:2")
    page.wait_for_url("**/dossiers")


def sign_up(page: Page, prefix: str) -> str:
    """A new portal account made through /signup (signed in afterwards, on /dossiers); its email address."""
    email = f"{prefix}-{secrets.token_hex(4)}@example.vn"
    page.goto("/signup")
    page.locator("input[name=full_name]").fill("Phạm Thị Kiểm")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill("mat-khau-rat-dai-2026")
    page.locator("input[name=password2]").fill("mat-khau-rat-dai-2026")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/dossiers")
    return email


def new_dossier(page: Page, procedure_path: str) -> str:
    """Start filing the procedure online; the new dossier's id (on its first step)."""
    page.goto(procedure_path)
    page.get_by_role("button", name="Nộp trực tuyến").click()
    page.wait_for_url(re.compile(STEP_URL + "applicant$"))
    match = re.search(STEP_URL, page.url)
    assert match
    return match.group(1)


def off_main_thread(work: Callable[[], T], *, timeout: float) -> T:
    """Run a simulator off the main thread (Playwright keeps an event loop running in it; signing runs one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result(timeout=timeout)


@contextmanager
def partner_connection(server_url: str, settings: Settings) -> Iterator[tuple[httpx.Client, Engine]]:
    """What the simulators need of the journeys' server: an HTTP client of it and its database."""
    engine = make_engine(settings)
    http = httpx.Client(base_url=server_url, timeout=60)
    yield http, engine
    http.close()
    engine.dispose()


def agency_playing(
    http: httpx.Client, settings: Settings, engine: Engine, agency: str, code: str, policy: Policy
) -> AgencySimulator:
    """The simulated back-office of `agency`, playing only the dossier `code`."""
    [simulator] = build_simulators(http, settings, engine, policy=policy, agencies=[agency])
    simulator.only = lambda c: c == code
    return simulator
