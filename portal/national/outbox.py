"""The outbox payload of one report to the national portal, written in the transaction of the change."""

from __future__ import annotations

from typing import Any, ClassVar

from portal.kernel.outbox import OutboxPayload


class ReportToNational(OutboxPayload):
    """One report; `document` is the wire body without the sender's identity (MaTinh, MaHeThong), which the
    reporter adds from its options when it sends."""

    topic: ClassVar[str] = "national.report"

    report_id: str
    dossier_code: str
    kind: str  # "TrangThai" or "DanhGia"
    sequence: int
    document: dict[str, Any]
