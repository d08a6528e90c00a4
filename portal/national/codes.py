"""Each main status's code in the national public-service portal's reporting (Cổng DVC quốc gia).

The national portal's synchronisation of dossiers (đồng bộ trạng thái hồ sơ) reports a dossier's state as
one of a fixed list of codes, whatever workflow the province's one-door software runs; OpenCPS keeps its own
statuses and maps each to that list the same way. Sub-statuses (the agency's own steps) are never reported:
they map through their main status. Documented in docs/BACKOFFICE.md and docs/NATIONAL_REPORTING.md.

The portal's statuses are written here as their stored values (`DossierStatus` lives in portal.dossiers,
above this package); tests/national/test_codes.py checks that every status but the draft has a code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NationalStatus:
    """A national reporting code with its official Vietnamese name and an English gloss."""

    code: str
    name_vi: str
    name_en: str


SUBMITTED = NationalStatus("1", "Mới đăng ký", "Newly registered")
RECEIVED = NationalStatus("2", "Được tiếp nhận", "Received")
NOT_RECEIVED = NationalStatus("3", "Không được tiếp nhận", "Not received")
IN_PROCESS = NationalStatus("4", "Đang xử lý", "Being processed")
SUPPLEMENT = NationalStatus("5", "Yêu cầu bổ sung giấy tờ", "Supplement requested")
WITHDRAWN = NationalStatus("7", "Công dân yêu cầu rút hồ sơ", "Withdrawn by the applicant")
STOPPED = NationalStatus("8", "Dừng xử lý", "Processing stopped")
DONE = NationalStatus("9", "Đã xử lý xong", "Processed (result ready)")
RETURNED = NationalStatus("10", "Đã trả kết quả", "Result handed over")

REJECTED_STATUS = "rejected"
DRAFT_STATUS = "draft"
# A member of a linked application waiting for another member's result is not yet filed with its agency: it
# has no national code and is not reported until it is released (then as a submission).
WAITING_STATUS = "waiting"

_BY_STATUS: dict[str, NationalStatus] = {
    "submitted": SUBMITTED,
    "received": RECEIVED,
    "in_process": IN_PROCESS,
    "supplement_requested": SUPPLEMENT,
    # The centre checks the agency's result before it is returned: still being processed for the applicant.
    "result_check": IN_PROCESS,
    "result_ready": DONE,
    "completed": RETURNED,
    "withdrawn": WITHDRAWN,
}


def national_status(status: str, *, received: bool) -> NationalStatus:
    """The national code of a submitted dossier's status.

    A rejection is "not received" (3) before the agency received the dossier and "processing stopped" (8)
    after: the national report counts the two apart.
    """
    if status == REJECTED_STATUS:
        return STOPPED if received else NOT_RECEIVED
    found = _BY_STATUS.get(str(status))
    if found is None:
        raise ValueError(f"no national status for {status!r}")  # a draft or a waiting member: never reported
    return found


def table() -> list[tuple[str, NationalStatus]]:
    """The mapping as (portal status, national status) rows, for the docs and their test."""
    rows = list(_BY_STATUS.items())
    rows += [("rejected (before reception)", NOT_RECEIVED), ("rejected (after reception)", STOPPED)]
    return rows
