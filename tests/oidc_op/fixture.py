"""Start the node test OpenID provider (tests/oidc_op/provider.mjs) and drive it headlessly.

Usage from a conftest::

    from tests.oidc_op.fixture import oidc_op  # session fixture: client "portal-test" for the TestClient

or, with other redirect URIs (e2e)::

    with running_op(["http://127.0.0.1:8123/auth/oidc/callback"], ["http://127.0.0.1:8123/"]) as op:
        ...
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SERVER = HERE / "provider.mjs"
ACCOUNTS_FILE = HERE / "accounts.json"

DEFAULT_ACR_VALUES: tuple[str, ...] = ("urn:dvc:loa:1", "urn:dvc:loa:2")
UNKNOWN_ACR = "urn:dvc:loa:unknown"
TEST_CLIENT_ID = "portal-test"
TESTSERVER_REDIRECT_URI = "http://testserver/auth/oidc/callback"
TESTSERVER_POST_LOGOUT_URI = "http://testserver/"
START_TIMEOUT = 30.0

#: The demo citizens the OP knows, by ``sub`` (same file as the node server reads).
DEMO_ACCOUNTS: dict[str, dict[str, str]] = {a["sub"]: a for a in json.loads(ACCOUNTS_FILE.read_text("utf-8"))}


class OPError(AssertionError):
    """The OP did something the headless driver did not expect."""


@dataclass
class _Form:
    """One HTML form: its id, method, action and fields (name → value; selects → selected and options)."""

    id: str
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """Collect the forms of a page (inputs, selects with their options, submit buttons with a name)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = _Form(a.get("id", ""), a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name") and a.get("type", "text") not in ("submit", "button"):
            self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form.options[self._select] = []
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._form.options[self._select].append(value)
            if "selected" in a or self._select not in self._form.fields:
                self._form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _forms(html: str) -> list[_Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@dataclass
class OP:
    """A running test OP and the one client registered with it."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    acr_values: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stderr_path: Path | None = field(default=None, repr=False)
    #: Cookies of the "browser" of the last headless sign-in (reused by :meth:`end_session_headless`).
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies, repr=False)
    _stderr_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def discovery_url(self) -> str:
        """The OpenID configuration document's URL."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """Fetch the discovery document."""
        response = httpx.get(self.discovery_url, timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stderr(self) -> str:
        """The server's log so far."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        if self.stderr_path is not None:
            self.stderr_path.unlink(missing_ok=True)
            self.stderr_path = None

    def _browser(self, cookies: httpx.Cookies | None = None) -> httpx.Client:
        return httpx.Client(follow_redirects=False, timeout=10, cookies=cookies)

    def _drive(
        self,
        client: httpx.Client,
        response: httpx.Response,
        on_page: Callable[[httpx.Client, httpx.Response], httpx.Response],
    ) -> str:
        """Follow the OP's redirects and pages until it redirects away from its own origin."""
        own = _origin(self.issuer)
        for _ in range(20):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if _origin(location) != own:
                    return location
                response = client.get(location)
                continue
            if response.status_code != 200:
                raise OPError(
                    f"OP answered {response.status_code} at {response.url}:\n{response.text[:2000]}\n"
                    f"OP log:\n{self.stderr()[-3000:]}"
                )
            response = on_page(client, response)
        raise OPError("too many steps at the OP")

    def authorize_headless(
        self,
        authorization_url: str,
        *,
        account: str = "citizen-an",
        acr: str = "urn:dvc:loa:2",
        cancel: bool = False,
    ) -> str:
        """Sign in at the OP like a browser would, with a fresh cookie jar.

        Returns the URL the OP redirects to (the client's redirect_uri with ``code`` and ``state``, or
        ``error``) without requesting it. ``cancel=True`` presses "Hủy" on the login page instead.
        """

        def on_page(client: httpx.Client, response: httpx.Response) -> httpx.Response:
            forms = {f.id: f for f in _forms(response.text)}
            if "login-form" not in forms:
                raise OPError(f"expected the login form at {response.url}:\n{response.text[:2000]}")
            form = forms["abort-form"] if cancel else forms["login-form"]
            data = dict(form.fields)
            if not cancel:
                if account not in form.options.get("account", []):
                    raise OPError(f"account {account!r} not offered: {form.options.get('account')}")
                if acr not in form.options.get("acr", []):
                    raise OPError(f"acr {acr!r} not offered: {form.options.get('acr')}")
                data.update(account=account, acr=acr)
            return client.post(urljoin(str(response.url), form.action), data=data)

        with self._browser() as client:
            location = self._drive(client, client.get(authorization_url), on_page)
            self.cookies = httpx.Cookies(client.cookies)
        return location

    def end_session_headless(self, end_session_url: str) -> str:
        """Follow an RP-initiated logout in the browser of the last sign-in; return where the OP sends it.

        That is the post_logout_redirect_uri (with ``state``) when the request named the client, else the
        OP's own "signed out" page.
        """

        def on_page(client: httpx.Client, response: httpx.Response) -> httpx.Response:
            forms = _forms(response.text)
            if 'id="logout-done"' in response.text or not forms:
                raise _Done(str(response.url))
            form = forms[0]
            data = {**form.fields, "logout": "yes"}
            return client.post(urljoin(str(response.url), form.action), data=data)

        with self._browser(self.cookies) as client:
            try:
                location = self._drive(client, client.get(end_session_url), on_page)
            except _Done as done:
                location = done.url
            self.cookies = httpx.Cookies(client.cookies)
        return location


class _Done(Exception):
    """Raised by a page handler when the page is the end of the journey."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_op(
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    *,
    client_id: str = TEST_CLIENT_ID,
    acr_values: list[str] | None = None,
) -> OP:
    """Start the OP on a free 127.0.0.1 port with one client (random secret); wait until discovery answers."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (make dev-deps)")
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").exists():
        pytest.fail("node_modules/oidc-provider is missing: run npm ci")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(32)
    acrs = list(acr_values) if acr_values is not None else list(DEFAULT_ACR_VALUES)
    clients = [
        {
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
            "token_endpoint_auth_method": "client_secret_basic",
        }
    ]
    env = {
        **os.environ,
        "OP_PORT": str(port),
        "OP_ISSUER": issuer,
        "OP_CLIENTS": json.dumps(clients),
        "OP_ACR_VALUES": json.dumps(acrs),
    }
    env.pop("NODE_ENV", None)  # a test server: never run with production settings
    fd, name = tempfile.mkstemp(prefix="oidc-op-", suffix=".log")
    stderr_file = os.fdopen(fd, "wb")
    process = subprocess.Popen(
        [node, str(SERVER)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stderr_file, stderr=stderr_file
    )
    op = OP(
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris),
        acr_values=[*acrs, UNKNOWN_ACR] if UNKNOWN_ACR not in acrs else acrs,
        process=process,
        stderr_path=Path(name),
        _stderr_file=stderr_file,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            log = op.stderr()
            op.stop()
            pytest.fail(f"the test OP exited with {process.returncode}:\n{log}")
        try:
            if httpx.get(op.discovery_url, timeout=2).status_code == 200:
                return op
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            log = op.stderr()
            op.stop()
            pytest.fail(f"the test OP did not answer at {op.discovery_url} within {START_TIMEOUT:.0f} s:\n{log}")
        time.sleep(0.1)


@contextlib.contextmanager
def running_op(
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    *,
    client_id: str = TEST_CLIENT_ID,
    acr_values: list[str] | None = None,
) -> Iterator[OP]:
    """:func:`start_op` as a context manager that stops the server on exit."""
    op = start_op(redirect_uris, post_logout_redirect_uris, client_id=client_id, acr_values=acr_values)
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="session")
def oidc_op() -> Iterator[OP]:
    """The test OP with client ``portal-test`` for the TestClient (``http://testserver``)."""
    with running_op([TESTSERVER_REDIRECT_URI], [TESTSERVER_POST_LOGOUT_URI]) as op:
        yield op
