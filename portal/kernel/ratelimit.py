"""Rate limits per action and key (an IP, a login, an account): in memory, or in Redis when configured.

A fixed window per (bucket, key): `limit` requests per `window` seconds. In memory the counters
are per process, which is right for the embedded default (one process); with several processes
or machines set PORTAL_REDIS_URL so they share the counters.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """At most `limit` attempts per `window` seconds."""

    limit: int
    window: int


# What each bucket protects and how much of it a person or a script may use.
RULES: dict[str, Rule] = {
    "signin:ip": Rule(limit=30, window=300),
    "signin:login": Rule(limit=10, window=300),
    "signup:ip": Rule(limit=10, window=3600),
    "otp:account": Rule(limit=5, window=300),
    "lookup:ip": Rule(limit=60, window=60),
    "oidc:ip": Rule(limit=30, window=300),
    "token:ip": Rule(limit=60, window=60),
    "api:ip": Rule(limit=600, window=60),
    "business:account": Rule(limit=10, window=3600),
    "verify:ip": Rule(limit=30, window=60),
    # feedback and complaints posted from one address (mistakes included); a centre's public network is one address
    "feedback:ip": Rule(limit=20, window=3600),
    "feedback_lookup:ip": Rule(limit=30, window=60),  # tracking-code lookups (codes are not guessable, but still)
    "staff_signin:ip": Rule(limit=20, window=300),
    "staff_signin:login": Rule(limit=10, window=300),
    "staff_totp:member": Rule(limit=5, window=300),  # second-factor codes tried by one staff member
}


class RateLimited(DomainError):
    """Too many attempts; `retry_after` says in how many seconds to try again."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(N_("Too many attempts. Try again in {minutes} min."), {"minutes": minutes})
        self.retry_after = retry_after


class Limiter(Protocol):
    rules: dict[str, Rule]

    def hit(self, bucket: str, key: str, rule: Rule) -> tuple[int, int]:
        """Count one attempt; return (attempts in the current window, seconds until it ends)."""
        ...

    def reset(self, bucket: str, key: str) -> None: ...


class MemoryLimiter:
    """Counters in this process, dropped when their window ends."""

    def __init__(self, rules: dict[str, Rule] | None = None, max_keys: int = 100_000) -> None:
        self.rules = rules or dict(RULES)
        self._counts: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, bucket: str, key: str, rule: Rule) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get((bucket, key), (0, 0.0))
            if ends <= now:
                count, ends = 0, now + rule.window
                if len(self._counts) >= self._max_keys:
                    self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count += 1
            self._counts[(bucket, key)] = (count, ends)
        return count, max(1, math.ceil(ends - now))

    def reset(self, bucket: str, key: str) -> None:
        with self._lock:
            self._counts.pop((bucket, key), None)


class RedisLimiter:
    """Counters in Redis (INCR + EXPIRE in one transaction), shared by every process."""

    def __init__(self, url: str, rules: dict[str, Rule] | None = None, prefix: str = "portal:rl:") -> None:
        import redis

        self.rules = rules or dict(RULES)
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._errors = (redis.RedisError, OSError)
        self._prefix = prefix
        # When Redis does not answer, each process keeps limiting on its own rather than not at all.
        self._fallback = MemoryLimiter(self.rules)

    def hit(self, bucket: str, key: str, rule: Rule) -> tuple[int, int]:
        name = f"{self._prefix}{bucket}:{key}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, rule.window, nx=True)
            pipe.ttl(name)
            count, _, ttl = pipe.execute()
        except self._errors as exc:
            log.warning("rate limits: Redis unavailable (%s); counting in this process", exc)
            return self._fallback.hit(bucket, key, rule)
        return int(count), max(1, int(ttl))

    def reset(self, bucket: str, key: str) -> None:
        self._fallback.reset(bucket, key)
        try:
            self._redis.delete(f"{self._prefix}{bucket}:{key}")
        except self._errors as exc:
            log.warning("rate limits: Redis unavailable (%s)", exc)


def parse_rules(overrides: dict[str, str]) -> dict[str, Rule]:
    """The default rules with operator overrides written as "limit/seconds" (e.g. {"lookup:ip": "120/60"})."""
    rules = dict(RULES)
    for bucket, text in overrides.items():
        if bucket not in RULES:
            raise ValueError(f"unknown rate-limit bucket {bucket!r} (known: {', '.join(sorted(RULES))})")
        limit, _, window = text.partition("/")
        if not (limit.isdigit() and window.isdigit() and int(limit) > 0 and int(window) > 0):
            raise ValueError(f"rate limit for {bucket!r} must look like 30/300 (attempts/seconds), not {text!r}")
        rules[bucket] = Rule(limit=int(limit), window=int(window))
    return rules


def make_limiter(redis_url: str, overrides: dict[str, str] | None = None) -> Limiter:
    rules = parse_rules(overrides or {})
    return RedisLimiter(redis_url, rules) if redis_url else MemoryLimiter(rules)


def check(limiter: Limiter, bucket: str, key: str | None) -> None:
    """Count an attempt in `bucket` for `key`; raise RateLimited once over the bucket's rule."""
    if not key:
        return
    rule = limiter.rules[bucket]
    count, retry_after = limiter.hit(bucket, key.lower(), rule)
    if count > rule.limit:
        raise RateLimited(retry_after)
