"""What the console's journey prepares in the journeys' server: an overdue dossier received (and read) by its
agency through the back-office API, a supervisor, and a dead letter; all through the server's own database and
API, as a partner and an operator would (e2e/test_console_journey.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pyotp
from sqlmodel import Session, select

from auth.models import Account
from auth.staff import current_step
from e2e.journey_helpers import partner_connection
from portal.dossiers import deadline
from portal.dossiers.models import Dossier
from portal.feedback.models import Feedback
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from portal.simulator.agent import OFFICER
from portal.simulator.api import BackOfficeApi, working_credentials
from portal.simulator.credentials import CLIENT_NAME, dev_client
from tests import factories
from tests.staff_factories import StaffLogin, make_staff

__all__ = [
    "CLIENT_NAME",
    "OverdueDossier",
    "dead_letter",
    "outbox_state",
    "overdue_dossier",
    "supervisor",
    "wrong_code",
]

DAYS_LATE = 3


@dataclass(frozen=True)
class OverdueDossier:
    id: str
    code: str
    agency_code: str


def overdue_dossier(server_url: str, settings: Settings, citizen_email: str) -> OverdueDossier:
    """A dossier of the citizen (signed up through the pages) submitted, received and read by its agency through
    the back-office API (the development client, as the simulator plays it), then `DAYS_LATE` days past its
    official date and marked by the deadline job's step (for this dossier only: other journeys share the
    database)."""
    with partner_connection(server_url, settings) as (http, engine):
        with Session(writer(engine), expire_on_commit=False) as session:
            account = session.exec(select(Account).where(Account.email == citizen_email)).one()
            dossier = factories.dossier(session, applicant=account, submitted=True)
            session.commit()
        assert dossier.code
        credentials = working_credentials(
            BackOfficeApi, http, partial(dev_client, settings, engine, dossier.agency_code)
        )
        api = BackOfficeApi(http, credentials)
        api.receive(dossier.code, officer=OFFICER)
        api.start_processing(dossier.code)
        whole = api.dossier(dossier.code)  # the agency reads the applicant's data: recorded for the citizen
        assert whole["status"] == "in_process", whole["status"]
        with Session(writer(engine), expire_on_commit=False) as session:
            row = session.get(Dossier, dossier.id)
            assert row is not None
            row.official_due_date = row.due_date = local_date(utcnow()) - timedelta(days=DAYS_LATE)
            session.add(row)
            session.commit()
            assert deadline.mark_overdue_one(session, row, now=utcnow())
            session.commit()
        return OverdueDossier(dossier.id, dossier.code, dossier.agency_code)


def supervisor(settings: Settings, server_url: str, full_name: str) -> StaffLogin:
    """A supervisor of the centre, enrolled (its TOTP key known to the journey)."""
    with partner_connection(server_url, settings) as (_http, engine):
        app = SimpleNamespace(state=SimpleNamespace(engine=engine, settings=settings))
        return make_staff(app, role="supervisor", full_name=full_name)


def dead_letter(server_url: str, settings: Settings, feedback_code: str, error: str) -> tuple[int, str]:
    """The filer's "we received your feedback" message, dead: the SMS/email provider failed as many times as
    the worker tries (settings.outbox_max_attempts). Returns the message's id and the item's id."""
    with (
        partner_connection(server_url, settings) as (_http, engine),
        Session(writer(engine), expire_on_commit=False) as session,
    ):
        item = session.exec(select(Feedback).where(Feedback.code == feedback_code)).one()
        msg = OutboxMessage(
            topic="feedback.message",
            payload={"id": item.id, "event": "filed"},
            attempts=settings.outbox_max_attempts,
            dead=True,
            last_error=error,
        )
        session.add(msg)
        session.commit()
        assert msg.id is not None
        return msg.id, item.id


def outbox_state(settings: Settings, server_url: str, message_id: int) -> dict[str, Any]:
    """The message's row as the worker sees it."""
    with partner_connection(server_url, settings) as (_http, engine), Session(engine) as session:
        msg = session.get(OutboxMessage, message_id)
        assert msg is not None
        return {"dead": msg.dead, "attempts": msg.attempts, "processed": msg.processed_at is not None}


def wrong_code(login: StaffLogin) -> str:
    """Six digits the portal refuses now: none of the codes of the steps it accepts (one either side)."""
    assert login.totp_secret
    totp, step = pyotp.TOTP(login.totp_secret), current_step()
    accepted = {totp.generate_otp(s) for s in range(step - 2, step + 3)}
    return next(code for code in (f"{n:06d}" for n in range(123456, 10**6, 111111)) if code not in accepted)
