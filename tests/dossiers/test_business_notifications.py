"""A business's dossier tells every representative of the business, each on their own channels and language."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from portal.dossiers import lifecycle
from portal.dossiers.models import Dossier
from portal.dossiers.recipients import _key_for
from portal.kernel.db import writer
from portal.notifications.models import Notification, NotificationDelivery
from portal.notifications.templates import sms_text
from tests import factories
from tests.notifications.test_deliveries import log_ctx, mobile, prefer
from tests.notifications.test_notifications import drain_all

pytestmark = pytest.mark.db


def test_every_representative_is_told_on_the_channels_they_chose(app, settings) -> None:
    engine = app.state.engine
    with Session(writer(engine)) as s:
        filer = factories.account(s)
        colleague = factories.account(s)
        outsider = factories.account(s)
        business = factories.business(s, representatives=(filer, colleague))
        dossier = factories.dossier(s, applicant=filer, submitted=True, business_id=business.id)
        s.commit()
        filer_id, colleague_id, outsider_id, dossier_id = filer.id, colleague.id, outsider.id, dossier.id
    phone = mobile()
    prefer(engine, colleague_id, email=False, sms=True, phone=phone, language="en")

    with Session(writer(engine)) as s:
        row = s.get(Dossier, dossier_id)
        assert row is not None
        lifecycle.receive(session=s, dossier=row, officer="Lê Văn Tâm", by="test")
        s.commit()
        code = row.code
    drain_all(engine, log_ctx(app, settings))

    with Session(writer(engine)) as s:
        notes = s.exec(
            select(Notification).where(
                Notification.link == f"/dossiers/{dossier_id}", Notification.kind == "dossier.received"
            )
        ).all()
        by_account = {n.account_id: n for n in notes}
        assert set(by_account) == {filer_id, colleague_id}  # not the outsider
        assert outsider_id not in by_account
        assert by_account[filer_id].dedupe_key == f"dossier.received:{dossier_id}"
        assert by_account[colleague_id].dedupe_key == f"dossier.received:{dossier_id}|{colleague_id}"

        def channels(note: Notification) -> dict[str, NotificationDelivery]:
            rows = s.exec(
                select(NotificationDelivery)
                .where(NotificationDelivery.notification_id == note.id)
                .order_by(col(NotificationDelivery.channel))
            ).all()
            return {d.channel: d for d in rows}

        assert set(channels(by_account[filer_id])) == {"email"}  # the defaults: an address, no phone
        colleague_sms = channels(by_account[colleague_id])
        assert set(colleague_sms) == {"sms"}
        sms = colleague_sms["sms"]
        assert sms.recipient == "84" + phone[1:]
        link = f"{settings.base_url.rstrip('/')}/dossiers/{dossier_id}"
        english = sms_text("dossier.received", {**by_account[colleague_id].params, "link": link}, "en")
        assert code and code in english and sms.content["text"] == english  # in the colleague's language


def test_another_readers_key_stays_within_the_column() -> None:
    long_key = "postal.delivery_attempted:" + "x" * 110
    key = _key_for(long_key, "a" * 32)
    assert len(key) <= 120 and key.endswith("|" + "a" * 32)
    assert _key_for(long_key, "b" * 32) != key
    assert _key_for("dossier.received:d1", "acc") == "dossier.received:d1|acc"
