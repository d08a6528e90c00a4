"""How each account wants to be told: the channels it chose, its phone, its language (per account: each
representative of a business chooses for themselves). The inbox on the portal is always on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.notifications.models import CHOOSABLE_CHANNELS, NotificationChannel, NotificationPreference

LANGUAGES = ("vi", "en")
# A Vietnamese mobile number in national form: 0, then a mobile prefix (3, 5, 7, 8, 9), then 8 digits.
MOBILE_RE = re.compile(r"^0[35789][0-9]{8}$")  # ASCII digits only: \d would also take ٣ and ３


def national_mobile(value: str | None) -> str | None:
    """`value` as a national mobile number (0912345678), from 0912 345 678, 091.234.5678, +84912345678 or
    84912345678; None when it is not a Vietnamese mobile number."""
    if not value:
        return None
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if MOBILE_RE.match(digits) else None


def international(phone: str) -> str:
    """0912345678 → 84912345678: the form SMS and Zalo providers take (no "+")."""
    return "84" + phone[1:]


def contact_email(account: Account) -> str | None:
    """Where the citizen's emails go: the address of the portal account, else the one the SSO gave."""
    return account.email or account.sso_email


def account_phone(account: Account) -> str | None:
    """The account's own mobile number (signed up with it, or given by the SSO), when it is Vietnamese."""
    return national_mobile(account.phone) or national_mobile(account.sso_phone)


@dataclass(frozen=True)
class Choice:
    """An account's preferences as they apply now: what it chose, and where each channel can reach it."""

    email: bool
    sms: bool
    zalo: bool
    phone: str | None  # the preference's own number; None: the account's
    language: str
    sms_plain: bool
    email_address: str | None  # the account's address (None: no email can be sent)
    account_phone: str | None  # the account's own Vietnamese mobile number
    saved: bool  # False: nothing saved yet, these are the defaults

    @property
    def mobile(self) -> str | None:
        """The number SMS and Zalo go to (national form), or None."""
        return self.phone or self.account_phone

    def reachable(self) -> tuple[str, ...]:
        """The chosen channels that can reach the citizen now, in CHOOSABLE_CHANNELS order."""
        chosen = {
            NotificationChannel.EMAIL: self.email and self.email_address is not None,
            NotificationChannel.SMS: self.sms and self.mobile is not None,
            NotificationChannel.ZALO: self.zalo and self.mobile is not None,
        }
        return tuple(channel for channel in CHOOSABLE_CHANNELS if chosen[channel])

    def recipient(self, channel: str) -> str:
        """The address (email) or the international number (SMS, Zalo) of `channel`; "" when none."""
        if channel == NotificationChannel.EMAIL:
            return self.email_address or ""
        mobile = self.mobile
        return international(mobile) if mobile else ""


def choice_of(session: Session, account: Account) -> Choice:
    """The account's saved preferences, or the defaults: email when it has an address, SMS when it has a
    Vietnamese mobile number, Zalo off, Vietnamese."""
    email_address = contact_email(account)
    phone_of_account = account_phone(account)
    row = session.get(NotificationPreference, account.id)
    if row is None:
        return Choice(
            email=email_address is not None,
            sms=phone_of_account is not None,
            zalo=False,
            phone=None,
            language="vi",
            sms_plain=False,
            email_address=email_address,
            account_phone=phone_of_account,
            saved=False,
        )
    return Choice(
        email=row.email,
        sms=row.sms,
        zalo=row.zalo,
        phone=national_mobile(row.phone),
        language=row.language if row.language in LANGUAGES else "vi",
        sms_plain=row.sms_plain,
        email_address=email_address,
        account_phone=phone_of_account,
        saved=True,
    )


@dataclass(frozen=True)
class PreferenceForm:
    """What the citizen submitted on the preferences page (checkbox fields: present means ticked)."""

    email: bool
    sms: bool
    zalo: bool
    phone: str
    language: str
    sms_plain: bool


def check(form: PreferenceForm, account: Account) -> dict[str, str]:
    """Field → msgid of what is wrong; empty when the form can be saved."""
    errors: dict[str, str] = {}
    phone = form.phone.strip()
    if phone and national_mobile(phone) is None:
        errors["phone"] = N_(
            "Enter a Vietnamese mobile number: 10 digits starting with 03, 05, 07, 08 or 09 (or +84 and 9 digits)."
        )
    elif (form.sms or form.zalo) and not phone and account_phone(account) is None:
        errors["phone"] = N_("Enter the mobile number SMS and Zalo messages should go to.")
    if form.email and contact_email(account) is None:
        errors["email"] = N_(
            "Your account has no email address, so no email can be sent. Untick email, or sign in with an "
            "account that has one."
        )
    if form.language not in LANGUAGES:
        errors["language"] = N_("Choose Vietnamese or English.")
    return errors


def save(session: Session, *, account: Account, form: PreferenceForm) -> NotificationPreference:
    """Store the account's preferences (checked with `check` first; a ValueError if they were not)."""
    errors = check(form, account)
    if errors:
        raise ValueError(f"notification preferences not valid: {sorted(errors)}")
    phone = national_mobile(form.phone.strip())
    if phone is not None and phone == account_phone(account):
        phone = None  # the account's own number: follow it if the account's number changes
    row = session.get(NotificationPreference, account.id) or NotificationPreference(account_id=account.id)
    row.email, row.sms, row.zalo = form.email, form.sms, form.zalo
    row.phone = phone
    row.language = form.language
    row.sms_plain = form.sms_plain
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row
