"""A fake national-portal receiver: a real HTTP server (http.server in a thread) that checks each report
against docs/NATIONAL_REPORTING.md as written there, independently of portal.national's own models.

It checks the bearer token and the HMAC signature (with a timestamp tolerance), that the body is the
documented JSON with no unknown field, dedupes by MaBaoCao (a repeat is answered 200 again and stored
once), and keeps each dossier's reports by SoThuTu. A test scripts its answers (`answer(report)` → (status,
delay in seconds)): a refusal, a 500, a delay longer than the client's timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.http_server import Reply, json_reply, serve_http
from tests.http_server import Request as HttpRequest

CODES = {"1", "2", "3", "4", "5", "7", "8", "9", "10"}
INSTANT = re.compile(r"^\d{14}$")
DAY = re.compile(r"^\d{8}$")
TOLERANCE_SECONDS = 300

ENVELOPE = {"PhienBan", "MaBaoCao", "LoaiBaoCao", "MaTinh", "MaHeThong", "SoThuTu", "SuKien", "HoSo", "DanhGia"}
DOSSIER_REQUIRED = {
    "MaHoSo",
    "MaTTHC",
    "MaCoQuan",
    "KenhThucHien",
    "TrangThaiHoSo",
    "TenTrangThaiHoSo",
    "ThoiDiemTrangThai",
}
DOSSIER_INSTANTS = {"NgayNopHoSo", "NgayTiepNhan", "NgayCoKetQua", "NgayTra"}
DOSSIER_DAYS = {"NgayHenTra", "NgayHenTraChinhThuc"}
DOSSIER_OTHER = {"HinhThucTraKetQua", "KetQuaXuLy", "LyDo"}


def problems_of(report: Any) -> list[str]:
    """What the body does wrong against the documented format ([] when it is right)."""
    if not isinstance(report, dict):
        return ["the body is not a JSON object"]
    found: list[str] = [f"unknown field {k}" for k in sorted(set(report) - ENVELOPE)]
    if report.get("PhienBan") != "1":
        found.append("PhienBan must be '1'")
    if not isinstance(report.get("MaBaoCao"), str) or not report["MaBaoCao"]:
        found.append("MaBaoCao missing")
    kind = report.get("LoaiBaoCao")
    if kind not in {"TrangThai", "DanhGia"}:
        found.append("LoaiBaoCao must be TrangThai or DanhGia")
    if not re.fullmatch(r"\d{2}", str(report.get("MaTinh", ""))):
        found.append("MaTinh must be two digits")
    if not report.get("MaHeThong"):
        found.append("MaHeThong missing")
    if not isinstance(report.get("SoThuTu"), int) or isinstance(report.get("SoThuTu"), bool) or report["SoThuTu"] < 0:
        found.append("SoThuTu must be a whole number ≥ 0")
    if not str(report.get("SuKien", "")).startswith("dossier."):
        found.append("SuKien must name the portal event")
    dossier = report.get("HoSo")
    if not isinstance(dossier, dict):
        return [*found, "HoSo missing"]
    allowed = DOSSIER_REQUIRED | DOSSIER_INSTANTS | DOSSIER_DAYS | DOSSIER_OTHER
    found += [f"unknown field HoSo.{k}" for k in sorted(set(dossier) - allowed)]
    found += [f"HoSo.{k} missing" for k in sorted(DOSSIER_REQUIRED - set(dossier))]
    if dossier.get("TrangThaiHoSo") not in CODES:
        found.append(f"HoSo.TrangThaiHoSo {dossier.get('TrangThaiHoSo')!r} is not a national code")
    if dossier.get("KenhThucHien") not in (1, 2, 3):
        found.append("HoSo.KenhThucHien must be 1, 2 or 3")
    for name in DOSSIER_INSTANTS | {"ThoiDiemTrangThai"}:
        value = dossier.get(name)
        if value is not None and not INSTANT.match(str(value)):
            found.append(f"HoSo.{name} must be yyyyMMddHHmmss")
    for name in DOSSIER_DAYS:
        value = dossier.get(name)
        if value is not None and not DAY.match(str(value)):
            found.append(f"HoSo.{name} must be yyyyMMdd")
    if dossier.get("HinhThucTraKetQua") not in (None, "TrucTuyen", "TaiBoPhanMotCua", "BuuChinh"):
        found.append("HoSo.HinhThucTraKetQua unknown")
    if dossier.get("KetQuaXuLy") not in (None, "TruocHan", "DungHan", "TreHan"):
        found.append("HoSo.KetQuaXuLy unknown")
    rating = report.get("DanhGia")
    if kind == "DanhGia":
        if not isinstance(rating, dict) or not rating.get("TieuChi"):
            found.append("DanhGia with its TieuChi is required in a DanhGia report")
        else:
            found += [f"unknown field DanhGia.{k}" for k in sorted(set(rating) - {"TieuChi", "DiemTrungBinh", "YKien"})]
            scores = [c.get("Diem") for c in rating["TieuChi"]]
            if any(not isinstance(s, int) or not 1 <= s <= 5 for s in scores):
                found.append("DanhGia.TieuChi[].Diem must be 1 to 5")
            elif abs(float(rating.get("DiemTrungBinh", 0)) - sum(scores) / len(scores)) > 0.01:
                found.append("DanhGia.DiemTrungBinh is not the average")
    elif rating is not None:
        found.append("DanhGia only in a DanhGia report")
    return found


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    status: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class FakeReceiver:
    """Accepts documented, authenticated reports; `answer(report)` may script another status or a delay."""

    token: str = ""
    hmac_secret: str = ""
    answer: Callable[[dict[str, Any]], tuple[int, float]] = lambda report: (200, 0.0)
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by MaBaoCao, once each
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def reports_of(self, dossier_code: str) -> list[dict[str, Any]]:
        """The accepted reports of one dossier, in SoThuTu order."""
        with self.lock:
            rows = [r for r in self.accepted.values() if r["HoSo"]["MaHoSo"] == dossier_code]
        return sorted(rows, key=lambda r: r["SoThuTu"])

    def current(self, dossier_code: str) -> dict[str, Any]:
        """The dossier's latest state as the receiver applies it: the status report with the largest SoThuTu."""
        return [r for r in self.reports_of(dossier_code) if r["LoaiBaoCao"] == "TrangThai"][-1]["HoSo"]

    def authenticate(self, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is authentic, else why not."""
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return "bad bearer token"
        if self.hmac_secret:
            try:
                timestamp = int(headers.get("x-dvc-timestamp", ""))
            except ValueError:
                return "no timestamp"
            if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
                return "timestamp too old"
            report_id = headers.get("idempotency-key", "")
            content = f"{timestamp}.{report_id}.".encode() + body
            expected = "v1=" + hmac.new(self.hmac_secret.encode(), content, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, headers.get("x-dvc-signature", "")):
                return "bad signature"
        return None

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], float]:
        got = Request(headers, body)
        with self.lock:
            self.requests.append(got)
        denied = self.authenticate(headers, body)
        if denied:
            got.status = 401
            return 401, {"Loi": denied}, 0.0
        if not headers.get("content-type", "").startswith("application/json"):
            got.status = 415
            return 415, {"Loi": "JSON only"}, 0.0
        try:
            report = json.loads(body.decode("utf-8"))
        except ValueError:
            report = None
        got.problems = problems_of(report)
        if not got.problems and headers.get("idempotency-key") != report["MaBaoCao"]:
            got.problems = ["Idempotency-Key is not MaBaoCao"]
        if got.problems:
            got.status = 400
            return 400, {"Loi": got.problems}, 0.0
        status, delay = self.answer(report)
        got.status = status
        if 200 <= status < 300:
            with self.lock:
                repeat = report["MaBaoCao"] in self.accepted
                self.accepted.setdefault(report["MaBaoCao"], report)
            return status, {"MaTiepNhan": "tn-" + report["MaBaoCao"][-8:], "TrungLap": repeat}, delay
        return status, {"Loi": f"scripted {status}"}, delay


@contextmanager
def serve(receiver: FakeReceiver) -> Iterator[FakeReceiver]:
    def handle(request: HttpRequest) -> Reply:
        status, answer, delay = receiver.handle(request.headers, request.body)
        if delay:
            time.sleep(delay)
        return json_reply(status, answer)

    with serve_http(handle) as url:
        receiver.url = f"{url}/api/dongbo/hoso"
        yield receiver
