"""The citizen's notification preferences page, and the development page of what each channel sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from auth.deps import CurrentAccount
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import redirect, render
from portal.notifications import deliveries
from portal.notifications.preferences import PreferenceForm, check, choice_of, save

router = APIRouter()

Checkbox = Annotated[str, Form(max_length=10)]


@router.get("/notifications/preferences", name="notification_preferences")
def preferences_page(request: Request, session: SessionDep, account: CurrentAccount, saved: str = "") -> Response:
    """The channels the signed-in citizen is told by (the inbox is always on), the phone, the language."""
    choice = choice_of(session, account)
    form = {
        "email": choice.email,
        "sms": choice.sms,
        "zalo": choice.zalo,
        "phone": choice.phone or "",
        "language": choice.language,
        "sms_plain": choice.sms_plain,
    }
    context = {
        "choice": choice,
        "form": form,
        "errors": {},
        "saved": saved == "1",
        "inbox_only": not choice.reachable(),
    }
    return render(request, "notifications/preferences.html", context)


@router.post("/notifications/preferences", name="save_notification_preferences")
def save_preferences(
    request: Request,
    session: SessionDep,
    account: CurrentAccount,
    email: Checkbox = "",
    sms: Checkbox = "",
    zalo: Checkbox = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    language: Annotated[str, Form(max_length=10)] = "vi",
    sms_plain: Checkbox = "",
) -> Response:
    """Save the preferences (POST → redirect → GET), or show the form again with what is wrong (422)."""
    submitted = PreferenceForm(
        email=bool(email), sms=bool(sms), zalo=bool(zalo), phone=phone, language=language, sms_plain=bool(sms_plain)
    )
    errors = check(submitted, account)
    if not errors:
        save(session, account=account, form=submitted)
        return redirect(str(request.app.url_path_for("notification_preferences")) + "?saved=1")
    choice = choice_of(session, account)
    form = {
        "email": submitted.email,
        "sms": submitted.sms,
        "zalo": submitted.zalo,
        "phone": phone,
        "language": language,
        "sms_plain": submitted.sms_plain,
    }
    context = {"choice": choice, "form": form, "errors": errors, "saved": False, "inbox_only": False}
    return render(request, "notifications/preferences.html", context, status_code=422)


@router.get("/dev/notifications", name="dev_notifications")
def dev_notifications(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Development only: exactly what each channel sent (or, with the log plugins, would have sent)."""
    if settings.environment == "production":
        raise NotFound(N_("There is no such page."))
    rows = deliveries.recent_deliveries(session, limit=200)
    return render(
        request,
        "notifications/dev.html",
        {"rows": rows, "status_labels": deliveries.STATUS_LABELS, "channel_labels": deliveries.CHANNEL_LABELS},
    )
