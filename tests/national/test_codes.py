"""The national status codes live below the dossier domain; the partner API shows the same ones."""

from __future__ import annotations

import pytest

from portal.api import national as api_national
from portal.dossiers.models import DossierStatus
from portal.national import codes


def test_every_status_but_the_draft_and_a_waiting_member_has_a_national_code() -> None:
    for status in DossierStatus:
        if status in (DossierStatus.DRAFT, DossierStatus.WAITING):  # never reported (a waiting member: until released)
            with pytest.raises(ValueError, match=status.value):
                codes.national_status(status, received=False)
            continue
        assert codes.national_status(status, received=True).code in {"1", "2", "4", "5", "7", "8", "9", "10"}
        assert codes.national_status(str(status.value), received=False).code


def test_a_rejection_counts_apart_before_and_after_reception() -> None:
    assert codes.national_status(DossierStatus.REJECTED, received=False) == codes.NOT_RECEIVED
    assert codes.national_status(DossierStatus.REJECTED, received=True) == codes.STOPPED
    assert (codes.NOT_RECEIVED.code, codes.STOPPED.code) == ("3", "8")


def test_the_partner_api_re_exports_the_same_mapping() -> None:
    assert api_national.national_status is codes.national_status
    assert api_national.NationalStatus is codes.NationalStatus
    assert api_national.RETURNED is codes.RETURNED
    portal_statuses = {row for row, _ in codes.table()}
    assert {s.value for s in DossierStatus} - {"draft", "waiting", "rejected"} <= portal_statuses
