"""The `session` fixture: what a test writes, even committed, is rolled back and never seen outside."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.models import Account
from tests import factories

pytestmark = pytest.mark.db


def test_writes_stay_inside_the_test_transaction(session: Session, engine: Engine) -> None:
    person = factories.account(session)
    session.commit()  # ends only the savepoint: the outer transaction stays open
    assert session.get(Account, person.id) is not None
    with Session(engine) as other:
        assert other.get(Account, person.id) is None


def test_rollback_in_the_code_under_test_keeps_earlier_work(session: Session) -> None:
    kept = factories.account(session)
    session.commit()
    dropped = factories.account(session)
    session.rollback()  # back to the last savepoint, not to the start of the test
    assert session.get(Account, kept.id) is not None
    assert session.get(Account, dropped.id) is None


def test_savepoints_nest(session: Session) -> None:
    person = factories.account(session)
    with session.begin_nested():
        person.full_name = "Trần Văn Nam"
    with pytest.raises(IntegrityError), session.begin_nested():
        factories.account(session, email=person.email)  # the e-mail is unique: only this savepoint is undone
    assert session.get(Account, person.id).full_name == "Trần Văn Nam"  # type: ignore[union-attr]
