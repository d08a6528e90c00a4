"""The statistics' feedback figures: received in the period and answered on time (local answer date on or before
due_on), on the page, in the JSON and in the CSV, for the procedure filter; the other figures unchanged."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.feedback import service
from portal.feedback.models import Feedback
from portal.stats.figures import StatsQuery
from portal.stats.query import compute
from tests import factories

pytestmark = pytest.mark.db


def _file(db: Session, app: FastAPI, procedure: str, when: datetime) -> Feedback:
    filing = service.Filing(
        kind="feedback",
        about="procedure",
        procedure_code=procedure,
        title="Thời gian xử lý quá dài",
        body="Tôi đề nghị cơ quan rút ngắn thời gian giải quyết thủ tục này.",
        name="Ngô Thị Lan",
        email=f"lan-{secrets.token_hex(4)}@example.vn",
    )
    return service.file_item(db, filing, account=None, settings=app.state.settings, storage=app.state.storage, now=when)


def _answer(db: Session, item: Feedback, when: datetime) -> None:
    service.answer(
        db,
        item,
        text="Cảm ơn ông bà đã góp ý.",
        public_title=None,
        public_body=None,
        staff_name="Cán bộ",
        staff_id=None,
        now=when,
    )


def test_feedback_received_and_answered_on_time(fb_app: FastAPI, fb_db: Session, fb_client: TestClient) -> None:
    code = f"9.{secrets.randbelow(10**6):06d}"
    fb_db.add(factories.procedure_copy(fb_db, code, slug="gop-y"))
    fb_db.commit()
    filed = datetime(2021, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 local; 10 working days: due 24/03/2021
    on_time, late, waiting = (_file(fb_db, fb_app, code, filed) for _ in range(3))
    assert on_time.due_on.isoformat() == "2021-03-24"
    # Answered at 23:30 local on the due day (16:30 UTC): on time by the local date.
    _answer(fb_db, on_time, datetime(2021, 3, 24, 16, 30, tzinfo=UTC))
    # 00:30 local the next day (17:30 UTC on the due day): late.
    _answer(fb_db, late, datetime(2021, 3, 24, 17, 30, tzinfo=UTC))
    _file(fb_db, fb_app, code, datetime(2021, 4, 2, 3, 0, tzinfo=UTC))  # outside the period
    fb_db.commit()
    assert waiting.status == "open"

    query = StatsQuery(date_from=datetime(2021, 3, 1).date(), date_to=datetime(2021, 3, 31).date(), procedure=code)
    figures = compute(fb_db, query).figures
    assert (figures.feedback_received, figures.feedback_answered_on_time) == (3, 1)
    assert figures.feedback_on_time_percent == 33.33
    assert figures.received == 0  # the dossier figures are untouched by feedback

    params = {"from": "2021-03-01", "to": "2021-03-31", "procedure": code}
    data = fb_client.get("/api/stats", params=params).json()["figures"]
    assert (data["feedback_received"], data["feedback_answered_on_time"], data["feedback_on_time_percent"]) == (
        3,
        1,
        33.33,
    )
    rows = list(csv.reader(io.StringIO(fb_client.get("/api/stats.csv", params=params).text.lstrip("\ufeff"))))
    values = {row[1]: (row[3], row[4]) for row in rows if row[0] == "figures"}
    assert values["feedback_received"] == ("count", "3")
    assert values["feedback_on_time_percent"] == ("percent", "33.33")
    page = fb_client.get("/stats", params=params)
    assert page.status_code == 200
    assert 'id="figure-feedback_received"' in page.text and 'id="figure-feedback_answered_on_time"' in page.text

    empty = StatsQuery(date_from=datetime(2021, 5, 1).date(), date_to=datetime(2021, 5, 31).date(), procedure=code)
    none = compute(fb_db, empty).figures
    assert (none.feedback_received, none.feedback_on_time_percent) == (0, None)
