"""The wire format of a report to the national portal (docs/NATIONAL_REPORTING.md), as pydantic models.

Field names follow the national portal's synchronisation style (MaHoSo, MaTTHC, TrangThaiHoSo,
NgayTiepNhan, NgayHenTra, ...). Instants are local time (Asia/Ho_Chi_Minh) written "yyyyMMddHHmmss", dates
"yyyyMMdd", as the national synchronisation writes them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VERSION: Literal["1"] = "1"
INSTANT = r"^\d{14}$"
DAY = r"^\d{8}$"

ReportKind = Literal["TrangThai", "DanhGia"]
Handover = Literal["TrucTuyen", "TaiBoPhanMotCua", "BuuChinh"]
Timeliness = Literal["TruocHan", "DungHan", "TreHan"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Dossier(_Wire):
    """The dossier as it is after the reported change."""

    MaHoSo: str = Field(min_length=1, max_length=40, description="The dossier's code (mã hồ sơ).")
    MaTTHC: str = Field(min_length=1, description="The procedure's code (mã thủ tục hành chính).")
    MaCoQuan: str = Field(min_length=1, description="The code of the agency that resolves the dossier.")
    KenhThucHien: Literal[1, 2, 3] = Field(
        description="1: at the counter (trực tiếp); 2: online (trực tuyến); 3: online with the paper originals "
        "collected by post (qua dịch vụ bưu chính)."
    )
    TrangThaiHoSo: str = Field(description="The national status code (portal/national/codes.py).")
    TenTrangThaiHoSo: str
    ThoiDiemTrangThai: str = Field(pattern=INSTANT, description="When the change happened.")
    NgayNopHoSo: str | None = Field(default=None, pattern=INSTANT, description="Submitted (online) or registered.")
    NgayTiepNhan: str | None = Field(default=None, pattern=INSTANT, description="Received by the agency.")
    NgayHenTra: str | None = Field(
        default=None, pattern=DAY, description="The date promised to the applicant (an apology's new date)."
    )
    NgayHenTraChinhThuc: str | None = Field(
        default=None, pattern=DAY, description="The official appointment date, against which lateness is judged."
    )
    NgayCoKetQua: str | None = Field(default=None, pattern=INSTANT, description="The result was issued.")
    NgayTra: str | None = Field(default=None, pattern=INSTANT, description="The result was handed over.")
    HinhThucTraKetQua: Handover | None = None
    KetQuaXuLy: Timeliness | None = Field(
        default=None, description="Early, on time or late against NgayHenTraChinhThuc (set at hand-over)."
    )
    LyDo: str | None = Field(default=None, description="The reason of a rejection or of an apology.")


class Criterion(_Wire):
    MaTieuChi: str
    Diem: int = Field(ge=1, le=5)


class Rating(_Wire):
    """The applicant's rating of the service (one per completed dossier)."""

    TieuChi: list[Criterion] = Field(min_length=1)
    DiemTrungBinh: float = Field(ge=1, le=5)
    YKien: str | None = None


class Report(_Wire):
    """One report: a status change (TrangThai) or a rating (DanhGia) of one dossier."""

    PhienBan: Literal["1"] = VERSION
    MaBaoCao: str = Field(description="The report's id: the same on every retry; the receiver dedupes by it.")
    LoaiBaoCao: ReportKind
    MaTinh: str = Field(pattern=r"^\d{2}$", description="The province's two-digit code.")
    MaHeThong: str = Field(min_length=1, description="The sending system's code, given by the national portal.")
    SoThuTu: int = Field(
        ge=0, description="Increasing per dossier (not consecutive): a later change has a larger number."
    )
    SuKien: str = Field(description="The portal's event (dossier.received, ...), for tracing.")
    HoSo: Dossier
    DanhGia: Rating | None = None
