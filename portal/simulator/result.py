"""The simulated agency's result document: a PDF in Vietnamese, signed with the agency's development
certificate (`DevPKI.issue_agency`) and a timestamp from the development TSA."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf.enums import XPos, YPos

from portal.kernel.calendar import to_local
from portal.kernel.clock import utcnow
from portal.kernel.pdfdoc import FONT, PortalPDF, drawable_text
from signing.pki import DevPKI
from signing.sign import SignResult, seal_document
from signing.signers import InMemoryKeySigner
from signing.tsa import DevTimeStamper

RESULT_REASON = "Ký ban hành kết quả giải quyết thủ tục hành chính"
RESULT_FIELD = "ChuKyCoQuan"
PROVINCE = "Tỉnh Ninh Bình"
NOTICE = (
    "Văn bản do phần mềm mô phỏng một cửa của môi trường phát triển tạo ra và ký bằng chứng thư thử nghiệm; "
    "không có giá trị pháp lý."
)


@dataclass(frozen=True)
class ResultFacts:
    """What the result document states."""

    code: str
    agency_code: str
    agency_name: str
    procedure: str
    result_name: str  # what the procedure issues ("Giấy xác nhận tình trạng hôn nhân"); "" when unknown
    applicant_name: str
    officer: str


def render_result_pdf(facts: ResultFacts, *, issued_at: datetime | None = None) -> bytes:
    """The unsigned result: national heading, title, the dossier's facts, the decision and a notice."""
    moment = issued_at or utcnow()
    local = to_local(moment)
    pdf = PortalPDF(
        title=f"Kết quả giải quyết hồ sơ {facts.code}",
        author=facts.agency_name,
        subject=facts.procedure,
        created_at=moment,
        footer_text=f"Hồ sơ {facts.code}",
    )
    _, _, below = pdf.national_heading(province_name=PROVINCE, organisation=facts.agency_name, left_width=80, size=10)
    pdf.set_y(below + 4)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(0, 6, f"Ninh Bình, ngày {local:%d} tháng {local:%m} năm {local:%Y}", align="R")
    pdf.ln(12)
    pdf.set_font(FONT, "B", 14)
    title = drawable_text(facts.result_name).upper() or "KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    pdf.multi_cell(0, 7, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 12)
    pdf.multi_cell(0, 6, drawable_text(facts.procedure), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.labelled_paragraphs(
        [
            ("Mã hồ sơ: ", facts.code),
            ("Người yêu cầu: ", drawable_text(facts.applicant_name)),
            ("Cơ quan giải quyết: ", drawable_text(facts.agency_name)),
            ("Cán bộ xử lý: ", drawable_text(facts.officer)),
            ("Kết quả: ", "Hồ sơ đủ điều kiện; cơ quan đồng ý giải quyết theo đề nghị của người yêu cầu."),
        ],
        size=11,
    )
    pdf.ln(8)
    pdf.set_font(FONT, "I", 9)
    pdf.multi_cell(0, 5, NOTICE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


class AgencySigner:
    """Signs result PDFs with one agency's development certificate; the key is parsed once and kept."""

    def __init__(self, pki: DevPKI, *, agency_code: str, agency_name: str) -> None:
        issued = pki.issue_agency(agency_name, agency_code)
        self.pki = pki
        self.serial = issued.serial
        self._signer = InMemoryKeySigner(issued.key, issued.cert, issued.chain)
        self._timestamper = DevTimeStamper(pki)

    def sign(self, pdf: bytes) -> SignResult:
        """PAdES B-LT (the agency's certificate path and CRLs embedded), with a signature timestamp."""
        return seal_document(
            pdf,
            signer=self._signer,
            timestamper=self._timestamper,
            validation_context=self.pki.validation_context(),
            field_name=RESULT_FIELD,
            reason=RESULT_REASON,
        )


_lock = threading.Lock()
_pkis: dict[tuple[Path, str], DevPKI] = {}
_signers: dict[tuple[Path, str, str, str], AgencySigner] = {}


def agency_signer(pki_folder: Path, *, base_url: str, agency_code: str, agency_name: str) -> AgencySigner:
    """The signer of one agency over the PKI in `pki_folder` (the portal's storage_dir/pki), built once."""
    folder = Path(pki_folder).resolve()
    key = (folder, base_url, agency_code, agency_name)
    with _lock:
        signer = _signers.get(key)
        if signer is None or signer.pki.is_revoked(signer.serial):
            pki = _pkis.get((folder, base_url))
            if pki is None:
                pki = _pkis[(folder, base_url)] = DevPKI.load_or_create(folder, base_url=base_url)
            signer = _signers[key] = AgencySigner(pki, agency_code=agency_code, agency_name=agency_name)
        return signer
