"""Every status change and every rating of a real dossier queues one national report, in the documented
format, ordered per dossier; other pushes queue none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from portal.dossiers import lifecycle, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.dossiers.pushes import national_facts
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxMessage
from portal.national import reporting, wire
from tests import factories
from tests import lifecycle_factories as lf
from tests.national.fake_receiver import problems_of

pytestmark = pytest.mark.db
BY = "api:test-backoffice"


def reports(session: Session, dossier: Dossier) -> list[dict[str, Any]]:
    """The national reports queued for the dossier, oldest first (the documents as stored)."""
    rows = session.exec(
        select(OutboxMessage).where(col(OutboxMessage.topic) == "national.report").order_by(col(OutboxMessage.id))
    ).all()
    return [dict(m.payload["document"]) for m in rows if m.payload.get("dossier_code") == dossier.code]


def sent(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the HTTP reporter sends it (with the sender's identity), checked by the model."""
    full = {**document, "MaTinh": "37", "MaHeThong": "DVC-NB"}
    return wire.Report.model_validate(full).model_dump(mode="json")


def test_reception_is_reported_with_its_national_code_and_times(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True)
    lifecycle.receive(session=session, dossier=dossier, officer="Trần Văn Nam", by=BY)
    [report] = reports(session, dossier)
    body = sent(report)
    assert problems_of(body) == []  # the fake receiver's reading of the documented format
    assert body["LoaiBaoCao"] == "TrangThai" and body["SuKien"] == "dossier.received"
    assert body["MaBaoCao"].startswith("bc_") and body["SoThuTu"] == dossier.change_seq * reporting.SUB_ORDERS
    hoso = body["HoSo"]
    assert (hoso["MaHoSo"], hoso["MaTTHC"], hoso["MaCoQuan"]) == (
        dossier.code,
        dossier.procedure_code,
        dossier.agency_code,
    )
    assert (hoso["TrangThaiHoSo"], hoso["TenTrangThaiHoSo"]) == ("2", "Được tiếp nhận")
    assert hoso["KenhThucHien"] == 2  # online, no postal pickup
    assert dossier.received_at is not None and dossier.official_due_date is not None
    assert hoso["NgayTiepNhan"] == reporting.instant(dossier.received_at)
    assert hoso["NgayHenTraChinhThuc"] == f"{dossier.official_due_date:%Y%m%d}"
    assert hoso["NgayHenTra"] == f"{dossier.due_date:%Y%m%d}"
    assert hoso["NgayNopHoSo"] == reporting.instant(dossier.submitted_at)
    assert hoso["NgayTra"] is None and hoso["KetQuaXuLy"] is None


def test_a_dossier_s_whole_life_is_reported_in_order_and_the_rating_too(session: Session) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, submitted=True)
    lifecycle.receive(session=session, dossier=dossier, officer="Trần Văn Nam", by=BY)
    lifecycle.start_processing(session=session, dossier=dossier, by=BY)
    lifecycle.set_sub_status(session=session, dossier=dossier, code="TD", text_vi="Thẩm định", text_en="Review", by=BY)
    past = local_date(utcnow()) - timedelta(days=2)
    dossier.official_due_date = dossier.due_date = past  # late: the agency may apologise
    session.add(dossier)
    session.flush()
    new_date = local_date(utcnow()) + timedelta(days=20)
    lifecycle.apologise(session=session, dossier=dossier, reason="Chờ xác minh", new_date=new_date, by=BY)
    # The result's signed PDF is tested by the lifecycle tests: here the dossier is moved to result_ready as
    # issuing it does, and handed over.
    dossier.status, dossier.result_ready_at = DossierStatus.RESULT_READY, utcnow()
    session.add(dossier)
    session.flush()
    lifecycle.complete(session=session, dossier=dossier, handover="post", by=BY)
    lifecycle.rate(
        session=session,
        dossier=dossier,
        account=applicant,
        scores={"reception": 5, "guidance": 4, "result_correct": 5, "on_time": 3, "fees_as_announced": 5},
        comment="  Cán bộ nhiệt tình ",
    )
    docs = [sent(d) for d in reports(session, dossier)]
    assert all(problems_of(d) == [] for d in docs)
    assert [d["SuKien"] for d in docs] == [
        "dossier.received",
        "dossier.processing_started",
        "dossier.apologised",  # the sub-status is the agency's own step: never reported
        "dossier.completed",
        "dossier.rated",
    ]
    assert [d["HoSo"]["TrangThaiHoSo"] for d in docs] == ["2", "4", "4", "10", "10"]
    sequences = [d["SoThuTu"] for d in docs]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert len({d["MaBaoCao"] for d in docs}) == len(docs)
    apology, completed, rating = docs[2], docs[3], docs[4]
    assert apology["HoSo"]["LyDo"] == "Chờ xác minh" and apology["HoSo"]["NgayHenTra"] == f"{new_date:%Y%m%d}"
    assert apology["HoSo"]["NgayHenTraChinhThuc"] == f"{past:%Y%m%d}"
    assert completed["HoSo"]["HinhThucTraKetQua"] == "BuuChinh"
    assert completed["HoSo"]["KetQuaXuLy"] == "TreHan"  # against the official date, the apology's never counts
    assert completed["HoSo"]["NgayTra"] == reporting.instant(dossier.completed_at)
    assert rating["LoaiBaoCao"] == "DanhGia" and rating["HoSo"]["LyDo"] is None
    assert rating["DanhGia"] == {
        "TieuChi": [
            {"MaTieuChi": "reception", "Diem": 5},
            {"MaTieuChi": "guidance", "Diem": 4},
            {"MaTieuChi": "result_correct", "Diem": 5},
            {"MaTieuChi": "on_time", "Diem": 3},
            {"MaTieuChi": "fees_as_announced", "Diem": 5},
        ],
        "DiemTrungBinh": 4.4,
        "YKien": "Cán bộ nhiệt tình",
    }


def test_rejection_before_reception_is_not_received_and_after_is_stopped(session: Session) -> None:
    before = factories.dossier(session, submitted=True)
    service.reject(session=session, dossier=before, reason="Sai thẩm quyền", by=BY)
    after = lf.received(session)
    service.reject(session=session, dossier=after, reason="Không đủ điều kiện", by=BY)
    [b] = reports(session, before)
    [a] = reports(session, after)
    assert (b["HoSo"]["TrangThaiHoSo"], b["HoSo"]["LyDo"]) == ("3", "Sai thẩm quyền")
    assert (a["HoSo"]["TrangThaiHoSo"], a["HoSo"]["LyDo"]) == ("8", "Không đủ điều kiện")


def test_withdrawal_and_counter_channel(session: Session) -> None:
    applicant = factories.account(session)
    dossier = factories.dossier(session, applicant=applicant, submitted=True)
    service.withdraw(session=session, dossier=dossier, by=applicant)
    [w] = reports(session, dossier)
    assert w["HoSo"]["TrangThaiHoSo"] == "7"
    facts = national_facts(dossier)
    counter = reporting.DossierFacts(**{**facts.__dict__, "channel": "counter"})
    pickup = reporting.DossierFacts(**{**facts.__dict__, "postal_pickup": True})
    assert (reporting.channel_code(counter), reporting.channel_code(facts), reporting.channel_code(pickup)) == (1, 2, 3)


def test_two_reports_of_one_change_get_increasing_numbers(session: Session) -> None:
    dossier = lf.received(session)
    facts = national_facts(dossier)
    first = reporting.report(session, facts, "dossier.processing_started")
    second = reporting.report(session, facts, "dossier.apologised", reason="x")
    assert first and second and first != second
    numbers = [d["SoThuTu"] for d in reports(session, dossier)]
    assert numbers == [dossier.change_seq * reporting.SUB_ORDERS, dossier.change_seq * reporting.SUB_ORDERS + 1]


def test_pushes_that_are_no_status_change_are_not_reported(session: Session) -> None:
    dossier = lf.received(session)
    facts = national_facts(dossier)
    for event in ("dossier.paid", "dossier.refunded", "dossier.sub_status_changed", "dossier.parcel_updated"):
        assert reporting.report(session, facts, event) is None
    assert reporting.report(session, facts, "dossier.rated", scores={}) is None  # a rating without scores
    assert reports(session, dossier) == []
