"""What is reported to the national portal when a dossier changes, written to the outbox with the change.

`portal.dossiers.pushes.push` (every status change and citizen action) calls `report` with the dossier's
facts; a status change (submission, reception, processing, supplement, rejection, result, apology,
hand-over, withdrawal) becomes a "TrangThai" report and a rating a "DanhGia" report. Other pushes (payments,
parcels, the agency's own steps) are not reported. The document is built now, as the dossier is after the
change: a report retried hours later still says what happened then.

A linked application (docs/LINKED.md) is reported member by member: each child is a dossier of its own procedure
and agency. The parent (the citizen's one application) is never reported, and a member waiting for another
member's result is reported only once released to its agency (`reportable`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlmodel import Session

from portal.kernel.clock import local, utcnow
from portal.kernel.outbox import enqueue
from portal.national import codes, wire
from portal.national.outbox import ReportToNational

# The pushed events that are a status change (or move the promised date, as an apology does).
STATUS_EVENTS = frozenset(
    {
        "dossier.submitted",
        "dossier.registered",
        "dossier.withdrawn",
        "dossier.received",
        "dossier.processing_started",
        "dossier.supplement_requested",
        "dossier.supplement_answered",
        "dossier.rejected",
        "dossier.result_issued",
        "dossier.apologised",
        "dossier.completed",
    }
)
RATING_EVENT = "dossier.rated"
# Reports of one dossier made for one change number (`Dossier.change_seq`) are told apart by a sub-number:
# SoThuTu = change_seq × SUB_ORDERS + n.
SUB_ORDERS = 1000
_SEQUENCES = "national_report_sequences"

_HANDOVER: dict[str, wire.Handover] = {"online": "TrucTuyen", "centre": "TaiBoPhanMotCua", "post": "BuuChinh"}
_TIMELINESS: dict[str, wire.Timeliness] = {"early": "TruocHan", "on_time": "DungHan", "late": "TreHan"}


@dataclass(frozen=True)
class DossierFacts:
    """The dossier as the reporting needs it (the dossier domain fills it: this package cannot import it)."""

    code: str
    procedure_code: str
    agency_code: str
    status: str
    change_seq: int
    channel: str  # "online" or "counter"
    postal_pickup: bool  # the paper originals are collected by post
    submitted_at: datetime | None = None
    received_at: datetime | None = None
    due_date: date | None = None
    official_due_date: date | None = None
    result_ready_at: datetime | None = None
    completed_at: datetime | None = None
    handover: str | None = None
    timeliness: str | None = None
    linked_role: str | None = None  # "parent" or "child" of a linked application, None otherwise


def instant(value: datetime | None) -> str | None:
    """ "yyyyMMddHHmmss" in Vietnam time."""
    return None if value is None else f"{local(value):%Y%m%d%H%M%S}"


def day(value: date | None) -> str | None:
    return None if value is None else f"{value:%Y%m%d}"


def channel_code(facts: DossierFacts) -> Literal[1, 2, 3]:
    if facts.channel == "counter":
        return 1
    return 3 if facts.postal_pickup else 2


def dossier_part(facts: DossierFacts, *, at: datetime, reason: str | None = None) -> wire.Dossier:
    status = codes.national_status(facts.status, received=facts.received_at is not None)
    return wire.Dossier(
        MaHoSo=facts.code,
        MaTTHC=facts.procedure_code,
        MaCoQuan=facts.agency_code,
        KenhThucHien=channel_code(facts),
        TrangThaiHoSo=status.code,
        TenTrangThaiHoSo=status.name_vi,
        ThoiDiemTrangThai=instant(at) or "",
        NgayNopHoSo=instant(facts.submitted_at),
        NgayTiepNhan=instant(facts.received_at),
        NgayHenTra=day(facts.due_date),
        NgayHenTraChinhThuc=day(facts.official_due_date),
        NgayCoKetQua=instant(facts.result_ready_at),
        NgayTra=instant(facts.completed_at),
        HinhThucTraKetQua=_HANDOVER.get(facts.handover or ""),
        KetQuaXuLy=_TIMELINESS.get(facts.timeliness or ""),
        LyDo=reason or None,
    )


def rating_part(scores: Mapping[str, int], comment: str | None) -> wire.Rating:
    items = [wire.Criterion(MaTieuChi=k, Diem=int(v)) for k, v in scores.items()]
    average = round(sum(i.Diem for i in items) / len(items), 2)
    return wire.Rating(TieuChi=items, DiemTrungBinh=average, YKien=(comment or "").strip() or None)


def next_sequence(session: Session, facts: DossierFacts) -> int:
    """The report's SoThuTu: the dossier's change number, then a count of the reports made for it in this
    transaction (each reported change follows `add_event`, which gives the dossier a new change number, and
    change numbers become visible in commit order: a later change always has a larger one)."""
    seen: dict[str, tuple[int, int]] = session.info.setdefault(_SEQUENCES, {})
    last_change, n = seen.get(facts.code, (-1, -1))
    n = n + 1 if last_change == facts.change_seq else 0
    seen[facts.code] = (facts.change_seq, n)
    return facts.change_seq * SUB_ORDERS + min(n, SUB_ORDERS - 1)


def new_report_id() -> str:
    return f"bc_{uuid.uuid4().hex}"


def reportable(facts: DossierFacts) -> bool:
    """Whether the national portal is told of the dossier: not a linked application's parent (its children are
    reported, each for its own agency), not a member still waiting for another member's result."""
    return facts.linked_role != "parent" and facts.status != codes.WAITING_STATUS


def report(
    session: Session,
    facts: DossierFacts,
    event: str,
    *,
    reason: str | None = None,
    scores: Mapping[str, int] | None = None,
    comment: str | None = None,
    at: datetime | None = None,
) -> str | None:
    """Queue the report of `event` in the caller's transaction; the report id, or None when the event is
    not one the national portal is told of (or the dossier is not reported: `reportable`)."""
    if not reportable(facts):
        return None
    if event == RATING_EVENT:
        if not scores:
            return None
        kind: wire.ReportKind = "DanhGia"
    elif event in STATUS_EVENTS:
        kind = "TrangThai"
    else:
        return None
    when = at or utcnow()
    report_id = new_report_id()
    sequence = next_sequence(session, facts)
    document: dict[str, Any] = {
        "PhienBan": wire.VERSION,
        "MaBaoCao": report_id,
        "LoaiBaoCao": kind,
        "SoThuTu": sequence,
        "SuKien": event,
        "HoSo": dossier_part(facts, at=when, reason=reason if kind == "TrangThai" else None).model_dump(mode="json"),
    }
    if kind == "DanhGia" and scores:
        document["DanhGia"] = rating_part(scores, comment).model_dump(mode="json")
    enqueue(
        session,
        ReportToNational(report_id=report_id, dossier_code=facts.code, kind=kind, sequence=sequence, document=document),
    )
    return report_id
