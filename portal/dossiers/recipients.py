"""Who is told of a dossier's event: the applicant, and for a business's dossier every representative of the
business, each on the channels and in the language they chose (their own preferences).

The representatives who did not file the dossier get their own notification of the same event (their own
dedupe key), so each one's inbox, channels and read marks are theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlmodel import Session, col, select

from portal.businesses.models import Representative
from portal.dossiers.models import Dossier
from portal.notifications.service import notify

MAX_KEY = 120


def _key_for(dedupe_key: str, account_id: str) -> str:
    """The event's dedupe key for another reader: unique per account, within the column's 120 characters."""
    key = f"{dedupe_key}|{account_id}"
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:12]
    room = MAX_KEY - len(account_id) - len(digest) - 2
    return f"{dedupe_key[:room]}|{digest}|{account_id}"


def readers(session: Session, dossier: Dossier, first: str | None = None) -> list[str]:
    """The accounts told of the dossier's events: `first` (the applicant by default), then, for a business's
    dossier, the business's other representatives."""
    primary = first or dossier.applicant_id
    accounts = [primary]
    if dossier.business_id:
        others = session.exec(
            select(Representative.account_id)
            .where(Representative.business_id == dossier.business_id, Representative.account_id != primary)
            .order_by(col(Representative.added_at), col(Representative.account_id))
        ).all()
        accounts.extend(others)
    return accounts


def tell(
    session: Session,
    dossier: Dossier,
    *,
    kind: str,
    dedupe_key: str,
    params: Mapping[str, str],
    account_id: str | None = None,
) -> None:
    """Notify the event `kind` (its template file) to the dossier's readers, once per reader; `account_id` is
    who acted for the applicant when it is not the applicant (the payer, the counter applicant)."""
    for index, reader in enumerate(readers(session, dossier, account_id)):
        notify(
            session,
            account_id=reader,
            kind=kind,
            dedupe_key=dedupe_key if index == 0 else _key_for(dedupe_key, reader),
            params=params,
            link=f"/dossiers/{dossier.id}",
        )
