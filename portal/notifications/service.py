"""Notification use cases: notify once per event, list, count, mark read. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.outbox import enqueue
from portal.notifications import templates
from portal.notifications.models import Notification, NotificationChannel, translate
from portal.notifications.outbox import SendNotification
from portal.notifications.preferences import LANGUAGES, contact_email

__all__ = ["contact_email", "mark_read", "notifications_of", "notify", "unread_count"]


def _render(name: str, msgid: str, params: Mapping[str, str], max_length: int | None = None) -> None:
    """Refuse a text that would not show in every language: empty, missing a placeholder, or too long."""
    for lang in LANGUAGES:
        try:
            text = translate(msgid, params, lang).strip()
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"notification {name} {msgid!r} in {lang!r} cannot be formatted: {exc}") from None
        if not text:
            raise ValueError(f"notification {name} has no {lang!r} text")
        if max_length is not None and len(text) > max_length:
            raise ValueError(f"notification {name} in {lang!r} is longer than {max_length} characters")


def _render_template(kind: str, params: Mapping[str, str]) -> None:
    """Refuse a notification whose template file is missing or cannot be filled with `params`."""
    if not templates.has_template(kind):
        raise ValueError(f"notification kind {kind!r} has no template file and no subject and body were given")
    for lang in LANGUAGES:
        try:
            written = templates.texts(kind, params, lang)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"notification template {kind!r} in {lang!r} cannot be formatted: {exc}") from None
        if not written.subject.strip() or not written.body.strip():
            raise ValueError(f"notification template {kind!r} has no {lang!r} subject or body")
        if len(written.subject) > 200:
            raise ValueError(f"notification template {kind!r} in {lang!r} has a subject longer than 200 characters")


def _check(kind: str, dedupe_key: str, link: str) -> None:
    if not kind or len(kind) > 40:
        raise ValueError("notification kind must have 1 to 40 characters")
    if not dedupe_key or len(dedupe_key) > 120:
        raise ValueError("notification dedupe_key must have 1 to 120 characters")
    # A path inside the portal: never another site ("//host") nor a scheme ("javascript:").
    if not link.startswith("/") or link.startswith("//") or "\\" in link or len(link) > 300:
        raise ValueError(f"notification link must be a path in the portal, not {link!r}")


def notify(
    session: Session,
    *,
    account_id: str,
    kind: str,
    dedupe_key: str,
    params: Mapping[str, str] | None = None,
    link: str,
    subject: str = "",
    body: str = "",
) -> Notification | None:
    """Record one notification (the inbox) and queue its fan-out to the channels the account chose, in the
    caller's transaction.

    With ``subject`` and ``body`` empty, the texts are the template file of ``kind`` (`templates`), filled with
    ``params``. Otherwise they are message ids marked with ``N_`` (English, with ``{placeholders}``) and
    ``params`` the values of their placeholders. Either way they are rendered in the reader's language when
    the notification is shown or sent.
    ``dedupe_key`` names the event (``payment.succeeded:<payment id>``): when it was already notified,
    nothing is added and None is returned. The unique key decides, so two concurrent calls for one
    event make one row whichever commits first.
    """
    _check(kind, dedupe_key, link)
    values = {key: str(value) for key, value in (params or {}).items()}
    if not subject and not body:
        _render_template(kind, values)
    else:
        _render("subject", subject, values, 200)
        _render("body", body, values)
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id!r} to notify")
    email = contact_email(account)
    row = Notification(
        account_id=account_id,
        kind=kind,
        dedupe_key=dedupe_key,
        subject=subject,
        body=body,
        params=values,
        link=link,
        channel=NotificationChannel.EMAIL if email else NotificationChannel.LOG,
        recipient=email or "",
    )
    table = Notification.__table__  # type: ignore[attr-defined]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(table)
        .values(**row.model_dump())
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id)
    )
    inserted = session.execute(stmt).scalar_one_or_none()
    if inserted is None:
        return None
    enqueue(session, SendNotification(id=inserted))
    return session.get(Notification, inserted)


def notifications_of(session: Session, account_id: str, *, limit: int = 200) -> Sequence[Notification]:
    """The account's notifications, newest first."""
    return session.exec(
        select(Notification)
        .where(Notification.account_id == account_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    ).all()


def unread_count(session: Session, account_id: str) -> int:
    """How many of the account's notifications are not read yet (one COUNT on the account's index)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.account_id == account_id, col(Notification.read_at).is_(None))
        ).one()
    )


def mark_read(session: Session, *, notification_id: str, account_id: str) -> Notification:
    """Mark one of the account's notifications read; anyone else's is the same 404 as a missing one."""
    notification = session.exec(
        select(Notification).where(Notification.id == notification_id, Notification.account_id == account_id)
    ).first()
    if notification is None:
        raise NotFound(N_("There is no notification with this reference in your account."))
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.add(notification)
        session.flush()
    return notification
