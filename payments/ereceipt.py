"""The e-receipt of a fee payment ("Biên lai thu phí, lệ phí" điện tử) as an A4 PDF.

What it shows follows the content of a receipt (Nghị định 123/2020/NĐ-CP, Điều 32, as amended): the kind
of receipt, its template code (mẫu số), symbol (ký hiệu) and number (số), the collecting organisation, the
payer, each fee or charge with its amount, the total in figures and in words, the date, and the collector's
digital signature, here the agency's seal (signing.seal). The PDF is Vietnamese only: it is the document
issued by a Vietnamese agency, so its fixed texts have no msgids.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import segno
from fpdf import FontFace
from fpdf.enums import XPos, YPos
from sqlmodel import Session

from payments import queries, service
from payments.amounts import amount_in_words_vi
from payments.fees import FeeBreakdown, agency_shares
from payments.models import Payment, PaymentStatus, RefundStatus
from portal.kernel.calendar import to_local
from portal.kernel.clock import as_utc
from portal.kernel.money import format_vnd
from portal.kernel.pdfdoc import FONT, Margins, PortalPDF, clean_text, place_name
from portal.kernel.settings import Settings
from signing.seal import seal_or_pass

__all__ = [
    "REFUND_NOTICE_TITLE",
    "SEAL_BOX",
    "TEMPLATE_CODE",
    "TITLE",
    "EReceiptData",
    "EReceiptLine",
    "ReceiptPart",
    "RefundNoticeData",
    "RefundNoticeLine",
    "receipt_lines",
    "receipt_parts",
    "refund_notice_data",
    "refund_notice_pdf",
    "render_e_receipt_pdf",
    "render_refund_notice_pdf",
    "seal_issued",
]

TITLE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
TEMPLATE_CODE = "01BLP0-001"  # mẫu số: 01 = fees without a printed face value, BLP, 0 = electronic, template 001
ONLINE_PAYMENT = "Thanh toán trực tuyến"
_SUBTITLE = "(Bản thể hiện của biên lai điện tử)"
_COLLECTOR_TITLE = "NGƯỜI THU TIỀN"
_COLLECTOR_HINT = "(Chữ ký số của đơn vị thu)"

_PT_PER_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210.0, 297.0  # A4, mm
_MARGINS = Margins()
_LEFT, _RIGHT = _MARGINS.left, _MARGINS.right
_LINE = 6.0
_TEXT_SIZE = 11.0
_QR_SIZE = 30.0
_QR_SCALE = 8  # image pixels per module: sharp at print resolution

SEAL_BOX: tuple[float, float, float, float] = (301.0, 85.0, 521.0, 155.0)
"""Kept free for the visible seal on the last page: (x1, y1, x2, y2) in points from the bottom-left.

220 × 70 pt under "NGƯỜI THU TIỀN" in the right-hand column, as signing.application_pdf.SIGNATURE_BOX;
nothing is drawn in it: seal_issued puts the portal's visible seal there.
"""

# The closing block sits at a fixed place on the last page, derived from SEAL_BOX so the two cannot drift apart.
_SEAL_CENTRE = (SEAL_BOX[0] + SEAL_BOX[2]) / 2 / _PT_PER_MM  # mm from the left
_SEAL_COL_W = 2 * (_PAGE_W - _RIGHT - _SEAL_CENTRE)
_SEAL_COL_X = _SEAL_CENTRE - _SEAL_COL_W / 2
_BOX_TOP = _PAGE_H - SEAL_BOX[3] / _PT_PER_MM  # mm from the top
_BOX_CLEARANCE = 2.5


@dataclass(frozen=True)
class EReceiptLine:
    """One fee or charge on the receipt, or a reduction (then the đồng it takes off, printed negative)."""

    name: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class EReceiptData:
    """Everything printed on an e-receipt; texts are Vietnamese and may come from citizens (they are cleaned)."""

    receipt_number: str  # số, e.g. "0000123"
    receipt_symbol: str  # ký hiệu, e.g. "CAT-26E"
    issued_at: datetime  # aware; printed in Vietnam time
    collector_name: str  # the organisation collecting the fee
    collector_address: str
    province_name: str
    payer_name: str
    payer_id_number: str | None  # CCCD or tax code
    payer_address: str | None
    dossier_code: str | None
    procedure_name: str
    lines: tuple[EReceiptLine, ...]
    reductions: tuple[EReceiptLine, ...]
    total: int
    gateway_name: str
    gateway_ref: str | None  # the gateway's or bank's transaction number
    payment_reference: str  # the portal's
    lookup_url: str | None
    refunded: int = 0
    template_code: str = TEMPLATE_CODE
    collector_tax_code: str | None = None
    payment_method: str = ONLINE_PAYMENT
    # One payment for several agencies (a linked application): each agency issues its own receipt for its
    # own fees; this says which payment it was, its whole amount and the other receipts made from it.
    shared_payment: str | None = None

    def __post_init__(self) -> None:
        to_local(self.issued_at)  # refuses a naive datetime
        if not self.lines:
            raise ValueError("an e-receipt has at least one fee line")
        for line in (*self.lines, *self.reductions):
            if isinstance(line.amount, bool) or not isinstance(line.amount, int) or line.amount < 0:
                raise ValueError(f"an amount is a whole, non-negative number of đồng, not {line.amount!r}")
        expected = max(sum(line.amount for line in self.lines) - sum(r.amount for r in self.reductions), 0)
        if self.total != expected:
            raise ValueError(f"the total {self.total} is not the lines less the reductions ({expected})")
        if not 0 <= self.refunded <= self.total:
            raise ValueError(f"the refunded amount {self.refunded} is not between 0 and the total {self.total}")


def receipt_lines(breakdown: FeeBreakdown) -> tuple[tuple[EReceiptLine, ...], tuple[EReceiptLine, ...]]:
    """The fee lines and the reductions of a bill, as printed on its receipt."""
    lines = tuple(EReceiptLine(line.name_vi, line.amount) for line in breakdown.lines)
    reductions = tuple(
        EReceiptLine(f"{reduction.name_vi} ({reduction.percent}%)", amount)
        for reduction, amount in breakdown.reductions
    )
    return lines, reductions


@dataclass(frozen=True)
class ReceiptPart:
    """What one agency's e-receipt of a payment lists: that agency's lines and reductions, and their total."""

    agency_code: str
    lines: tuple[EReceiptLine, ...]
    reductions: tuple[EReceiptLine, ...]
    total: int


def receipt_parts(payment: Payment) -> list[ReceiptPart]:
    """A payment's lines grouped by the agency that collects them, one part per e-receipt to issue.

    A payment for one agency is one part: all its lines and reductions, its amount. A payment for several
    (a linked application: each line names its agency, a line without one is the payment's agency's) is
    one part per agency, in the order of `service.receipt_agencies`, reductions on the payment's agency's
    part; each part's total is that agency's share (`fees.agency_shares`), so the parts add up to the amount.
    """
    shares = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
    reductions = tuple(EReceiptLine(f"{r['name_vi']} ({r['percent']}%)", int(r["amount"])) for r in payment.reductions)
    if len(shares) == 1:
        lines = tuple(EReceiptLine(line["name_vi"], int(line["amount"])) for line in payment.lines)
        return [ReceiptPart(next(iter(shares)), lines, reductions, payment.amount)]
    parts = []
    for agency in service.receipt_agencies(payment):
        own = tuple(
            EReceiptLine(line["name_vi"], int(line["amount"]))
            for line in payment.lines
            if (line.get("agency_code") or payment.agency_code) == agency
        )
        parts.append(ReceiptPart(agency, own, reductions if agency == payment.agency_code else (), shares[agency]))
    return parts


def _new_pdf(data: EReceiptData) -> PortalPDF:
    """An A4 document with the portal's fonts, fixed metadata (same data, same bytes) and a footer."""
    symbol, number = clean_text(data.receipt_symbol), clean_text(data.receipt_number)
    return PortalPDF(
        title=f"Biên lai thu phí, lệ phí - Ký hiệu {symbol} - Số {number}",
        author=clean_text(data.collector_name),
        subject=clean_text(data.procedure_name),
        created_at=data.issued_at,
        footer_text=f"Biên lai điện tử · Ký hiệu: {symbol} · Số: {number}",
        margins=_MARGINS,
    )


def _header(pdf: PortalPDF, data: EReceiptData) -> None:
    """Collecting organisation (left), national title and motto (right)."""
    _, _, bottom = pdf.national_heading(
        province_name=data.province_name, organisation=data.collector_name, left_width=80.0, size=10.5
    )
    pdf.set_xy(pdf.l_margin, bottom + 6)


def _title(pdf: PortalPDF, data: EReceiptData) -> None:
    """Kind of receipt, then its template code, symbol and number."""
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 8, TITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(0, 5.5, _SUBTITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", _TEXT_SIZE)
    codes = (
        f"Mẫu số: {clean_text(data.template_code)}   Ký hiệu: {clean_text(data.receipt_symbol)}   "
        f"Số: {clean_text(data.receipt_number)}"
    )
    pdf.multi_cell(0, _LINE, codes, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _fields(pdf: PortalPDF, rows: list[tuple[str, str]]) -> None:
    """ "Label: value" paragraphs, the value in bold; long values wrap and flow onto new pages."""
    pdf.labelled_paragraphs([(f"{label} ", value) for label, value in rows], size=_TEXT_SIZE)
    pdf.set_xy(pdf.l_margin, pdf.get_y() + 1.5)


def _present(rows: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """The rows whose value, cleaned, is not empty."""
    cleaned = [(label, clean_text(value)) for label, value in rows]
    return [(label, value) for label, value in cleaned if value]


def _parties(pdf: PortalPDF, data: EReceiptData) -> None:
    """Who collects, who pays, and for what."""
    _fields(
        pdf,
        _present(
            [
                ("Đơn vị thu phí, lệ phí:", data.collector_name),
                ("Mã số thuế:", data.collector_tax_code),
                ("Địa chỉ:", data.collector_address),
            ]
        ),
    )
    _fields(
        pdf,
        _present(
            [
                ("Họ tên người nộp:", data.payer_name),
                ("Số CCCD/Mã số thuế:", data.payer_id_number),
                ("Địa chỉ:", data.payer_address),
                ("Mã hồ sơ:", data.dossier_code),
                ("Thủ tục hành chính:", data.procedure_name),
            ]
        ),
    )


def _amounts(pdf: PortalPDF, data: EReceiptData) -> None:
    """The table of fees and reductions with the total, then the total in words."""
    pdf.set_font(FONT, "", 10.5)
    widths = (12.0, pdf.epw - 12.0 - 42.0, 42.0)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(col_widths=widths, line_height=5.5, padding=1.5, text_align="LEFT", headings_style=bold) as table:
        heading = table.row()
        for text in ("STT", "Tên loại phí, lệ phí", "Số tiền"):
            heading.cell(text, align="C")
        for number, line in enumerate(data.lines, start=1):
            row = table.row()
            row.cell(str(number), align="C")
            row.cell(clean_text(line.name))
            row.cell(format_vnd(line.amount), align="R")
        for reduction in data.reductions:
            row = table.row()
            row.cell("")
            row.cell(f"Miễn, giảm: {clean_text(reduction.name)}")
            row.cell(format_vnd(-reduction.amount), align="R")
        total = table.row(style=bold)
        total.cell("Tổng cộng", colspan=2, align="R")
        total.cell(format_vnd(data.total), align="R")
    pdf.ln(2)
    rows = [
        ("Tổng số tiền bằng số:", format_vnd(data.total)),
        ("Số tiền bằng chữ:", amount_in_words_vi(data.total)),
    ]
    if data.refunded:
        rows.append(("Đã hoàn trả:", f"{format_vnd(data.refunded)} ({amount_in_words_vi(data.refunded)})"))
    _fields(pdf, rows)


def _payment(pdf: PortalPDF, data: EReceiptData) -> None:
    """How and when it was paid."""
    local = to_local(data.issued_at)
    method = clean_text(data.payment_method)
    gateway = clean_text(data.gateway_name)
    _fields(
        pdf,
        _present(
            [
                ("Hình thức thanh toán:", f"{method} ({gateway})" if gateway else method),
                ("Mã thanh toán:", data.payment_reference),
                ("Mã giao dịch của cổng thanh toán:", data.gateway_ref),
                ("Thanh toán chung:", data.shared_payment),
                ("Thời điểm lập biên lai:", f"{local:%H:%M}, ngày {local:%d/%m/%Y}"),
                ("Tra cứu biên lai tại:", data.lookup_url),
            ]
        ),
    )


def _qr_png(url: str) -> io.BytesIO:
    """The QR code of ``url`` (error level M, quiet zone of 4 modules) as a black-and-white PNG."""
    out = io.BytesIO()
    segno.make_qr(url, error="m", boost_error=False).save(out, kind="png", scale=_QR_SCALE, border=4)
    out.seek(0)
    return out


def _closing(pdf: PortalPDF, data: EReceiptData | RefundNoticeData) -> None:
    """At their fixed place on the last page: the lookup QR code (left); place and date, "NGƯỜI THU TIỀN" and
    the empty seal area (right)."""
    local = to_local(data.issued_at if isinstance(data, EReceiptData) else data.notice_at)
    place = place_name(data.province_name) or "......"
    date_line = f"{place}, ngày {local:%d} tháng {local:%m} năm {local:%Y}"
    pdf.set_font(FONT, "I", _TEXT_SIZE)
    lines = pdf.multi_cell(_SEAL_COL_W, _LINE, date_line, align="C", dry_run=True, output="LINES")
    assert isinstance(lines, list)
    hint_h, title_h = 5.0, 6.0
    top = _BOX_TOP - _BOX_CLEARANCE - hint_h - title_h - _LINE * len(lines)
    if pdf.get_y() > top - 2:
        pdf.add_page()
    pdf.set_auto_page_break(auto=False)  # placed absolutely, above the seal area
    pdf.set_xy(_SEAL_COL_X, top)
    pdf.multi_cell(_SEAL_COL_W, _LINE, date_line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", _TEXT_SIZE)
    pdf.cell(_SEAL_COL_W, title_h, _COLLECTOR_TITLE, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(_SEAL_COL_W, hint_h, _COLLECTOR_HINT, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    url = clean_text(data.lookup_url)
    if url:
        qr_x = _LEFT + (_SEAL_COL_X - _LEFT - _QR_SIZE) / 2
        pdf.image(_qr_png(url), x=qr_x, y=top + 2, w=_QR_SIZE, h=_QR_SIZE, link=url)
        pdf.set_xy(_LEFT, top + 2 + _QR_SIZE + 1)
        pdf.set_font(FONT, "I", 9)
        pdf.cell(_SEAL_COL_X - _LEFT, 4.5, "Quét mã QR để tra cứu biên lai", align="C")


def render_e_receipt_pdf(data: EReceiptData) -> bytes:
    """Render the e-receipt as an A4 PDF, SEAL_BOX on the last page left empty for the seal."""
    pdf = _new_pdf(data)
    _header(pdf, data)
    _title(pdf, data)
    _parties(pdf, data)
    _amounts(pdf, data)
    _payment(pdf, data)
    _closing(pdf, data)
    return bytes(pdf.output())


def seal_issued(pdf: bytes, settings: Settings) -> bytes:
    """An e-receipt or refund notice with the portal's visible seal in SEAL_BOX on its last page."""
    return seal_or_pass(pdf, settings, box=SEAL_BOX, page=-1)


# -- Refunds after the receipt was issued --------------------------------------------------------------------
#
# An issued e-receipt is never changed: its number was booked, its seal covers its bytes and /verify knows it by
# its SHA-256. Money given back later is stated in a separate sealed notice that names the receipt (its
# template code, symbol and number), lists each refund with its date and amount, and the amount kept; the
# citizen downloads it beside the receipt and the accountant files it with the refund.

REFUND_NOTICE_TITLE = "THÔNG BÁO HOÀN TRẢ PHÍ, LỆ PHÍ"
_REFUND_REASONS = {
    "rejected": "Hồ sơ bị từ chối",
    "withdrawn": "Người nộp rút hồ sơ",
    "duplicate": "Thanh toán trùng",
    "agency": "Cơ quan thu hoàn trả",
    "delivery_changed": "Người nộp thay đổi hình thức nhận kết quả, cước giảm",
}
_REFUND_NOTE = (
    "Biên lai điện tử nêu trên giữ nguyên nội dung đã lập. Thông báo này ghi nhận các khoản phí, lệ phí đã "
    "hoàn trả cho người nộp sau khi lập biên lai."
)


@dataclass(frozen=True)
class RefundNoticeLine:
    """One refund paid back: when, why, how much, and the gateway's transaction number."""

    refunded_at: datetime  # aware
    reason: str  # Vietnamese
    amount: int
    gateway_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class RefundNoticeData:
    """What the refund notice of one e-receipt prints; the notice is dated by its latest refund."""

    receipt_number: str
    receipt_symbol: str
    receipt_issued_at: datetime
    receipt_total: int
    collector_name: str
    collector_address: str
    province_name: str
    payer_name: str
    payer_id_number: str | None
    dossier_code: str | None
    procedure_name: str
    refunds: tuple[RefundNoticeLine, ...]
    lookup_url: str | None
    template_code: str = TEMPLATE_CODE

    def __post_init__(self) -> None:
        to_local(self.receipt_issued_at)
        if not self.refunds:
            raise ValueError("a refund notice lists at least one refund")
        for line in self.refunds:
            to_local(line.refunded_at)
            if isinstance(line.amount, bool) or not isinstance(line.amount, int) or line.amount <= 0:
                raise ValueError(f"a refund is a positive whole number of đồng, not {line.amount!r}")
        if self.refunded > self.receipt_total:
            raise ValueError(f"{self.refunded} refunded is more than the receipt's {self.receipt_total}")

    @property
    def refunded(self) -> int:
        return sum(line.amount for line in self.refunds)

    @property
    def notice_at(self) -> datetime:
        return max(line.refunded_at for line in self.refunds)


def render_refund_notice_pdf(data: RefundNoticeData) -> bytes:
    """The refund notice of an e-receipt as an A4 PDF, SEAL_BOX on the last page left empty for the seal."""
    symbol, number = clean_text(data.receipt_symbol), clean_text(data.receipt_number)
    pdf = PortalPDF(
        title=f"Thông báo hoàn trả phí, lệ phí - Biên lai ký hiệu {symbol} - Số {number}",
        author=clean_text(data.collector_name),
        subject=clean_text(data.procedure_name),
        created_at=data.notice_at,
        footer_text=f"Thông báo hoàn trả · Biên lai ký hiệu: {symbol} · Số: {number}",
        margins=_MARGINS,
    )
    _, _, bottom = pdf.national_heading(
        province_name=data.province_name, organisation=data.collector_name, left_width=80.0, size=10.5
    )
    pdf.set_xy(pdf.l_margin, bottom + 6)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 8, REFUND_NOTICE_TITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(0, 5.5, "(Kèm theo biên lai điện tử đã lập)", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    issued = to_local(data.receipt_issued_at)
    _fields(
        pdf,
        _present(
            [
                ("Đơn vị thu phí, lệ phí:", data.collector_name),
                ("Địa chỉ:", data.collector_address),
                ("Họ tên người nộp:", data.payer_name),
                ("Số CCCD/Mã số thuế:", data.payer_id_number),
                ("Mã hồ sơ:", data.dossier_code),
                ("Thủ tục hành chính:", data.procedure_name),
                (
                    "Biên lai điện tử:",
                    f"Mẫu số {clean_text(data.template_code)}, ký hiệu {symbol}, số {number}, "
                    f"lập lúc {issued:%H:%M} ngày {issued:%d/%m/%Y}",
                ),
                ("Số tiền đã thu theo biên lai:", format_vnd(data.receipt_total)),
            ]
        ),
    )
    pdf.set_font(FONT, "", 10.5)
    widths = (12.0, 40.0, pdf.epw - 12.0 - 40.0 - 42.0, 42.0)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(col_widths=widths, line_height=5.5, padding=1.5, text_align="LEFT", headings_style=bold) as table:
        heading = table.row()
        for text in ("STT", "Ngày hoàn trả", "Lý do", "Số tiền hoàn trả"):
            heading.cell(text, align="C")
        for index, line in enumerate(data.refunds, start=1):
            at = to_local(line.refunded_at)
            reason = clean_text(line.reason)
            if line.gateway_ref:
                reason = f"{reason} (mã giao dịch {clean_text(line.gateway_ref)})"
            row = table.row()
            row.cell(str(index), align="C")
            row.cell(f"{at:%d/%m/%Y %H:%M}", align="C")
            row.cell(reason)
            row.cell(format_vnd(line.amount), align="R")
        total = table.row(style=bold)
        total.cell("Tổng số tiền đã hoàn trả", colspan=3, align="R")
        total.cell(format_vnd(data.refunded), align="R")
    pdf.ln(2)
    kept = data.receipt_total - data.refunded
    _fields(
        pdf,
        [
            ("Số tiền đã hoàn trả bằng chữ:", amount_in_words_vi(data.refunded)),
            ("Số tiền đơn vị thu còn giữ lại:", f"{format_vnd(kept)} ({amount_in_words_vi(kept)})"),
        ],
    )
    pdf.set_font(FONT, "I", 10)
    pdf.multi_cell(0, 5.5, _REFUND_NOTE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _closing(pdf, data)
    return bytes(pdf.output())


def refund_notice_data(
    session: Session, payment: Payment, settings: Settings, *, agency_code: str | None = None
) -> RefundNoticeData | None:
    """The refund notice of a payment's e-receipt: its refunds paid back so far (None while there is none).

    A payment for several agencies has one receipt per agency, so one notice per agency: `agency_code` picks
    the receipt (None: the payment's first), and the notice lists the refunds of that agency's fees only.
    """
    if payment.status != PaymentStatus.SUCCEEDED or not payment.receipt_number or payment.settled_at is None:
        return None
    receipts = queries.agency_receipts(session, payment)
    receipt = next((r for r in receipts if r.agency_code == agency_code), None) if agency_code else receipts[0]
    if receipt is None:
        return None
    several = len(receipts) > 1
    done = sorted(
        (as_utc(r.settled_at), r.id, r)
        for r in queries.refunds_of(session, [payment])
        if r.status == RefundStatus.SUCCEEDED
        and r.settled_at is not None
        and r.amount > 0
        and (not several or (r.agency_code or payment.agency_code) == receipt.agency_code)
    )
    if not done:
        return None
    info = service.describe_order(session, payment)
    part = info.part(receipt.agency_code)
    total = next((p.total for p in receipt_parts(payment) if p.agency_code == receipt.agency_code), payment.amount)
    return RefundNoticeData(
        receipt_number=receipt.number,
        receipt_symbol=receipt.symbol,
        receipt_issued_at=as_utc(payment.settled_at),
        receipt_total=total if several else payment.amount,
        collector_name=part.collector_name,
        collector_address=part.collector_address,
        province_name=settings.province_name,
        payer_name=info.payer_name,
        payer_id_number=info.payer_id_number,
        dossier_code=part.code,
        procedure_name=part.title,
        refunds=tuple(
            RefundNoticeLine(
                refunded_at=settled_at,
                reason=_REFUND_REASONS.get(refund.reason, refund.reason),
                amount=refund.amount,
                gateway_ref=refund.gateway_ref,
            )
            for settled_at, _, refund in done
        ),
        lookup_url=f"{settings.base_url.rstrip('/')}/lookup?code={info.code}" if info.code else None,
    )


def refund_notice_pdf(
    session: Session, payment: Payment, settings: Settings, *, agency_code: str | None = None
) -> bytes | None:
    """The sealed refund notice of a payment's e-receipt, made now; None while nothing was paid back."""
    data = refund_notice_data(session, payment, settings, agency_code=agency_code)
    return None if data is None else seal_issued(render_refund_notice_pdf(data), settings)
