"""Settings: placeholder secrets are refused outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portal.kernel.settings import Settings


def test_development_accepts_the_placeholder() -> None:
    assert Settings(environment="development", _env_file=None).secret_key  # type: ignore[call-arg]


@pytest.mark.parametrize("env", ["production", "test"])
@pytest.mark.parametrize("secret", ["change-me", "dev-secret-change-me", "short"])
def test_placeholder_secret_refused(env: str, secret: str) -> None:
    with pytest.raises(ValidationError, match="PORTAL_SECRET_KEY"):
        Settings(environment=env, secret_key=secret, _env_file=None)  # type: ignore[call-arg, arg-type]


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_MAX_FILE_BYTES", "1234")
    monkeypatch.setenv("PORTAL_MAX_DOSSIER_BYTES", "5678")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.max_file_bytes, s.max_dossier_bytes) == (1234, 5678)


def test_limits_must_be_consistent() -> None:
    with pytest.raises(ValidationError):
        Settings(max_file_bytes=10, max_dossier_bytes=5, _env_file=None)  # type: ignore[call-arg]
