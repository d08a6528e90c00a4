"""Signing fixtures: one development PKI per test session (keys are generated once)."""

from __future__ import annotations

import pytest

from signing.pki import DevPKI, Issued

PERSON_NAME = "Nguyễn Thị Hường"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    """A DevPKI in a temporary folder whose URLs point at the TestClient's host."""
    return DevPKI.load_or_create(tmp_path_factory.mktemp("pki"), base_url="http://testserver")


@pytest.fixture(scope="module")
def person(dev_pki: DevPKI) -> Issued:
    """A citizen's certificate and key from the development PKI."""
    return dev_pki.issue_person(full_name=PERSON_NAME, cccd="001090000001")
