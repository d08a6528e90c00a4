"""Browser journeys: a real server on a free port, Debian's Chromium, axe-core on every page."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.oidc_op.fixture import OP, running_op

ROOT = Path(__file__).resolve().parents[1]
E2E_DIR = Path(__file__).resolve().parent
ARTIFACTS = E2E_DIR / "artifacts"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
PORTAL_CLI = Path(sys.executable).with_name("portal")
READY_TIMEOUT = 60.0
BLOCKING_IMPACTS = ("serious", "critical")
# The environment the journeys' server runs with (PORTAL_* settings), for journeys that play its partners.
SERVER_ENVIRONMENT: dict[str, str] = {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under e2e/ is a browser journey, and journeys run last.

    pytest groups tests by session-scoped parameters (pytest-playwright's browser name), which can put
    a journey between unit tests; Playwright's sync API leaves an event loop set as running in the main
    thread, so unit tests that call asyncio.run() must come before it.
    """
    journeys = [item for item in items if Path(str(item.fspath)).resolve().is_relative_to(E2E_DIR)]
    for item in journeys:
        item.add_marker(pytest.mark.e2e)
    others = [item for item in items if item not in journeys]
    items[:] = others + journeys


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@pytest.fixture(scope="session")
def portal_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def sso_provider(portal_port: int) -> Iterator[OP]:
    """The national SSO of the journeys: the npm oidc-provider, a real third-party OpenID provider."""
    url = f"http://127.0.0.1:{portal_port}"
    with running_op([url + "/auth/oidc/callback"], [url + "/"]) as op:
        yield op


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory, portal_port: int, sso_provider: OP) -> Iterator[str]:
    """Migrate, load the catalogue and serve the portal (with its in-process worker) on a free port."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is missing at {AXE_JS}: run `npm ci`")
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext (poppler-utils) is needed to check the receipt")
    base = tmp_path_factory.mktemp("e2e-server")
    port = portal_port
    url = f"http://127.0.0.1:{port}"
    op = sso_provider
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_DATABASE_URL": f"sqlite:///{base / 'e2e.db'}",
            "PORTAL_STORAGE_DIR": str(base / "files"),
            "PORTAL_ENVIRONMENT": "test",
            "PORTAL_SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
            "PORTAL_BASE_URL": url,
            "PORTAL_OIDC_ISSUER": op.issuer,
            "PORTAL_OIDC_CLIENT_ID": op.client_id,
            "PORTAL_OIDC_CLIENT_SECRET": op.client_secret,
            # The sandbox bank (its page is served by this server; its ledger sits next to the database).
            # It notifies the portal over HTTP by itself; "twice" instead of the default "random" makes every
            # settlement take the same path: one notification before the browser comes back (so the result is
            # recorded before the return page is shown) and the same one again a second later (which must
            # change nothing: the journeys check that the fee appears once on the timeline).
            "PORTAL_PAYMENT_GATEWAYS": json.dumps(["sandbox"]),
            "PORTAL_PAYMENT_OPTIONS": json.dumps({"sandbox": {"notify": "twice"}}),
            # Every journey signs its citizens up from 127.0.0.1, more than the 10 an hour one address may: the
            # limit itself is tested in tests/auth, here it would only stop the journeys that come last. The same for
            # the console's sign-ins (tests/staff checks that limit).
            "PORTAL_RATE_LIMITS": json.dumps({"signup:ip": "500/3600", "staff_signin:ip": "500/300"}),
        }
    )
    SERVER_ENVIRONMENT.update({k: v for k, v in env.items() if k.startswith("PORTAL_")})
    out_log, err_log = base / "server.out", base / "server.err"
    for command in (["migrate"], ["catalog", "load"]):
        done = subprocess.run(
            [str(PORTAL_CLI), *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            pytest.fail(f"`portal {' '.join(command)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    with out_log.open("wb") as out, err_log.open("wb") as err:
        proc = subprocess.Popen(
            [str(PORTAL_CLI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(f"{url}/readyz"):
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode} before it was ready:\n{_tail(err_log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"/readyz did not answer 200 within {READY_TIMEOUT:.0f} s:\n{_tail(err_log)}")
            time.sleep(0.1)  # polling the health check, not waiting on the browser
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server_settings(server_url: str) -> Any:
    """The journeys' server's settings (its database, storage and address), for a journey acting as a partner."""
    from portal.kernel.settings import Settings

    names = ("database_url", "storage_dir", "base_url", "environment", "secret_key")
    values: dict[str, Any] = {name: SERVER_ENVIRONMENT["PORTAL_" + name.upper()] for name in names}
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- pytest-playwright


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
        "headless": True,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], server_url: str) -> dict[str, Any]:
    # bypass_csp: the portal's CSP (script-src 'self') would refuse the injected axe-core.
    # The viewport is chosen per journey (phone or desktop, see VIEWPORTS), as is JavaScript.
    return {
        **browser_context_args,
        "base_url": server_url,
        "bypass_csp": True,
        "locale": "vi-VN",
        "timezone_id": "Asia/Ho_Chi_Minh",
        "accept_downloads": True,
    }


VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


# --------------------------------------------------------------------------- helpers


# With JavaScript off, Chromium runs no timers in the page, so axe.run() would never settle there.
# The page's DOM (without its <script> elements) is then checked in a scripting page of the same
# origin and viewport: same markup, same stylesheet, nothing that HTMX or portal.js would change.
SCRIPTING_DISABLED = """() => {
  const probe = document.createElement("noscript");
  probe.innerHTML = "<b></b>";  // parsed as markup only when scripting is off
  return probe.firstChild !== null && probe.firstChild.nodeType === Node.ELEMENT_NODE;
}"""
SNAPSHOT = """() => {
  const root = document.documentElement.cloneNode(true);
  root.querySelectorAll("script").forEach((el) => el.remove());
  return "<!doctype html>" + root.outerHTML;
}"""
AXE_RUN = "async () => await axe.run(document, {resultTypes: ['violations']})"


SNAPSHOT_PATH = "/__axe-snapshot__"


class _SnapshotChecker:
    """One scripting page per browser and viewport, fed DOM snapshots (kept open: its cache holds CSS and fonts)."""

    _pages: ClassVar[dict[tuple[int, int, int], tuple[Page, dict[str, str]]]] = {}

    @classmethod
    def results(cls, page: Page) -> dict[str, Any]:
        html = page.evaluate(SNAPSHOT)
        parts = urlsplit(page.url)
        url = f"{parts.scheme}://{parts.netloc}{SNAPSHOT_PATH}"
        browser = page.context.browser
        assert browser is not None
        size = page.viewport_size or {"width": 1280, "height": 720}
        key = (id(browser), size["width"], size["height"])
        if key not in cls._pages or cls._pages[key][0].is_closed():
            context = browser.new_context(java_script_enabled=True, bypass_csp=True, viewport=size, locale="vi-VN")
            context.add_init_script(path=str(AXE_JS))
            holder: dict[str, str] = {}
            helper = context.new_page()
            helper.route(
                f"**{SNAPSHOT_PATH}",
                lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=holder["html"]),
            )
            cls._pages[key] = (helper, holder)
        helper, holder = cls._pages[key]
        holder["html"] = html
        helper.goto(url)
        return dict(helper.evaluate(AXE_RUN))


def _axe_results(page: Page) -> dict[str, Any]:
    if page.evaluate(SCRIPTING_DISABLED):
        return _SnapshotChecker.results(page)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return dict(page.evaluate(AXE_RUN))


def check_axe(page: Page, name: str) -> None:
    """Run axe-core on the page as it is now; fail on any serious or critical violation."""
    results = _axe_results(page)
    blocking = [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    details = "\n".join(
        f"  - {v['id']} ({v['impact']}): {v['help']} — first target: {v['nodes'][0]['target'] if v['nodes'] else '?'}"
        f" [{len(v['nodes'])} node(s)]"
        for v in blocking
    )
    assert not blocking, f"axe found serious/critical violations on {name} ({page.url}):\n{details}"


class Shots:
    """Full-page screenshots of one journey: e2e/artifacts/<journey>/<nn>-<name>.png."""

    def __init__(self, journey: str) -> None:
        self.folder = ARTIFACTS / journey
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """`shot(page, name)` for the running journey (named after its `mode_id` parameter, else the test)."""
    callspec = getattr(request.node, "callspec", None)
    journey = str(callspec.params["mode_id"]) if callspec and "mode_id" in callspec.params else request.node.name
    return Shots(re.sub(r"[^A-Za-z0-9_.-]+", "-", journey))
