"""The first SSO sign-in with a verified CCCD takes over the account made for that citizen at a counter."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from auth.models import Account, ExternalIdentity
from auth.oidc import SignedIn, account_for
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db

ISSUER = "https://sso.example.vn"
A_PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"


def signed_in(subject: str, cccd: str | None) -> SignedIn:
    claims: dict[str, object] = {"sub": subject, "name": "Nguyễn Văn Quầy"}
    if cccd:
        claims["cccd"] = cccd
    return SignedIn(issuer=ISSUER, subject=subject, level=2, acr="urn:dvc:loa:2", id_token="x", claims=claims)


def counter_account(session: Session, cccd: str, **fields: object) -> Account:
    account = Account(full_name="Nguyễn Văn Quầy", cccd=cccd, **fields)  # type: ignore[arg-type]
    session.add(account)
    session.flush()
    return account


def test_sign_in_with_the_cccd_takes_over_the_counter_account(session: Session, settings: Settings) -> None:
    made = counter_account(session, "001090000777")
    account = account_for(session, signed_in("sub-777", "001090000777"), current=None, settings=settings)
    assert account.id == made.id
    link = session.exec(select(ExternalIdentity).where(ExternalIdentity.subject == "sub-777")).one()
    assert link.account_id == made.id
    # the next sign-in goes through the link
    again = account_for(session, signed_in("sub-777", "001090000777"), current=None, settings=settings)
    assert again.id == made.id


def test_no_takeover_of_an_account_with_a_password_or_already_linked(session: Session, settings: Settings) -> None:
    with_password = counter_account(
        session, "001090000778", password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"
    )
    account = account_for(session, signed_in("sub-778", "001090000778"), current=None, settings=settings)
    assert account.id != with_password.id

    linked = counter_account(session, "001090000779")
    session.add(ExternalIdentity(account_id=linked.id, issuer=ISSUER, subject="someone-else"))
    session.flush()
    account = account_for(session, signed_in("sub-779", "001090000779"), current=None, settings=settings)
    assert account.id != linked.id


def test_no_cccd_claim_makes_a_new_account(session: Session, settings: Settings) -> None:
    made = counter_account(session, "001090000780")
    account = account_for(session, signed_in("sub-780", None), current=None, settings=settings)
    assert account.id != made.id
