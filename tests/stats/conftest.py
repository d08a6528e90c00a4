"""The hand-counted dataset of tests/stats/dataset.py as fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from tests.stats import dataset
from tests.stats.dataset import Dataset


@pytest.fixture()
def data(session: Session) -> Dataset:
    """The dataset in the test's session (rolled back with it)."""
    return dataset.build(session)


@pytest.fixture()
def committed(db: Session) -> Iterator[Dataset]:
    """The dataset committed for the app to read, deleted afterwards."""
    with dataset.committed(db) as data:
        yield data
