"""Messages to the filer of a feedback item, at the contact they typed (filers need no account): the tracking
code when filed, the answer when answered. Email when an address was given (PORTAL_NOTIFY_CHANNEL's notifier),
else an SMS (the SMS provider), through the outbox so a provider down is retried. The call to the provider runs
outside the database (a staged handler, like the notifications' deliveries)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from portal.feedback.models import Feedback
from portal.kernel.i18n import N_, Translator
from portal.kernel.outbox import HandlerFailed, OutboxPayload, Staged, WorkerContext, enqueue, staged
from portal.kernel.settings import Settings
from portal.notifications import sms as _sms_plugins  # noqa: F401  (registers the SMS providers)
from portal.notifications import sms_text
from portal.notifications.channels import (
    NotifierError,
    NotifierRejected,
    OutgoingMessage,
    SmsMessage,
    compose,
    notifier_from_settings,
    sms_registry,
)
from portal.notifications.preferences import international

log = logging.getLogger("portal.feedback")

FILED = "filed"
ANSWERED = "answered"
_SUBJECTS = {
    FILED: N_("Your feedback {code} was received"),
    ANSWERED: N_("Your feedback {code} was answered"),
}
_BODIES = {
    FILED: N_(
        "We received your feedback “{title}”. Its tracking code is {code}. The agency must answer by {due}. "
        "Follow it with the code on the portal."
    ),
    ANSWERED: N_("The agency answered your feedback {code} (“{title}”):\n\n{answer}"),
}
_SMS = {
    FILED: N_("Feedback received, code {code}, answer due {due}. {link}"),
    ANSWERED: N_("Your feedback {code} was answered. {link}"),
}


class FeedbackMessage(OutboxPayload):
    """Tell the filer of item `id` that it was filed or answered (`event`)."""

    topic: ClassVar[str] = "feedback.message"

    id: str
    event: str


def queue(session: Session, item: Feedback, event: str) -> None:
    """Queue the message in the caller's transaction."""
    enqueue(session, FeedbackMessage(id=item.id, event=event))


@dataclass(frozen=True)
class Job:
    code: str
    message: OutgoingMessage | SmsMessage


def _params(item: Feedback) -> dict[str, str]:
    return {
        "code": item.code,
        "title": item.title[:80],
        "due": item.due_on.strftime("%d/%m/%Y"),
        "answer": item.answer or "",
    }


def render(item: Feedback, event: str, settings: Settings) -> Job | None:
    """The message in the filer's language (then the other), to the email, else the mobile number."""
    link = f"/feedback/{item.code}"
    params = _params(item)
    if item.email:
        mail = compose(
            notification_id=f"feedback-{item.id}-{event}",
            kind=f"feedback.{event}",
            recipient=item.email,
            subject={lang: Translator(lang)(_SUBJECTS[event], params) for lang in ("vi", "en")},
            body={lang: Translator(lang)(_BODIES[event], params) for lang in ("vi", "en")},
            link=link,
            base_url=settings.base_url,
            locale=item.language,
        )
        return Job(item.code, mail)
    if item.phone:
        url = settings.base_url.rstrip("/") + link
        text = Translator(item.language)(_SMS[event], {**params, "link": url})
        fitted = sms_text.fit(text, plain=False, max_segments=settings.sms_max_segments)
        return Job(
            item.code,
            SmsMessage(
                delivery_id=f"fb-{item.id}-{event}"[:64],
                phone=international(item.phone),
                text=fitted.text,
                encoding=fitted.encoding,
            ),
        )
    return None


def prepare(session: Session, payload: FeedbackMessage, ctx: WorkerContext) -> Job | None:
    item = session.get(Feedback, payload.id)
    if item is None or payload.event not in _SUBJECTS:
        return None
    return render(item, payload.event, ctx.settings)


def perform(job: Job | None, ctx: WorkerContext) -> str | None:
    """Send; "" when sent or refused for good (logged), the error to retry otherwise."""
    if job is None:
        return ""
    try:
        if isinstance(job.message, OutgoingMessage):
            notifier = notifier_from_settings(ctx.settings)
            notifier.check_config()
            notifier.send(job.message)
        else:
            settings = ctx.settings
            sender = sms_registry.create(settings.sms_provider, settings.sms_options)
            sender.check_config()
            sender.send(job.message)
    except NotifierRejected as exc:
        log.warning("feedback %s: message refused for good: %s", job.code, exc)
        return ""
    except Exception as exc:  # the provider's or the settings' fault: retried by the outbox
        if not isinstance(exc, NotifierError):
            log.warning("feedback %s: %s", job.code, exc)
        return f"{type(exc).__name__}: {exc}"
    return ""


def finish(session: Session, payload: FeedbackMessage, outcome: str | None, ctx: WorkerContext) -> None:
    if outcome:
        raise HandlerFailed(outcome)


def _lease(settings: Settings) -> float:
    return 5 * max(settings.smtp_timeout_seconds, 30.0) + 60


send = staged(FeedbackMessage, Staged(prepare=prepare, perform=perform, finish=finish, lease=_lease))
