"""Rate limits: the rules, the in-memory counters, the Redis counters, and the pages that use them."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.kernel.ratelimit import MemoryLimiter, RateLimited, RedisLimiter, Rule, check, parse_rules
from portal.kernel.settings import Settings
from tests.conftest import csrf


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis of our own on a free port (the Debian redis-server), else the machine's on 6379."""
    binary = shutil.which("redis-server")
    if binary:
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)  # polling a port that is coming up
        yield f"redis://127.0.0.1:{port}/0"
        proc.terminate()
        proc.wait(timeout=10)
        return
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.fail("Redis is needed: run `make system-test-deps` (make test installs redis-server)")
    yield "redis://127.0.0.1:6379/15"


def test_rules_can_be_overridden_and_bad_ones_are_refused() -> None:
    rules = parse_rules({"lookup:ip": "120/60"})
    assert rules["lookup:ip"] == Rule(limit=120, window=60)
    with pytest.raises(ValueError, match="unknown rate-limit bucket"):
        parse_rules({"nope": "1/1"})
    with pytest.raises(ValueError, match="30/300"):
        parse_rules({"lookup:ip": "many"})
    with pytest.raises(ValueError):
        Settings(rate_limits={"lookup:ip": "0/60"}, _env_file=None)  # type: ignore[call-arg]


def test_memory_limiter_counts_per_key_and_window() -> None:
    limiter = MemoryLimiter({"signin:login": Rule(limit=3, window=1)})
    for _ in range(3):
        check(limiter, "signin:login", "a@example.vn")
    with pytest.raises(RateLimited) as err:
        check(limiter, "signin:login", "A@example.vn")  # keys are case-insensitive
    assert 1 <= err.value.retry_after <= 1
    check(limiter, "signin:login", "b@example.vn")  # another key has its own count
    limiter.reset("signin:login", "a@example.vn")
    check(limiter, "signin:login", "a@example.vn")


def test_redis_limiter_shares_counts_between_instances(redis_url: str) -> None:
    rules = {"otp:account": Rule(limit=2, window=30)}
    first, second = RedisLimiter(redis_url, rules), RedisLimiter(redis_url, rules)
    key = secrets.token_hex(4)
    check(first, "otp:account", key)
    check(second, "otp:account", key)
    with pytest.raises(RateLimited) as err:
        check(first, "otp:account", key)
    assert 1 <= err.value.retry_after <= 30


def test_redis_down_falls_back_to_counting_in_process() -> None:
    limiter = RedisLimiter(f"redis://127.0.0.1:{_free_port()}/0", {"otp:account": Rule(limit=1, window=30)})
    check(limiter, "otp:account", "x")
    with pytest.raises(RateLimited):
        check(limiter, "otp:account", "x")


@pytest.fixture()
def strict_client(settings: Settings) -> Iterator[TestClient]:
    """An app with the default rules (the shared test app lifts the per-address ones)."""
    app = create_app(settings.model_copy(update={"rate_limits": {"lookup:ip": "3/60", "signin:ip": "4/300"}}))
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.mark.db
def test_lookup_is_rate_limited_per_address(strict_client: TestClient) -> None:
    for i in range(3):
        assert strict_client.get(f"/lookup?code=ZZZZ-000101-{i:04d}").status_code == 404
    r = strict_client.get("/lookup?code=ZZZZ-000101-0009")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "Quá nhiều lần thử" in r.text or "Too many attempts" in r.text


@pytest.mark.db
def test_signin_is_rate_limited_per_address_and_keeps_what_was_typed(strict_client: TestClient) -> None:
    token = csrf(strict_client, "/signin")
    statuses = []
    for i in range(5):
        r = strict_client.post(
            "/signin", data={"csrf_token": token, "login": f"nobody{i}@example.vn", "password": "x" * 12}
        )
        statuses.append(r.status_code)
    assert statuses == [401, 401, 401, 401, 429]
    assert 'value="nobody4@example.vn"' in r.text
    assert "retry-after" in r.headers


@pytest.mark.db
def test_redis_limiter_in_the_app(settings: Settings, redis_url: str) -> None:
    app = create_app(settings.model_copy(update={"redis_url": redis_url, "rate_limits": {"lookup:ip": "2/60"}}))
    assert isinstance(app.state.limiter, RedisLimiter)
    with TestClient(app) as client:
        app.state.limiter.reset("lookup:ip", "testclient")
        assert [client.get(f"/lookup?code=ZZZZ-000101-{i:04d}").status_code for i in range(3)] == [404, 404, 429]


@pytest.mark.db
def test_partner_api_is_rate_limited_before_any_audit_write(settings: Settings) -> None:
    from sqlmodel import Session, select

    from portal.kernel.audit import AuditEvent

    app = create_app(settings.model_copy(update={"rate_limits": {"api:ip": "2/60"}}))
    with TestClient(app) as client:
        with Session(app.state.engine) as db:
            before = len(db.exec(select(AuditEvent).where(AuditEvent.kind == "partner.api")).all())
        codes = [
            client.get("/api/v1/postal/orders", headers={"Authorization": "Bearer x"}).status_code for _ in range(4)
        ]
        assert codes == [401, 401, 429, 429]
        r = client.get("/api/v1/postal/orders")
        assert r.headers["content-type"].startswith("application/problem+json") and "retry-after" in r.headers
        with Session(app.state.engine) as db:
            after = len(db.exec(select(AuditEvent).where(AuditEvent.kind == "partner.api")).all())
        assert after == before + 2
