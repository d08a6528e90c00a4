"""The lease of a staged delivery outlasts the slowest configured provider (SMS `timeout_seconds`, Zalo `timeout`)."""

from __future__ import annotations

from portal.kernel.settings import Settings
from portal.notifications.tasks import _lease


def test_the_lease_follows_each_providers_timeout() -> None:
    base = _lease(Settings(_env_file=None))  # type: ignore[call-arg]
    slow_sms = _lease(Settings(_env_file=None, sms_options={"timeout_seconds": 100}))  # type: ignore[call-arg]
    slow_zalo = _lease(Settings(_env_file=None, zalo_options={"timeout": 110}))  # type: ignore[call-arg]
    assert base < slow_sms == 5 * 100 + 60 < slow_zalo == 5 * 110 + 60
