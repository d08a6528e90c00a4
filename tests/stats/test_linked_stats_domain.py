"""Scope and statistics of a linked application made by the dossier domain itself (B1's submission, rejection
cascade and member refunds; tests/dossiers/linked_factories.py): the receiving agency, which also handles two
members, reads its members and never the parent; a waiting member is no agency's until released and stays
hidden when the rejection of the member it waits for stops it; the statistics count each child for its own
agency, the one payment split by member lines and each refund for its agency's child."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from payments.models import Payment, Refund, RefundStatus
from portal.dossiers import lifecycle, linked, partner_reads, service
from portal.dossiers.models import Dossier
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.errors import NotFound
from portal.kernel.settings import Settings
from portal.stats import rollup
from tests.dossiers import linked_factories as lk
from tests.dossiers.linked_factories import A, B, C, D
from tests.lifecycle_factories import BACKOFFICE, OFFICER

pytestmark = pytest.mark.db


def readable(session: Session, code: str | None, agency: str) -> bool:
    assert code is not None
    try:
        partner_reads.dossier_whole(session, code, agency)
    except NotFound:
        return False
    return True


def test_reads_and_statistics_of_a_submitted_application(session: Session, settings: Settings) -> None:
    procedure = lk.linked_procedure(session)
    parent = lk.draft(session, procedure)
    payment = lk.pay(session, settings, procedure, parent)
    before = partner_reads.last_change(session)
    lk.submit(session, settings, procedure, parent)
    kids = lk.by_member(linked.children_of(session, parent))
    assert parent.agency_code == "UBXA" == kids[A].agency_code == kids[C].agency_code
    assert (kids[B].agency_code, kids[D].agency_code) == ("CAT", "SNV")

    # The receiving agency handles A and C: it reads them, never the parent; nobody reads B and D yet.
    assert readable(session, kids[A].code, "UBXA") and readable(session, kids[C].code, "UBXA")
    for agency in ("UBXA", "CAT", "SNV"):
        assert not readable(session, parent.code, agency)
    assert not readable(session, kids[B].code, "CAT") and not readable(session, kids[D].code, "SNV")
    assert not readable(session, kids[A].code, "CAT")
    feed = partner_reads.changes(session, "UBXA", after=before, changed_since=None, limit=1000)
    assert {d.code for d, _ in feed.rows} == {kids[A].code, kids[C].code}
    assert partner_reads.changes(session, "CAT", after=before, changed_since=None, limit=1000).rows == []
    whole = partner_reads.dossier_whole(session, kids[C].code or "", "UBXA")
    assert whole.procedure.code == C  # its member's files only, under that member's own component ids
    assert whole.files and {f.component_id for f in whole.files} <= {c.id for c in whole.procedure.component_list}

    lifecycle.receive(session=session, dossier=kids[C], officer=OFFICER, by=BACKOFFICE)
    service.reject(session=session, dossier=kids[A], reason="Giấy chứng sinh không hợp lệ", by=BACKOFFICE)
    for row in (parent, *kids.values()):
        session.refresh(row)
    assert (kids[B].status, kids[D].status) == ("rejected", "rejected")  # stopped while they waited
    assert partner_reads.changes(session, "CAT", after=before, changed_since=None, limit=1000).rows == []
    assert not readable(session, kids[B].code, "CAT")  # never filed with its agency
    now = utcnow()
    refunds = session.exec(select(Refund).where(col(Refund.payment_id) == payment.id)).all()
    assert sorted((r.agency_code, r.amount) for r in refunds) == [("CAT", 200_000), ("SNV", 600_000)]
    for refund in refunds:  # as the gateway settles them
        refund.status, refund.settled_at = RefundStatus.SUCCEEDED, now
        session.add(refund)
    session.flush()

    today = local_date(now)
    ids = [parent.id, *(k.id for k in kids.values())]
    found = rollup.measures(
        session, rollup.ranges_of([today - timedelta(days=1), today]), by="day", scope=[col(Dossier.id).in_(ids)]
    )
    per: dict[tuple[str, str], dict[str, int]] = {}
    for (_, agency, member), values in found.items():
        counts = per.setdefault((agency, member), dict.fromkeys(rollup.INDEX, 0))
        for name, index in rollup.INDEX.items():
            counts[name] += values[index]
    assert ("UBXA", procedure.code) not in per  # the parent: nowhere
    paid = session.get(Payment, payment.id)
    assert paid is not None and paid.amount == 823_000  # with A's one copy of the birth certificate (8 000 đ)
    assert {key: v["fees_paid"] for key, v in per.items() if v["fees_paid"]} == {
        ("UBXA", A): 8_000,
        ("CAT", B): 200_000,
        ("UBXA", C): 15_000,
        ("SNV", D): 600_000,
    }
    assert {key: v["fees_refunded"] for key, v in per.items() if v["fees_refunded"]} == {
        ("CAT", B): 200_000,
        ("SNV", D): 600_000,
    }
    assert {key: v["received"] for key, v in per.items() if v["received"]} == {("UBXA", C): 1}
    assert {key: v["rejected"] for key, v in per.items() if v["rejected"]} == {("UBXA", A): 1}  # B, D never filed
